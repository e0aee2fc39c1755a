// Where the secret that opens the database comes from, and reading it.
//
// Sources, in order: --key-file / EHR_KEY_FILE (a key file made by
// `ehr key new`), --passphrase-file / EHR_PASSPHRASE_FILE (the first line of
// the file), else a prompt on the controlling terminal without echo. Naming
// both files is a usage error (they are mutually exclusive, as age does it);
// with --no-input, or without a terminal, and no file, it is a usage error
// with a hint. No option ever takes a secret value on the command line.
//
// Secrets read here are handed to core at once and wiped (wipe()).

#ifndef EHR_CLI_SECRET_INPUT_H_
#define EHR_CLI_SECRET_INPUT_H_

#include <string>
#include <string_view>

#include "context.h"
#include "ehr/status.h"

namespace ehr::cli {

struct SecretSource {
  enum class Kind { kKeyFile, kPassphraseFile, kPrompt };
  Kind kind;
  std::string path;  // the file, for kKeyFile and kPassphraseFile
};

// Chooses the source from the effective configuration. `purpose` ("open the
// database") is used in the error's hint. Errors: kInvalidArgument.
Result<SecretSource> choose_secret_source(const Context& ctx);

// Reads a key file: 64 hexadecimal characters (optionally followed by a
// newline), or exactly 32 raw bytes. Returns the 32 key bytes.
// Errors: kNoInput (missing/unreadable), kInvalidData (wrong shape; the
// message names the file, never its content).
Result<std::string> read_key_file(const std::string& path);

// Reads the first line of a passphrase file (without CR/LF).
// Errors: kNoInput, kInvalidData (empty passphrase).
Result<std::string> read_passphrase_file(const std::string& path);

// What a prompt asks for and which options of the command would give it
// instead, for the error when it cannot be asked.
struct PromptFallback {
  std::string_view need;     // "a passphrase", "a new passphrase"
  std::string_view instead;  // "--new-key-file or --new-passphrase-file"
};

// The caller's secret: --key-file or --passphrase-file.
inline constexpr PromptFallback kCallerSecretPrompt{
    "a passphrase", "--key-file or --passphrase-file (or EHR_KEY_FILE, EHR_PASSPHRASE_FILE)"};

// Prompts on the terminal with echo off. With `confirm`, asks twice and
// fails when the answers differ. Errors: kInvalidArgument "NEED is needed
// and --no-input forbids prompting; use INSTEAD" (or "... and there is no
// terminal to ask on; ..."), kInvalidData (empty or mismatch), kInterrupted
// (end of input).
Result<std::string> prompt_passphrase(Context& ctx, const std::string& prompt, bool confirm,
                                      const PromptFallback& fallback);

// Overwrites and clears `s` in a way the compiler may not elide.
void wipe(std::string& s);

// Formats 32 key bytes as a key file's content (64 hex digits and a newline).
std::string key_file_text(const std::string& key);

}  // namespace ehr::cli

#endif  // EHR_CLI_SECRET_INPUT_H_
