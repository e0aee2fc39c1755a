// Opening the database from the command line: choosing and reading the
// caller's secret (secret_input.h) and calling ehr::Store::open with the
// effective --db and --user. Every command that touches the database goes
// through open_store(), so none can skip authentication.

#ifndef EHR_CLI_STORE_OPEN_H_
#define EHR_CLI_STORE_OPEN_H_

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "context.h"
#include "ehr/session.h"
#include "ehr/store.h"

namespace ehr::cli {

// Reads the caller's secret from --key-file, --passphrase-file or a prompt
// ("passphrase for USER", USER from --user); with --recovery, the passphrase
// source holds a recovery code instead. `new_slot_user` non-empty: the
// secret is that of a new slot of that user (ehr init --admin NAME), so a
// prompted passphrase is asked twice, as "new passphrase for NAME".
Result<Secret> read_caller_secret(Context& ctx, const std::string& new_slot_user = "");

// The 32-byte secret in key file `path` (hex text or raw bytes).
// Errors: kNoInput, kInvalidData "key file F is not a key: ...".
Result<Secret> secret_from_key_file(const std::string& path);

// Reads a new passphrase for a slot of `user` from `passphrase_file`
// (non-empty), else a prompt asked twice ("new passphrase for USER").
// `instead` names the command's options that avoid the prompt, for the
// error when it cannot be asked (prompt_passphrase).
// Errors: as read_passphrase_file / prompt_passphrase.
Result<Secret> read_new_passphrase(Context& ctx, const std::string& passphrase_file,
                                   const std::string& user,
                                   std::string_view instead = "--new-passphrase-file");

// Reads a new secret for a slot from `key_file` (non-empty), else
// `passphrase_file` (non-empty), else a prompt asked twice ("new passphrase
// for USER"), for the commands with --new-key-file and
// --new-passphrase-file. Errors: kInvalidArgument when both files are
// given; as read_key_file / read_new_passphrase.
Result<Secret> read_new_secret(Context& ctx, const std::string& key_file,
                               const std::string& passphrase_file, const std::string& user);

// What opening the database takes: the --db path (which exists; a symbolic
// link resolved to the file it names), the caller's secret, and the options
// naming --user.
struct CallerAccess {
  std::string path;
  Secret secret;
  OpenOptions options;
};

// Checks that --db exists (kNoInput with a hint to run `ehr init`
// otherwise) and reads the caller's secret.
Result<CallerAccess> caller_access(Context& ctx);

// Opens --db as --user with the caller's secret, without a session
// (open_store_as_user: a refused secret or a disabled user is journalled).
// Errors: those of choose_secret_source and open_store_as_user; a missing
// database is kNoInput with a hint to run `ehr init`.
Result<Store> open_store(Context& ctx);

// Opens a record session on --db as --user with the caller's secret
// (schema migrations applied), for --purpose (default treatment) and
// --recipient. Errors: those of open_store and Session::open.
Result<Session> open_session(Context& ctx);

// --emergency --reason TEXT of the reading commands: break the glass.
struct EmergencyFlags {
  bool on = false;
  std::string reason;
};
void add_emergency_flags(CLI::App& cmd, EmergencyFlags& flags);

// open_session with break-the-glass requested when flags.on (and then the
// purpose emergency unless --purpose names another).
// Errors: kInvalidArgument "--emergency needs --reason TEXT" (and the
// reverse); those of open_session.
Result<Session> open_session(Context& ctx, const EmergencyFlags& flags);

// After a read or search: a warning naming how many records (`noun`s: a
// history withholds versions) the policy withheld, one for each patient read
// under break-the-glass, and with --recipient a line saying the read was
// recorded as a disclosure.
void report_access(Context& ctx, const Session& s, std::string_view noun = "record");

// The Argon2id cost named by the effective `kdf` setting.
KdfParams kdf_from_config(const Context& ctx);

}  // namespace ehr::cli

#endif  // EHR_CLI_STORE_OPEN_H_
