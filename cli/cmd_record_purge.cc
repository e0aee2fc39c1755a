// ehr record purge ID --reason R --yes: remove a record's content for good.
#include "commands.h"
#include "ehr/records.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct RecordPurgeOptions {
  std::string ref;
  std::string reason;
  bool yes = false;
};

int run_record_purge(Context& ctx, const RecordPurgeOptions& o) {
  if (!o.yes)
    return ctx.fail(Error::invalid_argument(
        "purge removes every version's content for good; add --yes to confirm (or use record retract)"));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto key = resolve_record_ref(*session, o.ref);
  if (!key.ok()) return ctx.fail(key.error());
  Status s = purge_resource(*session, key->first, key->second, o.reason);
  if (!s.ok()) return ctx.fail(s.error());
  ctx.info(key->first + "/" + key->second + " is purged; a tombstone remains for export and audit");
  return 0;
}

}  // namespace

void setup_record_purge(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<RecordPurgeOptions>();
  cmd.add_option("RECORD", o->ref, "Type/id, or an id")->required();
  cmd.add_option("--reason", o->reason, "why (required)")->required()->type_name("TEXT");
  cmd.add_flag("--yes", o->yes, "confirm: the content cannot be recovered");
  cmd.footer(
      "Needs the purge permission. History keeps who purged what and why, not the content.\n\n"
      "Examples:\n"
      "  ehr record purge DocumentReference/77aa... --reason 'uploaded the wrong file' --yes");
  run = [o](Context& ctx) { return run_record_purge(ctx, *o); };
}

}  // namespace ehr::cli
