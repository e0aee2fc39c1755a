// ehr care check --patient P: medication-allergy conflicts and abnormal or
// critical lab results of one patient; exit 3 when there are findings.
#include <fmt/format.h>

#include "care_flags.h"
#include "commands.h"
#include "ehr/records.h"
#include "exit_codes.h"
#include "output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct CareCheckOptions {
  std::string patient;
  std::string as_of;
  EmergencyFlags emergency;
};

int run_care_check(Context& ctx, const CareCheckOptions& o) {
  auto rules = load_care_rules(ctx);
  if (!rules.ok()) return ctx.fail(rules.error());
  auto session = open_session(ctx, o.emergency);
  if (!session.ok()) return ctx.fail(session.error());
  auto on = as_of_date(o.as_of, *session);
  if (!on.ok()) return ctx.fail(on.error());
  auto p = find_patient(*session, o.patient, ctx.config().get("mrn_system"));
  if (!p.ok()) return ctx.fail(p.error());
  auto check = care_check(*session, *rules, p->id, *on);
  if (!check.ok()) return ctx.fail(check.error());
  Json rows = Json::array();
  for (const auto& a : check->allergies) {
    Json row = Json::object();
    row.set("kind", Json::string("allergy"));
    row.set("severity", Json::string(a.conflict.severity));
    row.set("record", Json::string(a.medication_ref));
    row.set("what", Json::string(a.medication.empty() ? a.conflict.medication : a.medication));
    // An unchecked row: a medication the drug-class map does not know.
    row.set("finding", Json::string(a.conflict.severity == "unchecked"
                                        ? std::string("not checked against the allergies")
                                        : fmt::format("{} against allergy {}{}", a.conflict.medication,
                                                      a.conflict.allergy,
                                                      a.conflict.allergy_ref.empty()
                                                          ? ""
                                                          : " (" + a.conflict.allergy_ref + ")")));
    row.set("basis", Json::string(a.conflict.basis));
    row.set("date", Json::null());
    row.set("drug", Json::string(a.conflict.medication));
    row.set("allergy", Json::string(a.conflict.allergy));
    row.set("allergy_record", text_or_null(a.conflict.allergy_ref));
    rows.push_back(std::move(row));
  }
  for (const auto& f : check->labs) {
    Json row = Json::object();
    row.set("kind", Json::string("lab"));
    row.set("severity", Json::string(f.severity));
    row.set("record", Json::string(f.observation_ref));
    row.set("what", Json::string(f.test));
    // An unchecked row says why in its finding; a flagged one gives its
    // flag, and its basis says more when there is more to say.
    bool unchecked = f.severity == "unchecked";
    const std::string& said = unchecked ? f.note : f.flag;
    row.set("finding", Json::string(f.value.empty() ? said : f.value + " " + said));
    row.set("basis", Json::string((f.range.empty() ? f.source : f.source + ": " + f.range) +
                                  (f.note.empty() || unchecked ? "" : "; " + f.note)));
    row.set("date", text_or_null(f.date));
    row.set("loinc", text_or_null(f.loinc));
    row.set("value", text_or_null(f.value));
    row.set("flag", Json::string(f.flag));
    row.set("source", Json::string(f.source));
    row.set("range", text_or_null(f.range));
    rows.push_back(std::move(row));
  }
  ctx.print_rows(rows, {"kind", "severity", "record", "what", "finding", "basis", "date"});
  // Records the policy withheld may hold what the check would find: no
  // findings then is no all-clear, and exits 3 (QA finding care 09).
  std::int64_t withheld = session->withheld();
  if (rows.size() == 0 && withheld > 0)
    ctx.warning(fmt::format("no findings for patient {} in the records you may read; {} withheld: this check is incomplete",
                            p->id, withheld));
  else if (rows.size() == 0)
    ctx.info(fmt::format("no findings for patient {}", p->id));
  report_access(ctx, *session);
  return rows.size() == 0 && withheld == 0 ? kExitOk : kExitFindings;
}

}  // namespace

void setup_care_check(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<CareCheckOptions>();
  cmd.add_option("--patient", o->patient, "patient id or MRN")->required()->type_name("PATIENT");
  cmd.add_option("--as-of", o->as_of,
                 "check as of DATE (default today); age-specific ranges take the age on each result's date")
      ->type_name("DATE");
  add_emergency_flags(cmd, o->emergency);
  add_config_flag(cmd, flags, "care_rules");
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "Allergy rows: each current medication (MedicationRequest, MedicationStatement of status\n"
      "active, on-hold, intended, draft or unknown) against each allergy; severity high (same\n"
      "drug, same class, or a side chain shared with the allergen drug itself), moderate (a side\n"
      "chain shared with the allergen's class, or a raised reaction rate), info (another class of\n"
      "the same family). Refuted, entered-in-error, resolved and inactive allergies never fire. A\n"
      "medicationReference is read from the Medication it names (contained or stored), else from\n"
      "the reference's display. A medication the drug-class map does not know, with a drug\n"
      "allergy in force, is an unchecked row.\n"
      "Lab rows: the latest result of each code (its LOINC coding, else its first coding) that\n"
      "holds a value or the lab's interpretation (one without, such as a dataAbsentReason, hides\n"
      "no earlier result; results at the same latest instant are each judged). A value past a\n"
      "critical bound of the table (care/lab-ranges.yaml) is LL or HH (critical) whatever the\n"
      "lab's own range or interpretation says; otherwise the lab's own interpretation (LL, HH, AA\n"
      "critical; N normal), else its own reference range, else the table: L, H, A. Units compare\n"
      "whatever their case; mEq/L is mmol/L for potassium, sodium and CO2; glucose and calcium in\n"
      "mmol/L are converted to mg/dL. Any other unit than the table's is reported as\n"
      "unit-mismatch, not flagged. A patient neither female nor male is judged by the more severe\n"
      "of sex-specific rows; age-specific rows take the age on the result's date. A result dated\n"
      "after --as-of is not the latest but an unchecked row; an undated one is judged on its own.\n"
      "Each component is a result of its own code; a value in words of a test the table has\n"
      "ranges for is an unchecked row.\n"
      "Exit 3 when there are findings, or when the access policy withheld records from the check\n"
      "(it is incomplete: standard error says so); 0 when there are none.\n\n"
      "Examples:\n"
      "  ehr care check --patient A1001\n"
      "  ehr care check --patient A1001 --format json");
  run = [o](Context& ctx) { return run_care_check(ctx, *o); };
}

}  // namespace ehr::cli
