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
  // Not a fault of this file, but each is a copy of it that the key slots
  // of its time open, a removed user's among them.
  std::vector<std::string> leftovers = rotation_leftovers(store->path());
  Json left = Json::array();
  for (const auto& f : leftovers) left.push_back(Json::string(f));
  doc.set("rotation_leftovers", std::move(left));
  ctx.print_document(doc);
  for (const auto& f : leftovers)
    ctx.warning(fmt::format("{}: a copy left by a rotate-key that did not finish; it opens with "
                            "the key slots it had then ('ehr db rotate-key' removes it)",
                            f));
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
      "Exit status 0 when every page authenticates and the integrity check passes, 65 otherwise.\n"
      "Copies left beside the database by a rotate-key that did not finish are named in a\n"
      "warning (rotation_leftovers); they do not change the exit status.\n\n"
      "Examples:\n"
      "  ehr db check\n"
      "  ehr db check -q --key-file /etc/ehr/svc.key || logger -t ehr 'db check failed'");
  run = run_db_check;
}

}  // namespace ehr::cli
