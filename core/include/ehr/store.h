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
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

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

// Makes the process undumpable (prctl PR_SET_DUMPABLE 0 and RLIMIT_CORE 0)
// so keys and decrypted pages never land in a core file. Call once at
// startup, before any secret is read. Errors: kIoError naming the failed call.
Status disable_core_dumps();

// What kind of secret a key slot takes.
enum class SlotType : std::uint8_t {
  kPassphrase = 1,    // Argon2id over a passphrase
  kKeyFile = 2,       // 32 raw bytes from a key file
  kRecoveryCode = 3,  // 32 raw bytes shown once as base32
};

// Returns "passphrase", "key-file" or "recovery-code".
std::string_view slot_type_name(SlotType type);

// How a new key slot is labelled and, for a passphrase, how costly it is.
struct SlotOptions {
  std::string user;   // the ehr user this slot authenticates; at most 32 bytes
  std::string label;  // free text, e.g. "laptop" or "paper backup"; at most 48 bytes
  KdfParams kdf = KdfParams::moderate();  // used by passphrase slots only
};

// A key slot as listed by Store::list_slots(). Holds no key material.
struct SlotInfo {
  int index = 0;  // 0..7, stable for the life of the slot
  SlotType type = SlotType::kPassphrase;
  std::string user;
  std::string label;
  KdfParams kdf{0, 0};  // {0, 0} unless type == kPassphrase
  bool opened_this_store = false;  // this slot unlocked the current Store
};

// Facts about an open store (Store::info()).
struct StoreInfo {
  std::uint32_t format_version = 0;  // ehr header format, 1
  std::uint32_t page_size = 0;       // 4096
  std::uint32_t reserve = 0;         // 48 bytes of nonce, tag and trailer per page
  std::string cipher;                // "xchacha20-poly1305"
  std::uint64_t generation = 0;      // bumped by every key-slot change
  std::string file_id;               // 32 hex digits; changes with rotate_key
  std::uint64_t file_size = 0;       // bytes of the main file, header included
  std::uint64_t page_count = 0;      // SQLite pages, including the WAL's
  std::int64_t schema_version = 0;   // ehr's record schema (PRAGMA user_version); 0 = none yet
  std::vector<SlotInfo> slots;       // active slots only, by index
};

// The outcome of Store::check(). ok() when nothing was found.
struct CheckReport {
  bool ok() const { return problems.empty(); }
  std::uint64_t pages_checked = 0;  // pages of the main file authenticated
  std::uint64_t wal_frames_checked = 0;  // frames of the live WAL log authenticated
  std::optional<std::uint32_t> first_bad_page;  // first page failing its MAC
  std::vector<std::string> problems;  // one line each, first problem first
};

// How to open a store.
struct OpenOptions {
  // When non-empty, only key slots of this user are tried.
  std::string user;
  // How long to wait for another process's lock before kBusy. Default 5 s.
  int busy_timeout_ms = 5000;
  // Open even when WAL recovery found a damaged frame that a later
  // transaction follows (a WAL anomaly; a torn last transaction, as a power
  // loss leaves it, is no anomaly and is dropped silently). Only for `ehr
  // recover`, after it has copied the files aside. Default off.
  bool allow_wal_anomaly = false;
};

class StoreInternal;

// An open encrypted store: one SQLite connection through the ehrcrypt VFS,
// in WAL mode with synchronous=FULL. Move-only; closing (destruction) wipes
// the key material. Errors never contain secrets.
class Store {
 public:
  // Creates a new store at `path` (mode 0600) with one key slot for `secret`
  // and opens it. The first slot gets index 0.
  // Errors: kAlreadyExists "<path>: already exists" (also for a leftover
  // "<path>-wal" or "<path>-journal", which would be replayed); kCantCreate
  // "<path>: cannot create: <reason>"; kInvalidArgument for bad slot options
  // (see add_slot); kIoError. On failure no file is left behind. The
  // database is built under a temporary name beside `path` and moved there
  // complete (create_staged then publish), so a killed run leaves nothing at
  // `path`; the next create removes such a temporary.
  static Result<Store> create(const std::string& path, const SlotOptions& first,
                              const Secret& secret);

  // As create, but the store stays open under its temporary name
  // ".NAME.tmp-XXXXXXXX" (flocked, so no other run takes it for a killed
  // one's) until publish(): what is written before that (a schema, a first
  // user) is at `path` whole or not at all.
  static Result<Store> create_staged(const std::string& path, const SlotOptions& first,
                                     const Secret& secret);
  // Moves a staged store to its path and reopens it there with the same
  // key; nothing for a store that is not staged. REQUIRES: no statement of
  // the caller's is open on the store. On failure the temporary is removed
  // and the store cannot be used.
  // Errors: kAlreadyExists "<path>: already exists" (created meanwhile);
  // kCantCreate; kIoError.
  Status publish();
  // The temporaries of killed runs that create or create_staged removed.
  const std::vector<std::string>& removed_stale() const;

  // Opens an existing store. The header is read and a slot unwrapped before
  // SQLite sees the file, so a wrong secret changes nothing on disk (no -shm,
  // no WAL recovery, no mtime change).
  // Errors: kNoInput "<path>: no such file"; kCorruption "<path>: not an ehr
  // file", "<path>: damaged header", "<path>: header authentication failed";
  // kAuthFailed "wrong passphrase or key" (deliberately vague); kCorruption
  // "<path>: wal frame <n> ... failed authentication; the WAL was kept for
  // recovery" unless options.allow_wal_anomaly; kBusy; kIoError.
  static Result<Store> open(const std::string& path, const Secret& secret,
                            const OpenOptions& options = {});

  Store(Store&& other) noexcept;
  Store& operator=(Store&& other) noexcept;
  ~Store();

