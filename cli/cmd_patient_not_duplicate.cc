// ehr patient not-duplicate A B --reason R: two patients are two people.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/patient_merge.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientNotDuplicateOptions {
  std::string a, b, reason;
};

int run_patient_not_duplicate(Context& ctx, const PatientNotDuplicateOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  Status done = mark_not_duplicate(*session, o.a, o.b, o.reason);
  if (!done.ok()) return ctx.fail(done.error());
  ctx.info(fmt::format("{} and {} are recorded as different patients", o.a, o.b));
  return 0;
}

}  // namespace

void setup_patient_not_duplicate(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<PatientNotDuplicateOptions>();
  cmd.add_option("A", o->a, "a patient (id or MRN)")->required();
  cmd.add_option("B", o->b, "the other patient (id or MRN)")->required();
  cmd.add_option("--reason", o->reason, "why (kept with the decision)")->required()->type_name("TEXT");
  cmd.footer(
      "The pair leaves the review queue and `ehr patient duplicates` never proposes it again;\n"
      "an import does not queue it again either. Needs the merge permission on both patients.\n\n"
      "Examples:\n"
      "  ehr patient not-duplicate A1001 A3003 --reason 'twins, checked with the family'");
  run = [o](Context& ctx) { return run_patient_not_duplicate(ctx, *o); };
}

}  // namespace ehr::cli
