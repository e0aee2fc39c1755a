// ehr record list: records across patients, newest change first.
#include "commands.h"
#include "ehr/records.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct RecordListOptions {
  std::vector<std::string> types;
  std::string patient;
  std::string since;
  bool all = false;
  int limit = 0;
  EmergencyFlags emergency;
};

int run_record_list(Context& ctx, const RecordListOptions& o) {
  auto session = open_session(ctx, o.emergency);
  if (!session.ok()) return ctx.fail(session.error());
  RecordQuery q;
  q.types = o.types;
  q.since = o.since;
  q.include_retracted = o.all;
  q.limit = o.limit;
  if (!o.patient.empty()) {
    auto p = find_patient(*session, o.patient, ctx.config().get("mrn_system"));
    if (!p.ok()) return ctx.fail(p.error());
    q.patient = p->id;
  }
  auto rows = list_resources(*session, q);
  if (!rows.ok()) return ctx.fail(rows.error());
  print_resources(ctx, std::move(*rows));
  report_access(ctx, *session);
  return 0;
}

}  // namespace

void setup_record_list(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<RecordListOptions>();
  cmd.add_option("--type", o->types, "only these FHIR types (repeatable)")->type_name("TYPE");
  cmd.add_option("--patient", o->patient, "only this patient (id or MRN)")->type_name("PATIENT");
  cmd.add_option("--since", o->since, "changed at or after T (YYYY, YYYY-MM, YYYY-MM-DD or an instant)")
      ->type_name("T");
  cmd.add_flag("--all", o->all, "include retracted records");
  cmd.add_option("--limit", o->limit, "at most N records")->type_name("N")->check(limit_count());
  add_emergency_flags(cmd, o->emergency);
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "Records the access policy withholds from you are left out (stderr says how many).\n\n"
      "Examples:\n"
      "  ehr record list --type Observation --limit 20\n"
      "  ehr record list --since 2026-11-01T00:00:00Z --format ndjson");
  run = [o](Context& ctx) { return run_record_list(ctx, *o); };
}

}  // namespace ehr::cli
