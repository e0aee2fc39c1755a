// ehr patient add: register a patient from friendly flags or a FHIR Patient.
#include "commands.h"
#include "ehr/records.h"
#include "json_input.h"
#include "patient_flags.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientAddOptions {
  PatientFields fields;
  std::string json;
};

int run_patient_add(Context& ctx, PatientAddOptions& o) {
  o.fields.mrn_system = ctx.config().get("mrn_system");
  if (!o.json.empty() && any_patient_flag(o.fields))
    return ctx.fail(Error::invalid_argument("--json and the patient flags are mutually exclusive"));
  Result<Json> patient = Error::internal("unset");
  if (!o.json.empty()) {
    patient = read_json_input(ctx, o.json);
    if (patient.ok() && (!patient->find("resourceType") || !patient->find("resourceType")->is_string() ||
                         patient->find("resourceType")->text() != "Patient"))
      return ctx.fail(Error::invalid_data(o.json + ": resourceType must be Patient"));
  } else {
    if (o.fields.family.empty() && o.fields.given.empty() && o.fields.mrn.empty())
      return ctx.fail(Error::invalid_argument("give at least --family, --given or --mrn (or --json FILE)"));
    patient = build_patient(o.fields);
  }
  if (!patient.ok()) return ctx.fail(patient.error());
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto stored = register_patient(*session, std::move(*patient), o.fields.mrn_system);
  if (!stored.ok()) return ctx.fail(stored.error());
  print_validation_warnings(ctx, stored->resource);
  ctx.out() << stored->id << '\n' << std::flush;
  return 0;
}

}  // namespace

void setup_patient_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<PatientAddOptions>();
  add_patient_flags(cmd, o->fields);
  cmd.add_option("--json", o->json, "a FHIR Patient resource in FILE, or - for stdin")->type_name("FILE");
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "Prints the new patient's id on stdout.\n\n"
      "Examples:\n"
      "  ehr patient add --given Zoe --family Nunez --birth-date 1984-02-29 --gender female --mrn A1001\n"
      "  id=$(ehr patient add --family Smith --given John --phone 555-0100)\n"
      "  ehr patient add --json patient.json");
  run = [o](Context& ctx) { return run_patient_add(ctx, *o); };
}

}  // namespace ehr::cli
