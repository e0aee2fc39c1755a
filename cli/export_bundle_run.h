// ehr export --format bundle: one patient's record as a searchset Bundle in a
// file or on stdout (ehr/export_bundle.h). Called by cmd_export.cc once the
// options are checked.

#ifndef EHR_CLI_EXPORT_BUNDLE_RUN_H_
#define EHR_CLI_EXPORT_BUNDLE_RUN_H_

#include "context.h"
#include "ehr/export_bundle.h"

namespace ehr::cli {

// Opens the session, exports, prints the Bundle when options.output is "-",
// and the one-line summary (unless --quiet). Returns the exit code.
int run_export_bundle(Context& ctx, const BundleExportOptions& options);

}  // namespace ehr::cli

#endif  // EHR_CLI_EXPORT_BUNDLE_RUN_H_
