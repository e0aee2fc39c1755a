// ehr init: create the encrypted database and its first administrator's slot.
#include <optional>

#include <fmt/format.h>

#include "commands.h"
#include "ehr/session.h"
#include "ehr/store.h"
#include "ehr/users.h"
#include "secret_input.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct InitOptions {
  std::string admin;
  std::vector<std::string> roles;
  bool recovery_code = false;
};

int run_init(Context& ctx, const InitOptions& o) {
  const std::string& path = ctx.config().get("db");
  SlotOptions slot;
  slot.user = o.admin.empty() ? ctx.config().get("user") : o.admin;
  slot.label = "initial";
  slot.kdf = kdf_from_config(ctx);
  if (ctx.recovery())
    return ctx.fail(Error::invalid_argument("--recovery cannot be used with init; use --recovery-code"));
  // Before the passphrase is asked for; Session::create checks it again.
  if (Status name = check_user_name(slot.user); !name.ok()) {
    if (o.admin.empty()) ctx.add_hint("name the first administrator with --admin NAME");
    return ctx.fail(name.error());
  }
  auto secret = read_caller_secret(ctx, slot.user);
  if (!secret.ok()) return ctx.fail(secret.error());
  SessionOptions options;
  options.user = slot.user;
  options.first_user_roles = o.roles;
  std::optional<Secret> code;
  if (o.recovery_code) code = new_recovery_code();
  options.recovery_code = code ? &*code : nullptr;
  auto session = Session::create(path, slot, *secret, options);
  if (!session.ok()) return ctx.fail(session.error());
  Store* store = &session->store();
  for (const auto& stale : store->removed_stale())
    ctx.info(fmt::format("removed {}, left by an init or backup that did not finish", stale));
  std::string kind(slot_type_name(secret->kind() == Secret::Kind::kKeyFile ? SlotType::kKeyFile
                                                                           : SlotType::kPassphrase));
  if (code) {
    std::string text = code->recovery_code_text();
    ctx.out() << text << '\n' << std::flush;
    wipe(text);
    ctx.info("the line above is a recovery code: it opens this database as " + slot.user +
             "; store it offline, it is not shown again");
  }
  std::string roles;
  for (const auto& r : session->roles()) roles += (roles.empty() ? "" : " ") + r;
  ctx.info(fmt::format("created {} with administrator {} (roles: {}; {} slot{})", path, slot.user, roles,
                       kind, kind == "passphrase" ? ", kdf " + ctx.config().get("kdf") : ""));
  return 0;
}

}  // namespace

void setup_init(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  auto o = std::make_shared<InitOptions>();
  cmd.add_option(
         "--admin", o->admin,
         "name of the first administrator, 1-32 of a-z, 0-9, '.', '-', '_' (default: --user)")
      ->type_name("NAME");
  cmd.add_option("--role", o->roles,
                 "a role of the first user besides admin (repeatable), e.g. physician in a one-doctor practice")
      ->type_name("ROLE");
  add_config_flag(cmd, flags, "kdf");
  cmd.add_flag("--recovery-code", o->recovery_code,
               "also add a recovery-code slot and print the code once on stdout");
  cmd.footer(
      "The first slot opens with --key-file, --passphrase-file, or a passphrase asked twice.\n"
      "The first user has the admin role, which manages users, keys and the policy but reads no\n"
      "clinical data; --role adds a clinical role. Never overwrites an existing file (exit 73).\n\n"
      "Examples:\n"
      "  ehr init --db clinic.db --admin alice --recovery-code\n"
      "  ehr init --db practice.db --admin drsmith --role physician\n"
      "  ehr key new -o svc.key && ehr init --db feed.db --admin svc --key-file svc.key");
  run = [o](Context& ctx) { return run_init(ctx, *o); };
}

}  // namespace ehr::cli
