// ehr patient find: search by name, birth date, identifier, MRN or phone.
#include "commands.h"
#include "ehr/records.h"
#include "exit_codes.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientFindOptions {
  PatientQuery q;
  std::string identifier;
  std::string mrn;
};

int run_patient_find(Context& ctx, PatientFindOptions& o) {
  if (!o.identifier.empty()) {
    auto bar = o.identifier.find('|');
    if (bar == std::string::npos) {
      o.q.identifier_value = o.identifier;
    } else {
      o.q.identifier_system = o.identifier.substr(0, bar);
      o.q.identifier_value = o.identifier.substr(bar + 1);
    }
  }
  if (!o.mrn.empty()) {
    if (!o.q.identifier_value.empty())
      return ctx.fail(Error::invalid_argument("--mrn and --identifier are mutually exclusive"));
    o.q.identifier_system = ctx.config().get("mrn_system");
    o.q.identifier_value = o.mrn;
  }
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto rows = search_patients_json(*session, o.q);
  if (!rows.ok()) return ctx.fail(rows.error());
  if (rows->empty()) {
    report_access(ctx, *session);
    ctx.error("no patient matches");
    return kExitNoMatch;
  }
  print_patients(ctx, std::move(*rows));
  report_access(ctx, *session);
  return 0;
}

}  // namespace

void setup_patient_find(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<PatientFindOptions>();
  cmd.add_option("--name", o->q.name, "name words, each a prefix; case and accents ignored")->type_name("TEXT");
  cmd.add_option("--birth-date", o->q.birth_date, "YYYY, YYYY-MM or YYYY-MM-DD")->type_name("DATE");
  cmd.add_option("--identifier", o->identifier, "an identifier value, or SYSTEM|VALUE")->type_name("ID");
  cmd.add_option("--mrn", o->mrn, "a medical record number of the mrn_system")->type_name("MRN");
  cmd.add_option("--phone", o->q.phone, "phone number (digits compared)")->type_name("PHONE");
  cmd.add_option("--limit", o->q.limit, "at most N patients")->type_name("N")->check(limit_count());
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "All given criteria must match. Exit status 0 with matches, 1 with none (like grep).\n\n"
      "Examples:\n"
      "  ehr patient find --name 'zoe nun'\n"
      "  ehr patient find --birth-date 1984 --name smith --format csv\n"
      "  ehr patient find --identifier 'http://hl7.org/fhir/sid/us-ssn|999-12-3456'\n"
      "  ehr patient find --mrn A1001 -q >/dev/null || echo 'not registered'");
  run = [o](Context& ctx) { return run_patient_find(ctx, *o); };
}

}  // namespace ehr::cli
