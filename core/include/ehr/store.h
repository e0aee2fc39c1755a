// The encrypted store: one SQLite database file, encrypted page by page, with
// a LUKS-like header of key slots in front of it.
//
// This header is the whole public surface of the storage engine that the CLI
// sees: secrets, KDF cost presets, creating and opening a store, and the
// maintenance operations (slots, check, backup, key rotation, info). The file
// format is described in core/src/store_header.h and core/src/sqlite_vfs.h;
// /work/shared/design/encrypted-store.md is the specification.
//
// Thread safety: Secret and the plain structs are values. A Store is a single
// connection and must be used by one thread at a time; distinct Stores (in one
// or several processes) may use the same file concurrently.

#ifndef EHR_STORE_H_
#define EHR_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ehr/status.h"

namespace ehr {

// Argon2id cost parameters of a passphrase key slot. They are stored in the
// slot, so a file always describes its own cost. Values are libsodium's
// crypto_pwhash_argon2id presets.
struct KdfParams {
  std::uint64_t opslimit = 3;                         // passes over memory
  std::uint64_t memlimit = std::uint64_t{256} << 20;  // bytes

  // 2 passes, 64 MiB: the minimum ehr accepts for real use.
  static KdfParams interactive() { return {2, std::uint64_t{64} << 20}; }
  // 3 passes, 256 MiB (about 0.4 s on a 2-core VM): the default.
  static KdfParams moderate() { return {3, std::uint64_t{256} << 20}; }
  // 4 passes, 1 GiB.
  static KdfParams sensitive() { return {4, std::uint64_t{1} << 30}; }
  // libsodium's minimum (1 pass, 8 KiB). Offers no protection; tests only.
  static KdfParams min_for_testing() { return {1, 8192}; }

  // Returns the preset called `name` ("interactive", "moderate",
  // "sensitive"), or nullopt for any other name.
  static std::optional<KdfParams> by_name(std::string_view name);

  friend bool operator==(const KdfParams&, const KdfParams&) = default;
};

// A secret that opens a key slot: a passphrase, the 32 bytes of a key file,
// or a recovery code. The bytes live in guarded, mlocked memory (libsodium's
// sodium_malloc) and are wiped when the Secret is destroyed. Move-only.
class Secret {
 public:
  enum class Kind { kPassphrase, kKeyFile, kRecoveryCode };

  // Length of a key file and of a decoded recovery code.
  static constexpr std::size_t kKeyBytes = 32;

  // A passphrase, taken as raw bytes (callers should pass UTF-8 in NFC).
  // Never fails; emptiness is checked where a slot is created.
  static Secret passphrase(std::string_view utf8);

  // The contents of a key file. Returns kInvalidArgument "key file must hold
  // exactly 32 bytes" for any other length.
  static Result<Secret> key_file(std::span<const std::uint8_t> contents);

  // A recovery code as printed by recovery_code_text(): RFC 4648 base32,
  // case-insensitive, '-' and white space ignored. Returns kInvalidArgument
  // "malformed recovery code" unless it decodes to exactly 32 bytes.
  static Result<Secret> recovery_code(std::string_view text);

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  Kind kind() const { return kind_; }

  // The raw secret bytes. Valid until the Secret is destroyed or moved from.
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }

  // The code in display form: 52 base32 characters in groups of four joined
  // by '-'. The returned string is ordinary memory; show it once and drop it.
  // REQUIRES: kind() == Kind::kRecoveryCode
  std::string recovery_code_text() const;

 private:
  friend Secret new_key_file_bytes();
  friend Secret new_recovery_code();
  Secret(Kind kind, std::size_t size);

  Kind kind_;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Returns a fresh random key-file secret (32 bytes from the OS CSPRNG). The
// caller writes bytes() to the key file, mode 0600.
Secret new_key_file_bytes();

// Returns a fresh random recovery code (32 bytes); show recovery_code_text()
// to the user exactly once.
Secret new_recovery_code();

}  // namespace ehr

#endif  // EHR_STORE_H_
