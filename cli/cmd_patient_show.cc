// ehr patient show ID|MRN: one patient's demographics.
#include "commands.h"
#include "ehr/records.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_patient_show(Context& ctx, const std::string& key, const EmergencyFlags& emergency) {
  auto session = open_session(ctx, emergency);
  if (!session.ok()) return ctx.fail(session.error());
  auto p = find_patient(*session, key, ctx.config().get("mrn_system"));
  if (!p.ok()) return ctx.fail(p.error());
  auto r = read_resource(*session, "Patient", p->id);
  if (!r.ok()) return ctx.fail(r.error());
  switch (ctx.format()) {
    case Format::kTable:
    case Format::kCsv:
      ctx.print_document(patient_row(*r, ctx.config().get("mrn_system")));
      break;
    case Format::kBundle:
      ctx.print_document(searchset_bundle({*r}));
      break;
    default:
      ctx.print_document(r->resource);
  }
  report_access(ctx, *session);
  return 0;
}

}  // namespace

void setup_patient_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto key = std::make_shared<std::string>();
  auto emergency = std::make_shared<EmergencyFlags>();
  cmd.add_option("PATIENT", *key, "patient id or MRN")->required();
  add_emergency_flags(cmd, *emergency);
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "Exit status 1 when no patient has that id or MRN; 77 when the access policy denies it (off\n"
      "the care team: --emergency --reason breaks the glass). Registrars see demographic fields only.\n\n"
      "Examples:\n"
      "  ehr patient show A1001\n"
      "  ehr patient show 5f0c2e9a-6d0b-4c8e-9a57-1a2b3c4d5e6f --format json");
  run = [key, emergency](Context& ctx) { return run_patient_show(ctx, *key, *emergency); };
}

}  // namespace ehr::cli
