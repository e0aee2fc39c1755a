// ehr record show --patient P: the patient's whole record, complete and unpaged.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/records.h"
#include "exit_codes.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct RecordShowOptions {
  std::string patient;
  std::vector<std::string> types;
  std::string since;
  bool all = false;
  EmergencyFlags emergency;
};

int run_record_show(Context& ctx, const RecordShowOptions& o) {
  auto session = open_session(ctx, o.emergency);
  if (!session.ok()) return ctx.fail(session.error());
  auto p = find_patient(*session, o.patient, ctx.config().get("mrn_system"));
  if (!p.ok()) return ctx.fail(p.error());
  RecordQuery q;
  q.patient = p->id;
  q.types = o.types;
  q.since = o.since;
  q.include_retracted = o.all;
  auto record = patient_records_json(*session, q);
  if (!record.ok()) return ctx.fail(record.error());
  if (ctx.format() == Format::kTable) {
    std::vector<StoredResource> parsed;
    parsed.reserve(record->size());
    for (auto& r : *record) parsed.push_back(parse_stored(std::move(r)));
    print_clinical_summary(ctx, parsed);
  } else {
    print_resources(ctx, std::move(*record));
  }
  report_access(ctx, *session);
  return kExitOk;
}

}  // namespace

void setup_record_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<RecordShowOptions>();
  cmd.add_option("--patient", o->patient, "patient id or MRN")->required()->type_name("PATIENT");
  cmd.add_option("--type", o->types, "only these FHIR types (repeatable)")->type_name("TYPE");
  cmd.add_option("--since", o->since, "only care on or after T (YYYY, YYYY-MM, YYYY-MM-DD or an instant)")
      ->type_name("T");
  cmd.add_flag("--all", o->all, "include retracted (entered-in-error) records");
  add_emergency_flags(cmd, o->emergency);
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "The table format groups the record: demographics, active problems, medications,\n"
      "allergies, vitals and labs, immunizations, encounters. --format bundle prints a FHIR\n"
      "searchset Bundle equal to Patient/$everything. An unknown patient exits 1.\n"
      "Only what the access policy lets you see is printed; stderr says how many records were\n"
      "withheld. Off the patient's care team, exit 77 unless --emergency --reason is given.\n\n"
      "Examples:\n"
      "  ehr record show --patient A1001\n"
      "  ehr record show --patient A1001 --format bundle > a1001.json\n"
      "  ehr record show --patient A1001 --type Observation --since 2026-01-01 --format csv\n"
      "  ehr record show --patient A1001 --emergency --reason 'unconscious in the ED'");
  run = [o](Context& ctx) { return run_record_show(ctx, *o); };
}

}  // namespace ehr::cli
