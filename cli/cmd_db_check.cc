// ehr db check: authenticate every page and run SQLite's integrity check.
#include <fmt/format.h>

#include "commands.h"
#include "exit_codes.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_db_check(Context& ctx) {
  auto store = open_store(ctx);
  if (!store.ok()) return ctx.fail(store.error());
  auto report = store->check();
  if (!report.ok()) return ctx.fail(report.error());
  Json doc = Json::object();
  doc.set("path", Json::string(store->path()));
  doc.set("ok", Json::boolean(report->ok()));
  doc.set("pages_checked", Json::number(static_cast<int64_t>(report->pages_checked)));
  doc.set("wal_frames_checked", Json::number(static_cast<int64_t>(report->wal_frames_checked)));
  doc.set("first_bad_page", report->first_bad_page
                                ? Json::number(int64_t{*report->first_bad_page})
                                : Json());
  Json problems = Json::array();
  for (const auto& p : report->problems) problems.push_back(Json::string(p));
  doc.set("problems", std::move(problems));
  ctx.print_document(doc);
  if (report->ok()) return kExitOk;
  ctx.error(report->first_bad_page
                ? fmt::format("{}: page {} failed authentication: {}", store->path(),
                              *report->first_bad_page, report->problems.front())
                : fmt::format("{}: {}", store->path(), report->problems.front()));
  ctx.hint("restore from a backup (ehr db backup) or copy the files aside before any repair");
  return kExitDataErr;
}

}  // namespace

void setup_db_check(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Exit status 0 when every page authenticates and the integrity check passes, 65 otherwise.\n\n"
      "Examples:\n"
      "  ehr db check\n"
      "  ehr db check -q --key-file /etc/ehr/svc.key || logger -t ehr 'db check failed'");
  run = run_db_check;
}

}  // namespace ehr::cli
