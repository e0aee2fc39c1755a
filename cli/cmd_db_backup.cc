// ehr db backup --to FILE: an online, consistent, still-encrypted copy.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/access.h"
#include "interrupt.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_db_backup(Context& ctx, const std::string& to) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  Status allowed = authorize_operation(*session, Action::kExport, "Database", "db-backup", "");
  if (!allowed.ok()) return ctx.fail(allowed.error());
  Store* store = &session->store();
  // SIGINT and SIGTERM stop the copy; its temporary is removed (exit 130).
  InterruptGuard signals;
  std::vector<std::string> stale;
  Status s = store->backup(to, InterruptGuard::cancelled(), &stale);
  for (const auto& path : stale) ctx.info(fmt::format("removed {}, left by a backup or init that did not finish", path));
  if (!s.ok()) return ctx.fail(s.error());
  ctx.info(fmt::format("backed up {} to {} (encrypted; the same secrets open it)", store->path(), to));
  return 0;
}

}  // namespace

void setup_db_backup(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto to = std::make_shared<std::string>();
  cmd.add_option("--to", *to, "the backup file to create (must not exist)")->required()->type_name("FILE");
  cmd.footer(
      "Needs export on Database (admin and service roles).\n\n"
      "Examples:\n"
      "  ehr db backup --to /backup/clinic-$(date +%F).db\n"
      "  ehr db backup --to /mnt/offsite/clinic.db --key-file /etc/ehr/backup.key -q");
  run = [to](Context& ctx) { return run_db_backup(ctx, *to); };
}

}  // namespace ehr::cli
