// ehr audit show: the audit trail, filtered, oldest first.
#include "audit_flags.h"
#include "commands.h"
#include "ehr/audit.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

const std::vector<std::string>& audit_columns() {
  static const std::vector<std::string> kColumns = {"seq",      "time",     "user",      "roles",  "action",
                                                    "outcome",  "purpose",  "patients",  "resources",
                                                    "count",    "emergency", "recipient", "detail"};
  return kColumns;
}

Json audit_row(const AuditEntry& e) {
  Json r = Json::object();
  r.set("seq", Json::number(e.seq));
  r.set("time", Json::string(e.time));
  r.set("user", Json::string(e.user));
  r.set("roles", Json::string(e.roles));
  r.set("action", Json::string(e.action));
  r.set("outcome", Json::string(e.outcome));
  r.set("purpose", Json::string(e.purpose));
  r.set("patients", Json::string(e.patients));
  r.set("resources", Json::string(e.resources));
  r.set("query_hash", Json::string(e.query_hash));
  r.set("count", Json::number(e.count));
  r.set("detail", Json::string(e.detail));
  r.set("emergency", Json::boolean(e.emergency));
  r.set("tool", Json::string(e.tool));
  r.set("recipient", Json::string(e.recipient));
  r.set("hash", Json::string(e.hash));
  return r;
}

int run_audit_show(Context& ctx, const AuditFilter& f) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto entries = list_audit(*session, f);
  if (!entries.ok()) return ctx.fail(entries.error());
  Json rows = Json::array();
  for (const auto& e : *entries) rows.push_back(audit_row(e));
  ctx.print_rows(rows, audit_columns());
  return 0;
}

}  // namespace

void setup_audit_show(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto f = std::make_shared<AuditFilter>();
  add_audit_filter_flags(cmd, *f);
  cmd.footer(
      "Needs audit-read on AuditEvent (auditor and admin roles); the listing is itself audited.\n"
      "json, ndjson and yaml add query_hash, tool and hash (the entry's chain value).\n\n"
      "Examples:\n"
      "  ehr audit show --patient A1001 --since 2026-11\n"
      "  ehr audit show --user carol --emergency --format csv\n"
      "  ehr audit show --limit 20");
  run = [f](Context& ctx) { return run_audit_show(ctx, *f); };
}

}  // namespace ehr::cli
