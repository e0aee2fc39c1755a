// ehr export --format bundle (export_bundle_run.h).
#include "export_bundle_run.h"

#include <chrono>

#include <fmt/format.h>

#include "exit_codes.h"
#include "store_open.h"

namespace ehr::cli {

int run_export_bundle(Context& ctx, const BundleExportOptions& o) {
  auto start = std::chrono::steady_clock::now();
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto report = export_patient_bundle(*session, o);
  if (!report.ok()) {
    if (report.error().is(ErrorCode::kAlreadyExists))
      ctx.add_hint("name a new file, or remove the old one first; an export never overwrites one");
    return ctx.fail(report.error());
  }
  if (o.output == "-") {
    ctx.out() << report->text << std::flush;
    if (!ctx.out()) return ctx.fail(Error::io_error("cannot write to standard output"));
  }
  if (!ctx.quiet()) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctx.info(fmt::format("exported patient {} to {}: {} resource{} ({} referenced), {:.1f} MB in {:.1f} s",
                         report->patient, o.output == "-" ? "standard output" : o.output,
                         report->matches + report->included,
                         report->matches + report->included == 1 ? "" : "s", report->included,
                         static_cast<double>(report->bytes) / 1e6, seconds));
  }
  return kExitOk;
}

}  // namespace ehr::cli
