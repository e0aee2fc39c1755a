// The one place where ehr opens SQLite: creating and opening encrypted
// stores through the ehrcrypt VFS, the RAII Connection and Statement
// wrappers a later store layer builds on, the SQLite-to-ErrorCode mapping,
// and the maintenance operations behind ehr/store.h (key slots, check,
// backup, key rotation, info).
//
// Opening (encrypted-store.md §0.4, §0.5): read the ehr header through a
// unix file object, unwrap a slot, and only then call sqlite3_open_v2 with
// SQLITE_OPEN_EXRESCODE, vfs "ehrcrypt" and a URI naming the key registry
// entry. A wrong secret therefore never reaches SQLite: no -shm is created
// and no WAL is recovered or deleted. Every connection then runs
//   temp_store=MEMORY, journal_mode=WAL, synchronous=FULL, cell_size_check=ON,
//   trusted_schema=OFF, cache_size=-65536, wal_autocheckpoint=10000,
//   busy_timeout, defensive mode
// and checks PRAGMA ehr_status.
//
// Closing: the WAL outlives the connections, so that a process that opens,
// commits one small transaction (an audited lookup) and closes pays one
// fsync; see kKeepWalBytes.
//
// Thread safety: a Connection or Statement is used by one thread at a time.

#ifndef EHR_SQLITE_STORE_H_
#define EHR_SQLITE_STORE_H_

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto_sodium.h"
#include "ehr/status.h"
#include "ehr/store.h"
#include "sqlite_vfs.h"
#include "store_header.h"
#include "temp_files.h"

namespace ehr::store {

// What the last connection to close does with the WAL (Connection's
// destructor). A WAL of at most kKeepWalBytes, not empty, stays as it is:
// no checkpoint and no deletion (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE). Every
// commit was synced into it (synchronous=FULL), so this loses nothing:
// until a checkpoint folds it in, the WAL is part of the database's durable
// state, as after a crash, and the next connection's recovery reads it
// back. That recovery authenticates and decrypts every frame, which is what
// bounds kKeepWalBytes (what the WAL holds: its frames, by the wal-index).
// A larger WAL, or an empty one (a connection that wrote nothing), gets
// SQLite's own close: checkpointed by the last connection only, then kept
// for reuse or deleted (kReuseWalBytes). The -shm is deleted either way
// (sqlite_vfs.cc x_shm_unmap). After a WAL anomaly SQLite's own close runs
// and the shim keeps the evidence (§5.3).
// The size trades the recovery at every open (about 5 us per 4 KiB frame:
// read, authenticate, decrypt, checksum) against the checkpoint cycle
// (about five syncs: the checkpoint's two, then a new WAL's header,
// directory and first commit). Lookups interleaved with the same lookups of
// a build without auditing (100k patients; 2 frames per record show, up to
// 46 per patient find naming thousands of patients), on an idle 2-core VM:
// audit overhead on record show +20% at 64 KiB and 128 KiB, +23% at 256 KiB,
// +28% at 512 KiB, +35% at 1 MiB, +30% when every close checkpoints. Under
// heavy I/O load (other builds; a sync then costs milliseconds), record
// show at 128 KiB took 5% longer than at 256 KiB, the best there, and at
// 64 KiB 22% longer.
inline constexpr std::int64_t kKeepWalBytes = 128 * 1024;

// A WAL that holds more than kKeepWalBytes gets SQLite's close: checkpointed
// into the db. Its file, if at most kReuseWalBytes, stays with its header
// voided (sqlite_vfs.cc, WAL reuse), so that the next WAL generation
// overwrites blocks the file has rather than appending: an fsync of
// overwritten blocks commits no new file size (on the benchmark VM 0.26-0.36
// ms against 0.56 for an append). A larger file (an import's) is deleted.
inline constexpr std::int64_t kReuseWalBytes = 4 * 1024 * 1024;

// Maps an SQLite result code to an ErrorCode: BUSY/LOCKED -> kBusy;
// IOERR_DATA, CORRUPT*, NOTADB -> kCorruption; other IOERR, FULL -> kIoError;
// CANTOPEN -> kNoInput; PERM/AUTH -> kAccessDenied; INTERRUPT ->
// kInterrupted; CONSTRAINT -> kConflict; TOOBIG/RANGE/MISMATCH ->
// kInvalidArgument; everything else -> kInternal.
ErrorCode error_code_for(int rc);

// An Error for `rc` on `db` (may be null): "<context>: <sqlite message>",
// and for IOERR_DATA "<context>: page authentication failed: page <n> of
// <file> (<domain>)". Once `ctx` is replaced() (the file was renamed over
// while the connection waited for its first lock), whatever `rc`:
// replaced_error(<context>).
Error sqlite_error(sqlite3* db, int rc, std::string_view context,
                   vfs::KeyContext* ctx = nullptr);

// kBusy "<what> was replaced while this command waited (ehr db
// rotate-key); run it again": the connection opened the file that `ehr db
// rotate-key` then renamed its new copy over, and so must not use it.
Error replaced_error(std::string_view what);

// A prepared statement. Move-only; finalized on destruction. Column getters
// are valid after step() returned true. Indices: bind is 1-based, column
// 0-based, as in SQLite.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Status bind_text(int index, std::string_view text);
  Status bind_int(int index, std::int64_t value);
  Status bind_blob(int index, std::span<const std::uint8_t> blob);
  Status bind_null(int index);

