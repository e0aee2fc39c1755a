// ehr care due: patients due, overdue or to consider for preventive care,
// with the evidence and the rule version; exit 3 when anyone is listed.
#include <fmt/format.h>

#include "care_flags.h"
#include "commands.h"
#include "ehr/records.h"
#include "exit_codes.h"
#include "output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct CareDueOptions {
  std::string as_of;
  std::vector<std::string> rules;
  std::vector<std::string> patients;
  bool all = false;
};

int run_care_due(Context& ctx, const CareDueOptions& o) {
  auto rules = load_care_rules(ctx);
  if (!rules.ok()) return ctx.fail(rules.error());
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto as_of = as_of_date(o.as_of, *session);
  if (!as_of.ok()) return ctx.fail(as_of.error());
  auto selected = rules->select_on(o.rules, *as_of);
  if (!selected.ok()) return ctx.fail(selected.error());
  for (const auto& note : selected->not_in_effect) ctx.info("not evaluated: " + note);
  CareDueQuery q;
  q.as_of = *as_of;
  q.rules = selected->rules;
  q.include_satisfied = o.all;
  for (const auto& key : o.patients) {
    auto p = find_patient(*session, key, ctx.config().get("mrn_system"));
    if (!p.ok()) return ctx.fail(p.error());
    q.patients.push_back(p->id);
  }
  Result<CareDueList> results = CareDueList{};
  if (!q.rules.empty()) results = care_due(*session, q);
  if (!results.ok()) return ctx.fail(results.error());
  Json rows = Json::array();
  bool findings = false;
  for (const auto& r : results->results) {
    Json row = Json::object();
    row.set("patient", Json::string(r.patient));
    row.set("name", Json::string(r.patient_name));
    row.set("age", r.age ? Json::number(static_cast<std::int64_t>(*r.age)) : Json::null());
    row.set("rule", Json::string(r.rule->id));
    row.set("version", Json::string(r.rule->version));
    // A rule not evaluated is listed: leaving the patient out read as "not due".
    row.set("status", Json::string(r.not_evaluated ? "not-evaluated" : care_status_name(r.status)));
    row.set("due_since", text_or_null(r.due_since));
    row.set("last", text_or_null(r.last_ref));
    row.set("last_date", text_or_null(r.last_date));
    row.set("last_what", text_or_null(r.last_what));
    row.set("detail", Json::string(r.detail));
    rows.push_back(std::move(row));
    findings = findings || r.status != CareStatus::kSatisfied;
  }
  // The table stays narrow; csv carries every field of the json rows.
  std::vector<std::string> columns = {"patient", "name", "age", "rule", "version", "status", "due_since", "last_date", "last"};
  if (ctx.format() == Format::kCsv) columns.insert(columns.end(), {"last_what", "detail"});
  ctx.print_rows(rows, columns);
  // Withheld records of a patient the user sees may be what makes them due
  // or not (a labelled diabetes Condition): the list is incomplete, and says
  // so in its exit code. Patients withheld whole are another team's.
  const auto& incomplete = results->incomplete;
  if (!incomplete.empty()) {
    std::string ids;
    for (size_t i = 0; i < incomplete.size() && i < 10; ++i) ids += (i ? ", " : "") + incomplete[i];
    if (incomplete.size() > 10) ids += fmt::format(" and {} more", incomplete.size() - 10);
    ctx.warning(fmt::format("records the rules read were withheld from you for {} patient{} ({}): their results "
                            "may be wrong, listed or not",
                            incomplete.size(), incomplete.size() == 1 ? "" : "s", ids));
  }
  if (!findings)
    ctx.info(fmt::format("nobody is due on {}{}", format_civil_date(*as_of),
                         incomplete.empty() ? "" : " in the records you may read"));
  report_access(ctx, *session);
  return findings || !incomplete.empty() ? kExitFindings : kExitOk;
}

}  // namespace

void setup_care_due(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<CareDueOptions>();
  cmd.add_option("--as-of", o->as_of, "evaluate on DATE (YYYY-MM-DD; default today, UTC)")->type_name("DATE");
  cmd.add_option("--rule", o->rules, "only rule R, or R@VERSION for another version (repeatable)")->type_name("R");
  cmd.add_option("--patient", o->patients, "only patient P, id or MRN (repeatable)")->type_name("P");
  cmd.add_flag("--all", o->all, "also list patients who are up to date (status satisfied)");
  add_config_flag(cmd, flags, "care_rules");
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "status: due (nothing qualifying on record), overdue (the last qualifying record is\n"
      "outside the look-back window), consider (an age band where screening is offered\n"
      "selectively), not-evaluated (no birth date: no age band applies; or a sex-specific rule\n"
      "for a patient neither female nor male). A positive stool test with nothing after it\n"
      "makes colorectal screening due (a follow-up, not a repeat). last and last_date\n"
      "name the last qualifying record; due_since is the first day it no longer covered.\n"
      "Each rule is evaluated with its version in effect on the as-of date (R@VERSION: that\n"
      "version, whatever its date); a rule with no version in effect yet is left out with a\n"
      "note (named with --rule: an error). A procedure counts only when completed, an\n"
      "immunization only when completed and not subpotent.\n"
      "Deceased and inactive patients are skipped. Exit 3 when anyone is listed (so cron can\n"
      "branch) or when records the rules read of a patient you may see were withheld from\n"
      "you (the list is incomplete: a warning names them); 0 when nobody is due.\n"
      "`ehr care rules` lists the rules, their sources and versions.\n\n"
      "Examples:\n"
      "  ehr care due --as-of 2026-12-01\n"
      "  ehr care due --rule colorectal-cancer-screening --rule breast-cancer-screening@2016 --format csv\n"
      "  ehr care due --patient A1001 --all --format json");
  run = [o](Context& ctx) { return run_care_due(ctx, *o); };
}

}  // namespace ehr::cli
