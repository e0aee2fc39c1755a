// ehr audit verify: recompute the audit chain and check checkpoints.
#include <fmt/format.h>

#include "commands.h"
#include "exit_codes.h"
#include "ehr/audit.h"
#include "json_input.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct VerifyOptions {
  std::vector<std::string> checkpoints;
  std::string signer;
};

// Every checkpoint line in `path` (lines without the marker are skipped, so a
// syslog file can be given as it is). Errors name FILE:LINE.
Status read_checkpoints(Context& ctx, const std::string& path, std::vector<Checkpoint>& out) {
  auto text = read_text_input(ctx, path);
  if (!text.ok()) return text.error();
  size_t start = 0, line_no = 0, found = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    ++line_no;
    std::string_view line(text->data() + start, end - start);
    if (line.find("ehr-audit-checkpoint") != std::string_view::npos) {
      auto c = parse_checkpoint(line);
      if (!c.ok()) return Error::invalid_data(fmt::format("{}:{}: {}", path, line_no, c.error().message()));
      out.push_back(std::move(*c));
      ++found;
    }
    start = end + 1;
  }
  if (found == 0) return Error::invalid_data(fmt::format("{}: no ehr-audit-checkpoint line", path));
  return {};
}

int run_audit_verify(Context& ctx, const VerifyOptions& o) {
  std::vector<Checkpoint> checkpoints;
  for (const auto& path : o.checkpoints) {
    Status s = read_checkpoints(ctx, path, checkpoints);
    if (!s.ok()) return ctx.fail(s.error());
  }
  if (!o.signer.empty() && (o.signer.size() != 64 || o.signer.find_first_not_of("0123456789abcdef") != std::string::npos))
    return ctx.fail(Error::invalid_argument("--signer must be a public key of 64 lower-case hex digits"));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto r = verify_audit(*session, checkpoints, o.signer);
  if (!r.ok()) return ctx.fail(r.error());
  Json doc = Json::object();
  doc.set("ok", Json::boolean(r->ok()));
  doc.set("trail", Json::string(r->trail_id));
  doc.set("entries", Json::number(r->entries));
  doc.set("last_seq", Json::number(r->last_seq));
  doc.set("head", Json::string(r->head));
  doc.set("checkpoints_checked", Json::number(r->checkpoints_checked));
  doc.set("first_bad_seq", r->first_bad_seq ? Json::number(*r->first_bad_seq) : Json());
  Json problems = Json::array();
  for (const auto& p : r->problems) problems.push_back(Json::string(p));
  doc.set("problems", std::move(problems));
  ctx.print_document(doc);
  if (checkpoints.empty() && r->ok())
    ctx.info("no checkpoint given: a truncated or rewritten trail shows only against one "
             "(ehr audit checkpoint)");
  if (r->ok()) return kExitOk;
  if (r->first_bad_seq)
    ctx.error(fmt::format("audit trail damaged: first bad entry {}: {}", *r->first_bad_seq, r->problems.front()));
  else
    ctx.error(fmt::format("audit trail not verified: {}", r->problems.front()));
  return kExitDataErr;
}

}  // namespace

void setup_audit_verify(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<VerifyOptions>();
  cmd.add_option("--checkpoint", o->checkpoints,
                 "a file of checkpoint lines (ehr audit checkpoint; a syslog file will do); repeatable")
      ->type_name("FILE");
  cmd.add_option("--signer", o->signer, "require checkpoints signed by this public key (hex)")->type_name("KEY");
  cmd.footer(
      "Recomputes the keyed hash chain from the first entry: an edited, deleted, inserted or\n"
      "moved entry breaks it there. Each checkpoint must carry a valid signature, this\n"
      "database's trail id, and the chain hash recomputed at its entry: a trail cut short or\n"
      "rewritten since the checkpoint fails. Prints the report (--format), names the first bad\n"
      "entry on stderr. Exit status 0 when intact, 65 when not. Needs the audit-read permission.\n\n"
      "Examples:\n"
      "  ehr audit verify\n"
      "  ehr audit verify --checkpoint /var/log/ehr-checkpoints --signer 3b6a27bc...\n"
      "  grep -h ehr-audit-checkpoint /var/log/syslog* > cp.txt && ehr audit verify --checkpoint cp.txt");
  run = [o](Context& ctx) { return run_audit_verify(ctx, *o); };
}

}  // namespace ehr::cli