  // The path this store was opened with.
  const std::string& path() const;

  // Format facts, size and the key slots. Errors: kCorruption, kIoError.
  Result<StoreInfo> info();

  // The active key slots, by index. Errors: kCorruption, kIoError.
  Result<std::vector<SlotInfo>> list_slots();

  // Adds a key slot for `secret` (its kind picks the slot type) and returns
  // its index. The header change is O(1): the inactive header copy is
  // rewritten, synced, then mirrored, under SQLite's write lock.
  // Errors: kConflict "all 8 key slots are in use"; kInvalidArgument "user
  // name too long (max 32 bytes)", "label too long (max 48 bytes)", "empty
  // passphrase", "unsupported KDF parameters"; kBusy; kIoError.
  Result<int> add_slot(const SlotOptions& slot, const Secret& secret);

  // Removes slot `index`. A copied old header still opens with the removed
  // secret: rotate_key() if that matters.
  // Errors: kNotFound "no key slot <index>"; kConflict "cannot remove the
  // last key slot"; kBusy; kIoError.
  Status remove_slot(int index);

  // Replaces the secret of the slot that opened this store (`ehr key
  // passwd`): same index, user and label, new salt; `kdf` applies when
  // `new_secret` is a passphrase. The slot's type becomes that of
  // `new_secret`'s kind (ehr/users.h change_own_secret refuses a change of
  // type, which would lock out the holder of the old secret).
  // Errors: kConflict "the slot that opened this store no longer exists";
  // the kInvalidArgument errors of add_slot; kBusy; kIoError.
  Status change_secret(const Secret& new_secret, const KdfParams& kdf);

  // Verifies both header copies, authenticates every frame of the live WAL
  // log and every page of the main file (skipping the lock-byte page, and
  // not counting a page against the file when its current version is a WAL
  // frame not yet checkpointed, which the next checkpoint rewrites) and runs
  // PRAGMA integrity_check. Problems
  // go into the report; an Error means the check itself could not run.
  // Errors: kBusy, kIoError.
  Result<CheckReport> check();

  // Writes an online, consistent, still-encrypted copy to `target` (VACUUM
  // INTO through the shim). The copy has the same header: the same DEK,
  // file_id and slots, so the same secrets open it. It is written to a
  // temporary ".NAME.tmp-XXXXXXXX" beside `target` (flocked while in use),
  // synced, and moved to `target` only if nothing is there (never replacing
  // a file), then the directory is synced: `target` appears whole or not at
  // all, even when the process is killed. Temporaries that killed backups
  // to the same `target` left are removed first; their names go to
  // `*removed_stale` when given. `cancelled`, when set, is polled during the
  // copy; once it returns true the backup stops.
  // Errors: kAlreadyExists "<target>: already exists"; kCantCreate; kBusy;
  // kIoError ("<target>: the disk is full", ...); kInterrupted. On failure
  // neither `target` nor a temporary is left behind.
  Status backup(const std::string& target, const std::function<bool()>& cancelled = {},
                std::vector<std::string>* removed_stale = nullptr);

 private:
  friend class StoreInternal;
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What rotate_key() did besides the rotation.
struct RotateReport {
  // "<path>.rotate-<16 hex digits>" copies a rotation that did not finish
  // left (killed before its rename), removed with their side files.
  std::vector<std::string> removed_stale;
};

// Replaces the data key: copies the store with VACUUM INTO into a new file
// "<path>.rotate-<16 hex digits>" with a new DEK and file_id, in which every
// slot opens with its old secret, verifies the copy, then renames it over
// `path`. Needs exclusive use of the store (a maintenance window): any other
// open connection makes it kBusy. Under that lock it first removes the
// copies (and their -wal, -shm, -journal) of rotations that did not finish.
// A process that opened `path` before the rename and waited for its lock
// fails with kBusy "<path> was replaced while this command waited (ehr db
// rotate-key); run it again" and writes nothing. `cancelled`, when set, is
// polled during the copy and its verification; once it returns true the
// copy is removed and the store left as it was.
// Errors: those of Store::open; kBusy "<path>: database is in use";
// kCorruption if the new copy fails verification (the old file is kept);
// kInterrupted "<path>: rotate-key interrupted; the database is unchanged";
// kIoError.
Result<RotateReport> rotate_key(const std::string& path, const Secret& secret,
                                const OpenOptions& options = {},
                                const std::function<bool()>& cancelled = {});

// The copies "<path>.rotate-<16 hex digits>" beside `path` (not their side
// files), sorted: left by a rotate_key() that did not finish, unless one is
// running now. Never fails: an unreadable directory lists nothing.
std::vector<std::string> rotation_leftovers(const std::string& path);

// What recover_store() did.
struct RecoverReport {
  std::string saved_to;  // directory holding the copies of the files as found
  std::string anomaly;   // the WAL anomaly found at open, or "" when there was none
  CheckReport check;     // Store::check() after recovery
};

// Brings a store that refuses to open because WAL recovery met a frame that
// failed authentication (a torn write after power loss, or tampering) back
// into service: copies the database and its -wal and -shm files as they are
// into a new sibling directory "<path>.recover-<UTC time>" (the evidence),
// opens with allow_wal_anomaly (SQLite keeps every frame before the bad one
// and drops the rest), checkpoints and truncates the WAL, then checks every
// page. Safe to run on a healthy store (it then only saves the copies).
// Errors: those of Store::open (kAuthFailed, kNoInput, ...); kCantCreate or
// kIoError when the copies cannot be saved (nothing else is done then).
Result<RecoverReport> recover_store(const std::string& path, const Secret& secret,
                                    const OpenOptions& options = {});

}  // namespace ehr

#endif  // EHR_STORE_H_
