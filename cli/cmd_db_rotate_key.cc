// ehr db rotate-key: re-encrypt the database under a new data key.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/access.h"
#include "interrupt.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_db_rotate_key(Context& ctx) {
  auto access = caller_access(ctx);
  if (!access.ok()) return ctx.fail(access.error());
  const std::string& path = access->path;
  {
    // The decision first, in a session that is closed again before the
    // rotation takes the file for itself.
    auto session = open_session(ctx);
    if (!session.ok()) return ctx.fail(session.error());
    Status allowed = authorize_operation(*session, Action::kAdmin, "Database", "db-rotate-key", "");
    if (!allowed.ok()) return ctx.fail(allowed.error());
  }
  // SIGINT or SIGTERM (timeout(1) in cron) before the rename: the new copy
  // is removed and the database stays as it was (exit 130).
  InterruptGuard signals;
  auto report = rotate_key(path, access->secret, access->options, InterruptGuard::cancelled());
  if (!report.ok()) return ctx.fail(report.error());
  for (const auto& f : report->removed_stale)
    ctx.info(fmt::format("removed {}, left by a rotate-key that did not finish", f));
  ctx.info(fmt::format("rotated the data key of {}; every key slot still opens it", path));
  return 0;
}

}  // namespace

void setup_db_rotate_key(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Needs the admin permission on Database, and exclusive use of the database (exit 75\n"
      "while another process has it open). A command that opened the database before the\n"
      "new file replaced it fails with exit 75 and writes nothing: run it again. Copies left\n"
      "by a rotate-key that was killed (DB.rotate-*) are removed; an interrupted one\n"
      "(SIGINT, SIGTERM) removes its copy and exits 130.\n\n"
      "Examples:\n"
      "  ehr db rotate-key\n"
      "  ehr key remove 2 && ehr db rotate-key");
  run = run_db_rotate_key;
}

}  // namespace ehr::cli
