// ehr key passwd: change the passphrase of the slot the caller opened with.
#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_key_passwd(Context& ctx, const std::string& new_passphrase_file) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto secret = read_new_secret(ctx, "", new_passphrase_file, ctx.config().get("user"));
  if (!secret.ok()) return ctx.fail(secret.error());
  Status s = change_own_secret(*session, *secret, kdf_from_config(ctx));
  if (!s.ok()) return ctx.fail(s.error());
  ctx.info("changed the passphrase of " + ctx.config().get("user"));
  return 0;
}

}  // namespace

void setup_key_passwd(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto file = std::make_shared<std::string>();
  cmd.add_option("--new-passphrase-file", *file, "read the new passphrase from this file")
      ->type_name("FILE");
  add_config_flag(cmd, flags, "kdf");
  cmd.footer(
      "The slot keeps its index, user and label; the new passphrase is asked twice unless\n"
      "--new-passphrase-file is given.\n\n"
      "Examples:\n"
      "  ehr key passwd\n"
      "  ehr key passwd --passphrase-file old.txt --new-passphrase-file new.txt --kdf sensitive");
  run = [file](Context& ctx) { return run_key_passwd(ctx, *file); };
}

}  // namespace ehr::cli
