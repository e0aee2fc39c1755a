// ehr db recover: save the files aside, then reopen past a WAL anomaly.
#include <fmt/format.h>

#include "commands.h"
#include "exit_codes.h"
#include "output.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_db_recover(Context& ctx) {
  auto access = caller_access(ctx);
  if (!access.ok()) return ctx.fail(access.error());
  const std::string& path = access->path;
  auto report = recover_store_as_user(path, access->secret, access->options);
  if (!report.ok()) return ctx.fail(report.error());
  Json doc = Json::object();
  doc.set("path", Json::string(path));
  doc.set("saved_to", Json::string(report->saved_to));
  doc.set("anomaly", text_or_null(report->anomaly));
  doc.set("ok", Json::boolean(report->check.ok()));
  doc.set("pages_checked", Json::number(static_cast<int64_t>(report->check.pages_checked)));
  ctx.print_document(doc);
  ctx.info(fmt::format("the files as found are in {}", report->saved_to));
  if (!report->anomaly.empty())
    ctx.warning("transactions after the damaged WAL frame were dropped; compare with a backup");
  if (!report->check.ok()) {
    ctx.error(fmt::format("{}: {}", path, report->check.problems.front()));
    return kExitDataErr;
  }
  return kExitOk;
}

}  // namespace

void setup_db_recover(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Use it when opening fails with \"... failed authentication; the WAL was kept for recovery\"\n"
      "(a torn write after a power loss, or tampering). The files as found are copied to\n"
      "<db>.recover-<UTC time>/ first; then every transaction before the damaged frame is kept.\n\n"
      "Examples:\n"
      "  ehr db recover\n"
      "  ehr db recover --db /srv/ehr/clinic.db && ehr db check");
  run = run_db_recover;
}

}  // namespace ehr::cli
