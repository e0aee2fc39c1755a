// ehr audit emergencies: break-the-glass grants and the accesses under them.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/audit.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_audit_emergencies(Context& ctx, const std::string& since) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto all = list_emergencies(*session, since);
  if (!all.ok()) return ctx.fail(all.error());
  Json rows = Json::array();
  for (const auto& g : *all) {
    Json r = Json::object();
    r.set("grant", Json::number(g.grant));
    r.set("user", Json::string(g.user));
    r.set("patient", Json::string(g.patient));
    r.set("reason", Json::string(g.reason));
    r.set("started", Json::string(g.started));
    r.set("expires", Json::string(g.expires));
    r.set("accesses", Json::number(g.accesses));
    r.set("last_access", Json::string(g.last_access));
    rows.push_back(std::move(r));
  }
  ctx.print_rows(rows, {"grant", "user", "patient", "reason", "started", "expires", "accesses", "last_access"});
  int changed = 0;
  for (const auto& g : *all)
    if (!g.reason_intact) {
      ++changed;
      ctx.warning(g.grant_missing
                      ? fmt::format("grant {} of audit entry {} is gone from the emergency table: "
                                    "the emergency table was changed",
                                    g.grant, g.entry)
                  : g.entry == 0 ? fmt::format("grant {} has no audit entry: the emergency table was changed", g.grant)
                                 : fmt::format("the reason of grant {} is not the one its audit entry {} sealed: "
                                               "the emergency table was changed",
                                               g.grant, g.entry));
    }
  if (changed > 0) return ctx.fail(Error::invalid_data(fmt::format(
                       "{} grant{} tampered with", changed, changed == 1 ? "" : "s")));
  return 0;
}

}  // namespace

void setup_audit_emergencies(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto since = std::make_shared<std::string>();
  cmd.add_option("--since", *since, "grants started at or after T (YYYY, YYYY-MM, YYYY-MM-DD or an instant)")
      ->type_name("T");
  cmd.footer(
      "One row per grant, oldest first; accesses counts the entries flagged emergency of that\n"
      "user and patient while the grant lasted. Needs audit-read on AuditEvent; audited.\n"
      "Each reason is checked against the keyed hash its grant's chained audit entry sealed:\n"
      "a changed reason, a grant without its entry or an entry whose grant is gone (listed\n"
      "from the entry, reason empty) is warned about and exits 65.\n\n"
      "Examples:\n"
      "  ehr audit emergencies --since 2026-11\n"
      "  ehr audit emergencies --format csv > review.csv");
  run = [since](Context& ctx) { return run_audit_emergencies(ctx, *since); };
}

}  // namespace ehr::cli
