// ehr patient merge SOURCE TARGET --reason R: one person's two records
// become one (ehr/patient_merge.h).
#include <fmt/format.h>

#include "commands.h"
#include "ehr/patient_merge.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct PatientMergeOptions {
  std::string source, target, reason;
};

int run_patient_merge(Context& ctx, const PatientMergeOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto done = merge_patients(*session, o.source, o.target, o.reason);
  if (!done.ok()) return ctx.fail(done.error());
  ctx.info(fmt::format("merged Patient/{} into Patient/{}: {} record{} moved (Provenance/{}); "
                       "ehr patient unmerge {} undoes it",
                       done->source, done->target, done->records, done->records == 1 ? "" : "s", done->provenance,
                       done->source));
  return 0;
}

}  // namespace

void setup_patient_merge(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<PatientMergeOptions>();
  cmd.add_option("SOURCE", o->source, "the patient that goes (id or MRN): it is kept, inactive")->required();
  cmd.add_option("TARGET", o->target, "the patient that stays (id or MRN)")->required();
  cmd.add_option("--reason", o->reason, "why (kept in the history, the Provenance and the audit trail)")
      ->required()
      ->type_name("TEXT");
  cmd.footer(
      "Every record of any type that refers to SOURCE is changed to refer to TARGET (a new\n"
      "version of each); SOURCE becomes inactive with a link replaced-by TARGET, and TARGET\n"
      "gets a link replaces SOURCE. A Provenance (activity merge) names every version written,\n"
      "and the audit trail an entry. All in one transaction. A source merges into one target;\n"
      "a merged patient cannot be a target, nor can a patient others were merged into be a\n"
      "source (unmerge those first). `ehr patient unmerge SOURCE` undoes it exactly.\n"
      "Needs the merge permission on both patients (registrars in the default policy).\n\n"
      "Examples:\n"
      "  ehr patient merge A2002 A1001 --reason 'duplicate registration, ID checked at the desk'\n"
      "  ehr patient duplicates --format csv   # the pairs to review first");
  run = [o](Context& ctx) { return run_patient_merge(ctx, *o); };
}

}  // namespace ehr::cli