  // Runs one step: true when a row is available, false when done.
  Result<bool> step();
  // Resets for another execution; bindings are kept.
  Status reset();

  int column_count() const;
  bool column_is_null(int index) const;
  std::int64_t column_int(int index) const;
  // The column's value when it is stored as an INTEGER; nullopt for any other
  // storage class (text, real, blob, NULL), which column_int would convert.
  std::optional<std::int64_t> column_integer(int index) const;
  std::string column_text(int index) const;
  std::vector<std::uint8_t> column_blob(int index) const;
  // Views of a column, valid until the next step(), reset() or column call
  // on the same index in another type (as SQLite's own column accessors).
  std::string_view column_view(int index) const;
  std::span<const std::uint8_t> column_bytes(int index) const;

 private:
  friend class Connection;
  Statement(sqlite3* db, sqlite3_stmt* stmt, vfs::KeyContext* ctx)
      : db_(db), stmt_(stmt), ctx_(ctx) {}
  Status check(int rc, std::string_view what) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  vfs::KeyContext* ctx_ = nullptr;
};

// An open connection to an encrypted store, with its key material. Move-only;
// destruction closes SQLite (sqlite3_close_v2), removes the registry entry
// and wipes the DEK.
class Connection {
 public:
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more SQL statements, discarding rows.
  Status exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  // Column 0 of the first row of `sql` as text ("" for NULL).
  // Errors: kNotFound "no rows" when there is no row.
  Result<std::string> query_text(std::string_view sql);
  // Defines the deterministic SQL function `name`(text) -> text on this
  // connection as `fn` (a NULL argument reaches it as ""). `fn` must outlive
  // the connection's use of the function (a plain function does).
  Status define_text_function(const char* name, std::string (*fn)(std::string_view));

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  const std::string& key_handle() const { return handle_; }
  vfs::KeyContext& key_context() const { return *ctx_; }
  crypto::Bytes dek() const { return dek_.span(); }
  // Index of the slot that opened this connection, or -1 once removed.
  int opened_slot() const { return slot_; }
  void set_opened_slot(int slot) { slot_ = slot; }

 private:
  friend Result<Connection> open_unlocked(const std::string&, Unlocked, const OpenOptions&,
                                          bool, bool, const char*);
  Connection() = default;
  void close();

  sqlite3* db_ = nullptr;
  std::string path_;
  std::string handle_;
  std::shared_ptr<vfs::KeyContext> ctx_;
  crypto::SecureBytes dek_;
  int slot_ = -1;
};

// Opens `path` with `secret` (see the top of this file). With `exclusive`,
// the connection runs PRAGMA locking_mode=EXCLUSIVE before entering WAL mode
// (heap wal-index, no -shm), so it fails with kBusy "<path>: database is in
// use" while any other connection has the file open.
// Errors: as Store::open.
Result<Connection> open_store(const std::string& path, const Secret& secret,
                              const OpenOptions& options, bool exclusive = false);

// Prepared statements by SQL text on one connection: each prepared on first
// use, and reset when taken again (dropping the error of its last step,
// which that step reported). REQUIRES: the same connection for every get()
// until clear().
class StatementCache {
 public:
  Result<Statement*> get(Connection& db, const std::string& sql);
  // Resets every statement (so none holds a read open).
  void reset_all();
  // Finalizes every statement (before their connection closes).
  void clear() { cache_.clear(); }

 private:
  std::map<std::string, std::unique_ptr<Statement>> cache_;
};

// A store being created: a complete database under a flocked temporary
// ".NAME.tmp-XXXXXXXX" beside `path` (temp_files.h), which nothing at
// `path` shows until publish_store moves it there. A run killed before
// that leaves only the temporary, which the next create (or db backup to
// the same path) removes, never a file at `path` that cannot be opened.
struct StagedStore {
  Connection conn;                          // open on the temporary
  detail::LockedTemp temp;                  // its lock, held until it is published
  std::string path;                         // where publish_store moves it
  std::vector<std::string> removed_stale;   // temporaries of killed runs removed
};

