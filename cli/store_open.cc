// Secret reading and store opening for commands (store_open.h).
#include "store_open.h"

#include <sys/stat.h>

#include <filesystem>

#include <fmt/format.h>

#include "ehr/files.h"
#include "secret_input.h"

namespace ehr::cli {

Result<Secret> secret_from_key_file(const std::string& path) {
  auto bytes = read_key_file(path);
  if (!bytes.ok()) return bytes.error();
  auto secret = Secret::key_file(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size()));
  wipe(*bytes);
  return secret;
}

namespace {

// A passphrase or, with --recovery, a recovery code, from text.
Result<Secret> secret_from_text(Context& ctx, std::string& text) {
  if (ctx.recovery()) {
    auto s = Secret::recovery_code(text);
    wipe(text);
    return s;
  }
  Secret s = Secret::passphrase(text);
  wipe(text);
  return s;
}

}  // namespace

KdfParams kdf_from_config(const Context& ctx) {
  auto k = KdfParams::by_name(ctx.config().get("kdf"));
  return k ? *k : KdfParams::moderate();
}

namespace {

// A secret file others may read is a key others may hold: say so (as ssh
// does of a private key), without refusing what a cron job relies on.
void warn_if_others_read(Context& ctx, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 044) == 0) return;
  ctx.warning(fmt::format("{} can be read by {} (mode {:04o}): anyone who can read it opens the database as "
                          "this user; chmod 600 {}",
                          path, (st.st_mode & 004) != 0 ? "every user" : "its group", st.st_mode & 07777, path));
}

}  // namespace

Result<Secret> read_caller_secret(Context& ctx, const std::string& new_slot_user) {
  auto source = choose_secret_source(ctx);
  if (!source.ok()) return source.error();
  switch (source->kind) {
    case SecretSource::Kind::kKeyFile: {
      auto secret = secret_from_key_file(source->path);
      if (secret.ok()) warn_if_others_read(ctx, source->path);
      return secret;
    }
    case SecretSource::Kind::kPassphraseFile: {
      auto text = read_passphrase_file(source->path);
      if (!text.ok()) return text.error();
      warn_if_others_read(ctx, source->path);
      return secret_from_text(ctx, *text);
    }
    case SecretSource::Kind::kPrompt: {
      const bool is_new = !new_slot_user.empty() && !ctx.recovery();
      std::string what = ctx.recovery() ? "recovery code" : is_new ? "new passphrase" : "passphrase";
      auto text = prompt_passphrase(ctx, fmt::format("{} for {}", what, is_new ? new_slot_user : ctx.config().get("user")),
                                    is_new, kCallerSecretPrompt);
      if (!text.ok()) return text.error();
      return secret_from_text(ctx, *text);
    }
  }
  return Error::internal("unknown secret source");
}

Result<Secret> read_new_passphrase(Context& ctx, const std::string& passphrase_file,
                                   const std::string& user, std::string_view instead) {
  auto text = !passphrase_file.empty() ? read_passphrase_file(passphrase_file)
                                       : prompt_passphrase(ctx, "new passphrase for " + user, true,
                                                           {"a new passphrase", instead});
  if (!text.ok()) return text.error();
  Secret s = Secret::passphrase(*text);
  wipe(*text);
  return s;
}

Result<Secret> read_new_secret(Context& ctx, const std::string& key_file,
                               const std::string& passphrase_file, const std::string& user) {
  if (!key_file.empty() && !passphrase_file.empty())
    return Error::invalid_argument("--new-key-file and --new-passphrase-file are mutually exclusive");
  if (!key_file.empty()) return secret_from_key_file(key_file);
  return read_new_passphrase(ctx, passphrase_file, user, "--new-key-file or --new-passphrase-file");
}

Result<CallerAccess> caller_access(Context& ctx) {
  const std::string& path = ctx.config().get("db");
  if (!path_exists(path)) {
    ctx.add_hint(fmt::format("create a database with 'ehr init --db {}', or name one with --db or EHR_DB", path));
    return Error::no_input(fmt::format("{}: no such file", path));
  }
  // A symbolic link (current.db -> clinic-2026.db) stands for the file it
  // names: the store opens files by their own name (never following a
  // link), and the WAL, its index and the lock then sit beside that file
  // whichever link led to it, as SQLite names them.
  std::string file = path;
  std::error_code ec;
  if (std::filesystem::is_symlink(path, ec)) {
    auto target = std::filesystem::canonical(path, ec);
    if (!ec) file = target.string();
  }
  auto secret = read_caller_secret(ctx);
  if (!secret.ok()) return secret.error();
  OpenOptions options;
  options.user = ctx.config().get("user");
  return CallerAccess{file, std::move(*secret), options};
}

Result<Store> open_store(Context& ctx) {
  auto access = caller_access(ctx);
  if (!access.ok()) return access.error();
  return open_store_as_user(access->path, access->secret, access->options);
}

Result<Session> open_session(Context& ctx) { return open_session(ctx, EmergencyFlags{}); }

void add_emergency_flags(CLI::App& cmd, EmergencyFlags& flags) {
  cmd.add_flag("--emergency", flags.on,
               "break the glass: read a patient outside your care team (eligible roles only; "
               "time-limited, flagged for review)");
  cmd.add_option("--reason", flags.reason, "why emergency access is needed (with --emergency)")
      ->type_name("TEXT");
}

Result<Session> open_session(Context& ctx, const EmergencyFlags& flags) {
  if (flags.on && flags.reason.empty())
    return Error::invalid_argument("--emergency needs --reason TEXT");
  if (flags.on && flags.reason.find_first_not_of(" \t\r\n\v\f") == std::string::npos)
    return Error::invalid_argument("--reason is blank: say why emergency access is needed");
  if (!flags.on && !flags.reason.empty())
    return Error::invalid_argument("--reason goes with --emergency");
  auto access = caller_access(ctx);
  if (!access.ok()) return access.error();
  SessionOptions options;
  options.user = access->options.user;
  if (flags.on) options.emergency_reason = flags.reason;
  if (!ctx.purpose().empty())
    options.purpose = ctx.purpose();
  else if (flags.on)
    options.purpose = "emergency";
  options.recipient = ctx.recipient();
  return Session::open(access->path, access->secret, options);
}

void report_access(Context& ctx, const Session& s, std::string_view noun) {
  if (s.withheld() > 0)
    ctx.warning(fmt::format("{} {}{} withheld by the access policy", s.withheld(), noun,
                            s.withheld() == 1 ? "" : "s"));
  for (const auto& p : s.emergency_patients())
    ctx.warning(fmt::format("emergency access to patient {} is recorded and flagged for review", p));
  if (!ctx.recipient().empty())
    ctx.info(fmt::format("recorded as disclosed to {} for {}", ctx.recipient(), s.purpose()));
}

}  // namespace ehr::cli
