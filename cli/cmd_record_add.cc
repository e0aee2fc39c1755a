// ehr record add: a clinical record for a patient, from friendly flags or JSON.
#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "care_flags.h"
#include "commands.h"
#include "ehr/builders.h"
#include "exit_codes.h"
#include "ehr/records.h"
#include "json_input.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct RecordAddOptions {
  RecordFields f;
  std::string json;
  std::string reason;
  bool strict = false;
};

bool is_medication(const Json& r) {
  const Json* t = r.find("resourceType");
  if (t == nullptr || !t->is_string()) return false;
  return t->text() == "MedicationRequest" || t->text() == "MedicationStatement" ||
         t->text() == "MedicationAdministration" || t->text() == "MedicationDispense";
}

// The medication-allergy check of a medication about to be recorded: a
// warning per conflict; with --strict, a high or moderate conflict refuses
// the record (audited) and gives exit 3. Returns -1 to go on recording.
int check_allergies(Context& ctx, Session& session, const Json& resource, bool strict) {
  auto rules = load_care_rules(ctx);
  if (!rules.ok()) return ctx.fail(rules.error());
  auto conflicts = medication_allergy_alerts(session, *rules, resource);
  if (!conflicts.ok()) return ctx.fail(conflicts.error());
  if (conflicts->empty()) return -1;
  bool refuse = false;
  for (const auto& c : *conflicts) {
    ctx.warning(fmt::format("{} allergy conflict: {} against allergy {}{}: {}", c.severity, c.medication, c.allergy,
                            c.allergy_ref.empty() ? "" : " (" + c.allergy_ref + ")", c.basis));
    refuse = refuse || (strict && c.severity != "info");
  }
  auto audited = record_allergy_alert(session, resource, *conflicts, refuse);
  if (!audited.ok()) return ctx.fail(audited.error());
  if (refuse) {
    ctx.error("refused to record the medication (--strict): it conflicts with a recorded allergy");
    return kExitFindings;
  }
  return -1;
}

// The flags that describe a record for build_record, by name.
std::vector<std::pair<const char*, const std::string*>> friendly_flags(const RecordFields& f) {
  return {{"--type", &f.kind},         {"--code", &f.code},         {"--system", &f.system},
          {"--display", &f.display},   {"--value", &f.value},       {"--unit", &f.unit},
          {"--date", &f.date},         {"--status", &f.status},     {"--systolic", &f.systolic},
          {"--diastolic", &f.diastolic}, {"--criticality", &f.criticality}, {"--reaction", &f.reaction},
          {"--category", &f.category}, {"--dosage", &f.dosage},     {"--class", &f.encounter_class}};
}

int run_record_add(Context& ctx, RecordAddOptions& o) {
  // The JSON is the whole record: a friendly flag beside it would be
  // dropped, so it is refused.
  if (!o.json.empty())
    for (const auto& [flag, value] : friendly_flags(o.f))
      if (!value->empty())
        return ctx.fail(Error::invalid_argument(
            fmt::format("{} cannot be used with --json (the JSON is the whole record)", flag)));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  std::string patient_id;
  if (!o.f.patient.empty()) {
    auto p = find_patient(*session, o.f.patient, ctx.config().get("mrn_system"));
    if (!p.ok()) return ctx.fail(p.error());
    patient_id = p->id;
  }
  Result<Json> resource = Error::internal("unset");
  bool defaulted_date = false;
  if (!o.json.empty()) {
    resource = read_json_input(ctx, o.json);
    // --patient with --json points the record at that patient, in the
    // type's own patient element.
    if (resource.ok() && !patient_id.empty()) {
      std::string type = resource->find("resourceType") && resource->find("resourceType")->is_string()
                             ? resource->find("resourceType")->text() : "";
      std::string_view element = patient_element(type);
      if (element.empty())
        return ctx.fail(Error::invalid_argument(fmt::format(
            "--patient cannot set the patient of {} (it has no single patient element); give the patient "
            "reference in the JSON",
            type.empty() ? "a resource without resourceType" : type)));
      Json ref = Json::object();
      ref.set("reference", Json::string("Patient/" + patient_id));
      resource->set(std::string(element), std::move(ref));
    }
  } else {
    if (o.f.kind.empty()) return ctx.fail(Error::invalid_argument("--type is required (or --json FILE)"));
    o.f.patient = patient_id;
    // The time of recording, to the second: the date of a record without --date.
    std::string now = session->now();
    o.f.recorded_at = now.size() >= 19 ? now.substr(0, 19) + "Z" : now;
    resource = build_record(o.f);
    defaulted_date = resource.ok() && o.f.date.empty() && record_kind_dated_when_recorded(o.f.kind);
  }
  if (!resource.ok()) return ctx.fail(resource.error());
  if (is_medication(*resource)) {
    int code = check_allergies(ctx, *session, *resource, o.strict);
    if (code >= 0) return code;
  }
  auto stored = create_resource(*session, std::move(*resource), o.reason);
  if (!stored.ok()) return ctx.fail(stored.error());
  print_validation_warnings(ctx, stored->resource);
  if (stored->patient == kUnknownPatient)
    ctx.warning(fmt::format("{}/{} {}", stored->type, stored->id, kUnresolvedPatientWarning));
  ctx.out() << stored->type << '/' << stored->id << '\n' << std::flush;
  if (defaulted_date)
    ctx.info(fmt::format("dated {}, the time of recording (--date gives another)", o.f.recorded_at));
  return 0;
}

}  // namespace