// Creates the temporary (mode 0600) with a new header holding one slot for
// `secret`, then opens it, sets RESERVE_BYTES=48 and checks it took. First
// removes the temporaries beside `path` no process holds.
// Errors: as Store::create; they name `path`, not the temporary.
Result<StagedStore> create_staged_store(const std::string& path, const SlotSpec& first,
                                        const Secret& secret);

// Closes the staged connection (its WAL checkpointed into the file and
// removed), moves the file to its path unless something is there now, and
// opens it there with the same key. On failure the temporary is removed.
// Errors: kAlreadyExists "<path>: already exists"; kCantCreate; kIoError.
Result<Connection> publish_store(StagedStore staged);

// create_staged_store then publish_store.
Result<Connection> create_store(const std::string& path, const SlotSpec& first,
                                const Secret& secret);

// Opens a connection from an already unlocked header (used by the two
// functions above). SQLite opens the file through the VFS `vfs_name`.
Result<Connection> open_unlocked(const std::string& path, Unlocked unlocked,
                                 const OpenOptions& options, bool exclusive,
                                 bool is_new, const char* vfs_name = vfs::kVfsName);

// Test seams: open_store and create_store with SQLite running on the shim
// instance `vfs_name` (see vfs::register_vfs_over_for_testing), so fault
// tests can put a fault-injecting VFS under the shim. The header is still
// read (and, at create, written) straight through "unix"; header updates of
// the slot operations go through the instance.
Result<Connection> open_store_for_testing(const std::string& path, const Secret& secret,
                                          const OpenOptions& options, const char* vfs_name);
Result<Connection> create_store_for_testing(const std::string& path, const SlotSpec& first,
                                            const Secret& secret, const char* vfs_name);

// The current authentic header of an open store, re-read from disk.
Result<Header> current_header(Connection& c);

// Key-slot changes under SQLite's write lock (BEGIN IMMEDIATE): re-read the
// header, change it, write generation+1 to the inactive copy, sync, mirror.
// A failed header write changes nothing: when the new generation landed
// before the failure (a failed sync or mirror write), the old slots are
// written back over it; only if that fails too does the message end "; the
// key slot change may have taken effect (see ehr key list)".
Result<int> add_slot(Connection& c, const SlotSpec& spec, const Secret& secret);
Status remove_slot(Connection& c, int index);
Status change_secret(Connection& c, const Secret& new_secret, const KdfParams& kdf);

// A key-slot change made inside the caller's transaction: the slot as it
// was and as written, for undo_slot_change.
struct SlotChange {
  int index = -1;
  Slot before;
  Slot after;
  bool opened_this_store = false;  // `before` opened this connection
};

// add_slot, remove_slot and change_secret for a caller that holds the write lock in
// its own transaction, so that the rows it writes there (the audit entry
// recording the change) commit only if the header changed. The header is
// no part of SQLite's transaction: when that transaction then rolls back
// (its COMMIT failed), the caller must call undo_slot_change.
// REQUIRES: `c` is in a write transaction (else kInternal).
// Errors: as add_slot, remove_slot and change_secret.
Result<SlotChange> add_slot_in_transaction(Connection& c, const SlotSpec& spec, const Secret& secret);
Result<SlotChange> remove_slot_in_transaction(Connection& c, int index);
Result<SlotChange> change_secret_in_transaction(Connection& c, const Secret& new_secret,
                                                const KdfParams& kdf);

// Puts back the slot `change` replaced, under the write lock (a new header
// generation). Nothing to do when the slot is already `change.before`.
// Errors: kConflict "key slot <n> was changed meanwhile" when it holds
// neither (another connection changed it since; that change stands);
// kBusy; kIoError.
// REQUIRES: `c` is not in a transaction.
Status undo_slot_change(Connection& c, const SlotChange& change);

Result<std::vector<SlotInfo>> list_slots(Connection& c);
Result<StoreInfo> store_info(Connection& c);
Result<CheckReport> check_store(Connection& c);
Status backup_store(Connection& c, const std::string& target, const std::function<bool()>& cancelled,
                    std::vector<std::string>* removed_stale);
Result<RotateReport> rotate_key(const std::string& path, const Secret& secret,
                                const OpenOptions& options,
                                const std::function<bool()>& cancelled);
std::vector<std::string> rotation_leftovers(const std::string& path);

}  // namespace ehr::store

namespace ehr {

// Access to the Connection inside a public Store, for the store layer that
// will sit on top of this one (LevelDB's ...Internal pattern).
class StoreInternal {
 public:
  static store::Connection& connection(Store& s);
};

}  // namespace ehr

#endif  // EHR_SQLITE_STORE_H_
