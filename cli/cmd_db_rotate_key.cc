// ehr db rotate-key: re-encrypt the database under a new data key.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/files.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_db_rotate_key(Context& ctx) {
  const std::string& path = ctx.config().get("db");
  if (!path_exists(path)) return ctx.fail(Error::no_input(fmt::format("{}: no such file", path)));
  auto secret = read_caller_secret(ctx, false);
  if (!secret.ok()) return ctx.fail(secret.error());
  OpenOptions options;
  options.user = ctx.config().get("user");
  Status s = rotate_key(path, *secret, options);
  if (!s.ok()) return ctx.fail(s.error());
  ctx.info(fmt::format("rotated the data key of {}; every key slot still opens it", path));
  return 0;
}

}  // namespace

void setup_db_rotate_key(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Needs exclusive use of the database (exit 75 while another process has it open).\n\n"
      "Examples:\n"
      "  ehr db rotate-key\n"
      "  ehr key remove 2 && ehr db rotate-key");
  run = run_db_rotate_key;
}

}  // namespace ehr::cli
