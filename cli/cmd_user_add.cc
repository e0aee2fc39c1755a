// ehr user add NAME --role R...: a new user with a first key slot.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct UserAddOptions {
  std::string name;
  std::vector<std::string> roles;
  std::string new_key_file;
  std::string new_passphrase_file;
  std::string label;
};

int run_user_add(Context& ctx, const UserAddOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  // Refused (77, a bad role, an existing name) before asking for a secret.
  if (Status st = check_user_add(*session, o.name, o.roles); !st.ok()) return ctx.fail(st.error());
  auto secret = read_new_secret(ctx, o.new_key_file, o.new_passphrase_file, o.name);
  if (!secret.ok()) return ctx.fail(secret.error());
  SlotOptions slot;
  slot.user = o.name;
  slot.label = o.label.empty() ? "initial" : o.label;
  slot.kdf = kdf_from_config(ctx);
  auto index = add_user(*session, slot, o.roles, *secret);
  if (!index.ok()) return ctx.fail(index.error());
  std::string roles;
  for (const auto& r : o.roles) roles += (roles.empty() ? "" : " ") + r;
  ctx.info(fmt::format("added user {} (roles: {}) with key slot {}", o.name, roles, *index));
  return 0;
}

}  // namespace

void setup_user_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<UserAddOptions>();
  cmd.add_option("NAME", o->name, "the new user's name (1-32 of a-z, 0-9, '.', '-', '_')")->required();
  cmd.add_option("--role", o->roles, "a role from the policy (repeatable; at least one)")
      ->required()
      ->type_name("ROLE");
  cmd.add_option("--new-key-file", o->new_key_file, "the user opens the database with this key file")
      ->type_name("FILE");
  cmd.add_option("--new-passphrase-file", o->new_passphrase_file,
                 "the user's first passphrase is the first line of this file")
      ->type_name("FILE");
  cmd.add_option("--label", o->label, "a label for the slot (default: initial)")->type_name("TEXT");
  add_config_flag(cmd, flags, "kdf");
  cmd.footer(
      "Needs the admin permission on User. Without --new-key-file or --new-passphrase-file the\n"
      "user's passphrase is asked twice on the terminal (let them type it). Roles: ehr policy show.\n\n"
      "Examples:\n"
      "  ehr user add bob --role physician\n"
      "  ehr user add rx1 --role pharmacist --new-passphrase-file /run/onboarding/rx1\n"
      "  ehr key new -o /etc/ehr/nightly.key && ehr user add nightly --role service --new-key-file /etc/ehr/nightly.key");
  run = [o](Context& ctx) { return run_user_add(ctx, *o); };
}

}  // namespace ehr::cli
