// ehr patient unmerge SOURCE --reason R: undoes a merge exactly.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/patient_merge.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientUnmergeOptions {
  std::string source, reason;
};

int run_patient_unmerge(Context& ctx, const PatientUnmergeOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto done = unmerge_patient(*session, o.source, o.reason);
  if (!done.ok()) return ctx.fail(done.error());
  ctx.info(fmt::format("unmerged Patient/{} from Patient/{}: {} record{} moved back (Provenance/{})", done->source,
                       done->target, done->records, done->records == 1 ? "" : "s", done->provenance));
  return 0;
}

}  // namespace

void setup_patient_unmerge(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<PatientUnmergeOptions>();
  cmd.add_option("SOURCE", o->source, "the merged patient (id or MRN)")->required();
  cmd.add_option("--reason", o->reason, "why (kept in the history, the Provenance and the audit trail)")
      ->required()
      ->type_name("TEXT");
  cmd.footer(
      "Every reference the merge moved to the target, and that still points there, points at\n"
      "SOURCE again; the links the merge added are removed and SOURCE's active flag is as it\n"
      "was. Records written to the target after the merge stay with the target. A new\n"
      "version of each record changed, a Provenance (activity unmerge) and an audit entry.\n"
      "Needs the merge permission on both patients.\n\n"
      "Examples:\n"
      "  ehr patient unmerge A2002 --reason 'merged in error: twins'");
  run = [o](Context& ctx) { return run_patient_unmerge(ctx, *o); };
}

}  // namespace ehr::cli
