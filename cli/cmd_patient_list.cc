// ehr patient list: every patient, one row each.
#include "commands.h"
#include "ehr/records.h"
#include "resource_output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_patient_list(Context& ctx, int limit) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  RecordQuery q;
  q.types = {"Patient"};
  q.limit = limit;
  auto rows = list_resources(*session, q);
  if (!rows.ok()) return ctx.fail(rows.error());
  std::sort(rows->begin(), rows->end(), [](const StoredResource& a, const StoredResource& b) {
    return a.id < b.id;
  });
  print_patients(ctx, std::move(*rows));
  report_access(ctx, *session);
  return 0;
}

}  // namespace

void setup_patient_list(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto limit = std::make_shared<int>(0);
  cmd.add_option("--limit", *limit, "at most N patients (default: all)")->type_name("N")->check(limit_count());
  add_config_flag(cmd, flags, "mrn_system");
  cmd.footer(
      "Examples:\n"
      "  ehr patient list\n"
      "  ehr patient list --format ndjson > patients.ndjson");
  run = [limit](Context& ctx) { return run_patient_list(ctx, *limit); };
}

}  // namespace ehr::cli
