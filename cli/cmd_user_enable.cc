// ehr user enable NAME: a disabled user back, with a new key slot.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct UserEnableOptions {
  std::string name;
  std::string new_key_file;
  std::string new_passphrase_file;
};

int run_user_enable(Context& ctx, const UserEnableOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto secret = read_new_secret(ctx, o.new_key_file, o.new_passphrase_file, o.name);
  if (!secret.ok()) return ctx.fail(secret.error());
  SlotOptions slot;
  slot.user = o.name;
  slot.label = "re-enabled";
  slot.kdf = kdf_from_config(ctx);
  auto index = enable_user(*session, slot, *secret);
  if (!index.ok()) return ctx.fail(index.error());
  ctx.info(fmt::format("enabled {} with key slot {}", o.name, *index));
  return 0;
}

}  // namespace

void setup_user_enable(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<UserEnableOptions>();
  cmd.add_option("NAME", o->name, "the disabled user")->required();
  cmd.add_option("--new-key-file", o->new_key_file, "the user opens the database with this key file")
      ->type_name("FILE");
  cmd.add_option("--new-passphrase-file", o->new_passphrase_file,
                 "the user's new passphrase is the first line of this file")
      ->type_name("FILE");
  add_config_flag(cmd, flags, "kdf");
  cmd.footer(
      "Needs the admin permission on User. Disabling removed the user's slots, so enabling makes a new one: a passphrase asked twice\n"
      "on the terminal, or --new-key-file / --new-passphrase-file.\n\n"
      "Examples:\n"
      "  ehr user enable bob\n"
      "  ehr user enable nightly --new-key-file /etc/ehr/nightly.key");
  run = [o](Context& ctx) { return run_user_enable(ctx, *o); };
}

}  // namespace ehr::cli
