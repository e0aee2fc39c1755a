// ehr key passwd: change the passphrase of the slot the caller opened with.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

// How to replace the secret of a slot that is not a passphrase's.
std::string replace_hint(Session& session) {
  auto slots = session.store().list_slots();
  if (!slots.ok()) return "";
  for (const auto& s : *slots) {
    if (!s.opened_this_store) continue;
    if (s.type == SlotType::kKeyFile)
      return fmt::format(
          "to replace a key file: 'ehr key new -o NEW.key', 'ehr key add --new-key-file NEW.key', "
          "then 'ehr key remove {}'",
          s.index);
    if (s.type == SlotType::kRecoveryCode)
      return fmt::format(
          "to set a new passphrase: 'ehr key add', then remove the old passphrase's slot with "
          "'ehr key remove' (see 'ehr key list'); slot {} keeps the recovery code",
          s.index);
  }
  return "";
}

int run_key_passwd(Context& ctx, const std::string& new_passphrase_file) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  // Refused before the new passphrase is asked for.
  if (Status takes = check_own_slot_takes(*session, Secret::Kind::kPassphrase); !takes.ok()) {
    if (std::string hint = replace_hint(*session); !hint.empty()) ctx.add_hint(hint);
    return ctx.fail(takes.error());
  }
  auto secret = read_new_passphrase(ctx, new_passphrase_file, ctx.config().get("user"));
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
      "--new-passphrase-file is given. Only a passphrase slot can be changed: opened with a key\n"
      "file or a recovery code, it exits 65 (add a new slot with ehr key add and remove the old\n"
      "one with ehr key remove instead).\n\n"
      "Examples:\n"
      "  ehr key passwd\n"
      "  ehr key passwd --passphrase-file old.txt --new-passphrase-file new.txt --kdf sensitive");
  run = [file](Context& ctx) { return run_key_passwd(ctx, *file); };
}

}  // namespace ehr::cli