void setup_record_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<RecordAddOptions>();
  std::string kinds;
  for (const auto& [name, what] : record_kinds()) kinds += fmt::format("  {:<22}{}\n", name, what);
  cmd.add_option("--patient", o->f.patient, "patient id or MRN")->type_name("PATIENT");
  cmd.add_option("--type", o->f.kind, "what to record (see below)")->type_name("TYPE");
  cmd.add_option("--code", o->f.code, "the code (LOINC, SNOMED CT, RxNorm, CVX by type)")->type_name("CODE");
  cmd.add_option("--system", o->f.system, "code system URI or loinc|snomed|rxnorm|cvx|icd10")->type_name("SYSTEM");
  cmd.add_option("--display", o->f.display, "human-readable name of the code")->type_name("TEXT");
  cmd.add_option("--value", o->f.value, "vital and lab: the result, a number (72.5); note: the text")->type_name("VALUE");
  cmd.add_option("--unit", o->f.unit, "vital and lab: UCUM unit of --value (kg, mm[Hg], mg/dL, %)")->type_name("UNIT");
  cmd.add_option("--date", o->f.date,
                 "when: YYYY-MM-DD or an instant [default: now for an observation, procedure, order, "
                 "encounter or note]")
      ->type_name("DATE");
  cmd.add_option("--status", o->f.status, "status, when not the type's default")->type_name("STATUS");
  cmd.add_option("--systolic", o->f.systolic, "blood-pressure systolic (mm[Hg])")->type_name("N");
  cmd.add_option("--diastolic", o->f.diastolic, "blood-pressure diastolic (mm[Hg])")->type_name("N");
  cmd.add_option("--criticality", o->f.criticality, "allergy: low, high or unable-to-assess")->type_name("LEVEL");
  cmd.add_option("--reaction", o->f.reaction, "allergy reaction, e.g. hives")->type_name("TEXT");
  cmd.add_option("--category", o->f.category, "allergy: food, medication, environment, biologic")->type_name("CAT");
  cmd.add_option("--dosage", o->f.dosage, "medication dosage, e.g. '500 mg twice daily'")->type_name("TEXT");
  cmd.add_option("--class", o->f.encounter_class, "encounter class: AMB, EMER, IMP, VR, HH")->type_name("CLASS");
  cmd.add_option("--json", o->json, "any FHIR R4 resource in FILE, or - for stdin")->type_name("FILE");
  cmd.add_option("--reason", o->reason, "why it is recorded (kept in its history)")->type_name("TEXT");
  cmd.add_flag("--strict", o->strict, "refuse a medication with a high or moderate allergy conflict (exit 3)");
  add_config_flag(cmd, flags, "mrn_system");
  add_config_flag(cmd, flags, "care_rules");
  cmd.footer(
      "Types with friendly flags:\n" + kinds +
      "Prints Type/id of the new record. Invalid input names the field and rule (exit 65).\n"
      "Without --date, a vital, lab, blood pressure, procedure, medication order, encounter\n"
      "or note is dated now, the time of recording (said on stderr): give --date for one\n"
      "done earlier. A condition, allergy or medication-statement stays undated; an\n"
      "immunization needs --date. A flag the type does not use is refused (exit 64).\n"
      "With --json the JSON is the whole record (no friendly flags); --patient sets the\n"
      "type's own patient element (subject, patient, beneficiary, for, ...).\n"
      "A medication is checked against the patient's allergies first (as `ehr care check`\n"
      "does): each conflict is a warning on stderr and an audit entry; with --strict a high or\n"
      "moderate conflict refuses the record (exit 3, audited as refused).\n\n"
      "Examples:\n"
      "  ehr record add --patient A1001 --type vital --code 29463-7 --display 'Body weight' --value 72.5 --unit kg\n"
      "  ehr record add --patient A1001 --type blood-pressure --systolic 128 --diastolic 82 --date 2026-11-20\n"
      "  ehr record add --patient A1001 --type lab --code 4548-4 --display HbA1c --value 6.9 --unit %\n"
      "  ehr record add --patient A1001 --type allergy --code 7980 --system rxnorm --display Penicillin --criticality high --category medication\n"
      "  ehr record add --patient A1001 --type medication --code 308182 --display 'Amoxicillin 250 MG Oral Capsule' --strict\n"
      "  ehr record add --patient A1001 --type condition --code 44054006 --display 'Diabetes mellitus type 2'\n"
      "  ehr record add --patient A1001 --json observation.json");
  run = [o](Context& ctx) { return run_record_add(ctx, *o); };
}

}  // namespace ehr::cli
