// ehr audit checkpoint: a signed statement of the audit trail's head.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/audit.h"
#include "ehr/files.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct CheckpointOptions {
  std::string signing_key;
  std::string output;
};

int run_audit_checkpoint(Context& ctx, const CheckpointOptions& o) {
  auto seed = secret_from_key_file(o.signing_key);
  if (!seed.ok()) return ctx.fail(seed.error());
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto c = make_checkpoint(*session, *seed);
  if (!c.ok()) return ctx.fail(c.error());
  if (o.output.empty() || o.output == "-") {
    ctx.out() << c->line() << '\n' << std::flush;
  } else {
    Status s = append_line(o.output, c->line());
    if (!s.ok()) return ctx.fail(s.error());
    ctx.info(fmt::format("checkpoint of entry {} appended to {}", c->seq, o.output));
  }
  return 0;
}

}  // namespace

void setup_audit_checkpoint(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<CheckpointOptions>();
  cmd.add_option("--signing-key", o->signing_key,
                 "the Ed25519 signing key: a key file made with 'ehr key new', kept apart from the "
                 "database and its keys")
      ->required()
      ->type_name("FILE");
  cmd.add_option("-o,--output", o->output, "append the checkpoint line to FILE (0600) instead of stdout")
      ->type_name("FILE");
  cmd.footer(
      "Appends an audit-checkpoint entry to the trail, then prints one line signed with the\n"
      "signing key:\n"
      "  ehr-audit-checkpoint v1 trail=T seq=N head=H time=I key=K sig=S\n"
      "(trail: the database's audit trail id; seq and head: the last entry and its chain hash;\n"
      "key: the public key). Keep the lines away from the database (syslog, another host,\n"
      "write-once storage): `ehr audit verify --checkpoint FILE` then shows a trail that was\n"
      "truncated or rewritten since. Needs the audit-read permission.\n\n"
      "Examples:\n"
      "  ehr audit checkpoint --signing-key /etc/ehr/audit-signing.key -o /var/log/ehr-checkpoints\n"
      "  ehr key new -o /etc/ehr/audit-signing.key   # once: the signing key\n"
      "  # crontab: every hour, to syslog\n"
      "  0 * * * * ehr -q --db /srv/ehr/clinic.ehr --user audit --key-file /etc/ehr/audit.key audit \\\n"
      "      checkpoint --signing-key /etc/ehr/audit-signing.key | logger -t ehr-audit");
  run = [o](Context& ctx) { return run_audit_checkpoint(ctx, *o); };
}

}  // namespace ehr::cli
