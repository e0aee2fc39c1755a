// ehr key add: a new key slot (passphrase, key file or recovery code).
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "secret_input.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct KeyAddOptions {
  std::string for_user;
  std::string new_key_file;
  std::string new_passphrase_file;
  bool recovery_code = false;
  std::string label;
};

int run_key_add(Context& ctx, const KeyAddOptions& o) {
  int sources = !o.new_key_file.empty() + !o.new_passphrase_file.empty() + o.recovery_code;
  if (sources > 1)
    return ctx.fail(Error::invalid_argument(
        "--new-key-file, --new-passphrase-file and --recovery-code are mutually exclusive"));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  SlotOptions slot;
  slot.user = o.for_user.empty() ? ctx.config().get("user") : o.for_user;
  slot.label = o.label;
  slot.kdf = kdf_from_config(ctx);
  std::optional<Secret> secret;
  if (o.recovery_code) {
    secret.emplace(new_recovery_code());
    if (slot.label.empty()) slot.label = "recovery code";
  } else {
    auto s = read_new_secret(ctx, o.new_key_file, o.new_passphrase_file, slot.user);
    if (!s.ok()) return ctx.fail(s.error());
    secret.emplace(std::move(*s));
  }
  auto index = add_key(*session, slot, *secret);
  if (!index.ok()) return ctx.fail(index.error());
  if (o.recovery_code) {
    std::string text = secret->recovery_code_text();
    ctx.out() << text << '\n' << std::flush;
    wipe(text);
    ctx.info("the line above is a recovery code for " + slot.user +
             "; store it offline, it is not shown again");
  }
  ctx.info(fmt::format("added key slot {} for {}", *index, slot.user));
  return 0;
}

}  // namespace

void setup_key_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<KeyAddOptions>();
  cmd.add_option("--for", o->for_user, "the user the new slot opens as (default: --user)")
      ->type_name("USER");
  cmd.add_option("--new-key-file", o->new_key_file, "the new slot opens with this key file")
      ->type_name("FILE");
  cmd.add_option("--new-passphrase-file", o->new_passphrase_file,
                 "the new slot opens with the first line of this file")
      ->type_name("FILE");
  cmd.add_flag("--recovery-code", o->recovery_code,
               "make a recovery code, print it once on stdout, and add a slot for it");
  cmd.add_option("--label", o->label, "a label for the slot (at most 48 bytes)")->type_name("TEXT");
  add_config_flag(cmd, flags, "kdf");
  cmd.footer(
      "Without --new-key-file, --new-passphrase-file or --recovery-code, the new passphrase is\n"
      "asked twice on the terminal. You open the database with your own secret first. A slot for\n"
      "another user (--for) needs the admin permission on Key; that user must exist (ehr user add).\n\n"
      "Examples:\n"
      "  ehr key add --new-key-file /etc/ehr/export.key --for export-svc --label nightly\n"
      "  ehr key add --label laptop\n"
      "  ehr key add --recovery-code > /media/usb/ehr-recovery.txt");
  run = [o](Context& ctx) { return run_key_add(ctx, *o); };
}

}  // namespace ehr::cli
