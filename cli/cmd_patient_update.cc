// ehr patient update ID|MRN: a new version of the patient's demographics.
#include "commands.h"
#include "ehr/records.h"
#include "json_input.h"
#include "patient_flags.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientUpdateOptions {
  std::string key;
  PatientFields fields;
  std::string json;
  std::string reason;
};

int run_patient_update(Context& ctx, PatientUpdateOptions& o) {
  if (!o.json.empty() && any_patient_flag(o.fields))
    return ctx.fail(Error::invalid_argument("--json and the patient flags are mutually exclusive"));
  if (o.json.empty() && !any_patient_flag(o.fields))
    return ctx.fail(Error::invalid_argument("nothing to change: give patient flags or --json FILE"));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto current = find_patient(*session, o.key, ctx.config().get("mrn_system"));
  if (!current.ok()) return ctx.fail(current.error());
  Result<Json> next = Error::internal("unset");
  if (!o.json.empty()) {
    next = read_json_input(ctx, o.json);
    if (next.ok()) next->set("id", Json::string(current->id));
  } else {
    o.fields.mrn_system = ctx.config().get("mrn_system");
    next = build_patient(o.fields, current->resource);
  }
  if (!next.ok()) return ctx.fail(next.error());
  auto stored = update_patient(*session, std::move(*next), ctx.config().get("mrn_system"), o.reason);
  if (!stored.ok()) return ctx.fail(stored.error());
  print_validation_warnings(ctx, stored->resource);
  if (stored->version == current->version) ctx.info("no change: the patient already has these values");
  else ctx.info("Patient/" + stored->id + " is now version " + std::to_string(stored->version));
  ctx.out() << stored->id << '\n' << std::flush;
  return 0;
}

}  // namespace

void setup_patient_update(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<PatientUpdateOptions>();
  cmd.add_option("PATIENT", o->key, "patient id or MRN")->required();
  add_patient_flags(cmd, o->fields);
  cmd.add_option("--json", o->json, "the whole new Patient resource in FILE, or - for stdin")->type_name("FILE");
  cmd.add_option("--reason", o->reason, "why the record changes (kept in its history)")->type_name("TEXT");
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "Changes only what is given; every change is a new version (see ehr record history).\n\n"
      "Examples:\n"
      "  ehr patient update A1001 --phone 555-0199 --reason 'new number'\n"
      "  ehr patient show A1001 --format json | jq '.active=false' | ehr patient update A1001 --json -");
  run = [o](Context& ctx) { return run_patient_update(ctx, *o); };
}

}  // namespace ehr::cli
