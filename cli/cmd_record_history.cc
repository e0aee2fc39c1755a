// ehr record history ID: every version of a record, who, when and why.
#include "commands.h"
#include "ehr/records.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_record_history(Context& ctx, const std::string& ref, const EmergencyFlags& emergency) {
  auto session = open_session(ctx, emergency);
  if (!session.ok()) return ctx.fail(session.error());
  auto key = resolve_record_ref(*session, ref);
  if (!key.ok()) return ctx.fail(key.error());
  auto versions = resource_history(*session, key->first, key->second);
  if (!versions.ok()) return ctx.fail(versions.error());
  Json rows = Json::array();
  for (const auto& h : *versions) {
    Json row = Json::object();
    row.set("version", Json::number(h.version));
    row.set("action", Json::string(h.action));
    row.set("author", Json::string(h.author));
    row.set("time", Json::string(h.time));
    row.set("reason", Json::string(h.reason));
    if (ctx.format() != Format::kTable && ctx.format() != Format::kCsv)
      row.set("resource", h.resource ? *h.resource : Json());
    rows.push_back(std::move(row));
  }
  ctx.print_rows(rows, {"version", "action", "author", "time", "reason"});
  report_access(ctx, *session, "version");
  return 0;
}

}  // namespace

void setup_record_history(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto ref = std::make_shared<std::string>();
  auto emergency = std::make_shared<EmergencyFlags>();
  cmd.add_option("RECORD", *ref, "Type/id, or an id")->required();
  add_emergency_flags(cmd, *emergency);
  cmd.footer(
      "json, ndjson and yaml include each version's resource (absent for a purge). Exit 77 when\n"
      "the access policy denies reading the record (--emergency --reason breaks the glass).\n"
      "Each earlier version is decided on its own labels, code and patient: those you may not\n"
      "see are left out, and a warning on stderr says how many.\n\n"
      "Examples:\n"
      "  ehr record history Observation/3c1d...\n"
      "  ehr record history 3c1d... --format json | jq '.[0].resource'");
  run = [ref, emergency](Context& ctx) { return run_record_history(ctx, *ref, *emergency); };
}

}  // namespace ehr::cli
