// The "ehrcrypt" SQLite VFS: page-level authenticated encryption as a shim
// over the default "unix" VFS (encrypted-store.md §0.5, §0.6).
//
// What the shim does per file (classified by xOpen flags):
//   MAIN_DB        Needs a key context: URI parameter ehrkey=<handle> naming
//                  an entry of the in-process registry below (secrets never go
//                  into URIs). Physical offset = logical offset + 4096 (the
//                  ehr header). Writes: exactly one page at a page-aligned
//                  offset; page 1 must carry "SQLite format 3\0", page size
//                  4096 and reserve 48. Reads: any slice; the whole page is
//                  read, authenticated and the slice copied out. The lock-byte
//                  page (262145) is never encrypted or decrypted.
//                  Its first lock (NONE to SHARED, which a WAL-mode
//                  connection then holds until it closes) fails with
//                  SQLITE_IOERR_LOCK, and KeyContext::replaced() turns
//                  true, when the path no longer names the file this handle
//                  opened (x_lock in the .cc).
//   WAL            Key context from the main db (sqlite3_database_file_object
//                  plus the private FCNTL kFcntlSelf, P10). Offsets classify
//                  everything: 32-byte header at 0 (plain), frame k at
//                  fo = 32 + (k-1)(4096+24): 24-byte frame header at fo whose
//                  checksum words are XOR-masked, page at fo+24 (AEAD).
//                  A frame header is held back and written with its page
//                  in one 4120-byte write (any other call on the handle
//                  writes a held header first: write_held_header in the
//                  .cc).
//                  A frame failing authentication during recovery ends the
//                  log; it is a WAL anomaly (§5.3) only when a later
//                  transaction chains after it (see damage_is_durable in
//                  the .cc), so a power loss never raises one.
//                  An existing WAL is opened without SQLITE_OPEN_CREATE,
//                  so the unix VFS does not fsync the directory at every
//                  process's first commit; the shim does it after writing
//                  a WAL header instead (open_wal in the .cc says why
//                  that keeps commits durable). When ehr asks
//                  (kFcntlReuseWal), the close that checkpoints the WAL
//                  keeps its file with a zeroed header for the next
//                  generation to overwrite (WAL reuse in the .cc).
//   -shm           Passed through; when SQLite closes without deleting it
//                  (ehr skips the checkpoint at close for a small WAL), the
//                  last connection deletes it under an EXCLUSIVE lock on
//                  the db file (x_shm_unmap), unless a WAL anomaly was seen.
//   MAIN_JOURNAL   A 4096-byte write at o is a page image only if the write
//                  just before on this handle was 4 bytes at o-4 (its pgno).
//   SUPER_JOURNAL  Pass-through.
//   anything else  (temp, transient, sub-journal, nameless) SQLITE_CANTOPEN.
//
// Page format (P = 4096, R = 48):
//   [0, 4048)     ciphertext of the usable bytes
//   [4048, 4072)  random 24-byte nonce, fresh on every write
//   [4072, 4088)  Poly1305 tag
//   [4088, 4096)  trailer, zero in v1, authenticated
// AD = "EHR1" | domain ('D' db, 'W' wal, 'J' journal) | file_id | pgno (u32
//      BE) | trailer | WAL only: salt-1 | salt-2 | nTruncate (u32 BE).
// pgno and nTruncate come from the frame header. The salts are those of the
// frame's WAL generation: the frame header's, or the WAL header's while the
// frame header still carries zero salts. DEVIATION from §0.3 ("salts copied
// from the frame header"): once a transaction rewrites one of its own frames
// (cache spill), SQLite 3.40 writes the following frame headers with zero
// salts and checksum and fills them in at commit (walEncodeFrame with
// iReCksum != 0, then walRewriteChecksums), so the header's salts at write
// time are not the final ones. Either way the page is bound to its WAL
// generation, which is what §0.3 wants.
// DEVIATION from §0.3: the WAL AD also binds nTruncate (the commit marker).
// The spec's AD leaves it protected only by SQLite's frame checksum, which is
// linear over plaintext and masked by XOR, so a flipped commit marker could
// make a partial transaction look committed. SQLite never rewrites nTruncate
// of an existing frame (in-transaction rewrites are never commit frames and
// walRewriteChecksums keeps it), so binding it costs nothing.
//
// Plaintext handed to SQLite always has the 48 reserved bytes zeroed (P1).
// The io_methods are version 2 (no xFetch, so mmap cannot bypass the shim,
// P6) and xDeviceCharacteristics reports only POWERSAFE_OVERWRITE (P3).
// FCNTL_PRAGMA vetoes page_size != 4096, journal_mode other than WAL,
// synchronous=OFF and temp_store other than MEMORY, and answers
// PRAGMA ehr_status.
//
// Only this file and sqlite_store.cc include <sqlite3.h>.

#ifndef EHR_SQLITE_VFS_H_
#define EHR_SQLITE_VFS_H_

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "crypto_sodium.h"
#include "store_header.h"

namespace ehr::vfs {

inline constexpr const char* kVfsName = "ehrcrypt";
inline constexpr std::int64_t kHeaderOffset = 4096;  // H
inline constexpr int kPageSize = 4096;               // P
inline constexpr int kReserve = 48;                  // R
inline constexpr int kUsable = kPageSize - kReserve;
inline constexpr int kNonceOffset = kUsable;           // 4048
inline constexpr int kTagOffset = kNonceOffset + 24;   // 4072
inline constexpr int kTrailerOffset = kTagOffset + 16;  // 4088
inline constexpr std::uint32_t kLockBytePage = 0x40000000 / kPageSize + 1;
inline constexpr int kWalHeaderSize = 32;
inline constexpr int kWalFrameHeaderSize = 24;
inline constexpr std::int64_t kWalFrameSize = kWalFrameHeaderSize + kPageSize;

// The private file-control opcode that returns the shim's own file object
// (cksumvfs's SQLITE_FCNTL_CKSM_FILE pattern, P10). pArg is an EhrFile**.
inline constexpr int kFcntlSelf = 0x45687246;  // "EhrF"

// Private file-control opcodes on the main db (sqlite_store.cc
// close_connection), both answered by the shim itself:
//  - kFcntlWalFrames: pArg is a std::int64_t*, set to the frames the WAL
//    holds by the wal-index header this connection has mapped (mxFrame at
//    offset 16, sqlite.org/walformat.html), or -1 when it has none mapped.
//  - kFcntlReuseWal: pArg is an int*; nonzero asks that SQLite's close,
//    after its checkpoint has copied every frame into the db, keep the WAL
//    file and void its header rather than delete it (x_file_control,
//    SQLITE_FCNTL_PERSIST_WAL), so the next WAL generation overwrites
//    blocks the file already has.
inline constexpr int kFcntlWalFrames = 0x45685746;  // "EhWF"
inline constexpr int kFcntlReuseWal = 0x45685257;   // "EhRW"

// Registers the "ehrcrypt" VFS over "unix" (once; thread-safe). Returns an
// SQLite result code.
int register_vfs();

// Test seam: registers another instance of the shim, called `shim_name`,
// over the VFS `lower_vfs_name` (for example a fault-injecting VFS that
// itself sits over "unix"), not as the default. Registering the same pair
// again is a no-op; reusing `shim_name` for another lower VFS, or a name
// some other VFS has, is SQLITE_MISUSE. Header I/O (read_header_at,
// write_header_at, sync_path) always goes straight to "unix"; everything
// SQLite does, and header updates through underlying_main_file, goes
// through the lower VFS. Instances are never unregistered.
int register_vfs_over_for_testing(const char* shim_name, const char* lower_vfs_name);

// Test seam: how many times the shim itself has fsynced the directory of a
// WAL it opened as an existing file (open_wal in the .cc), in this process.
std::uint64_t wal_directory_syncs_for_testing();

// The key material of one database (one DEK epoch): file_id and the DEK's
// subkeys, plus the WAL anomaly flag (§5). Shared by all files of one
// connection; immutable except for the anomaly.
class KeyContext {
 public:
  KeyContext(const store::FileId& file_id, crypto::Bytes dek);

  const store::FileId& file_id() const { return file_id_; }
  crypto::Bytes page_key() const { return keys_.page.span(); }
  crypto::Bytes walck_key() const { return keys_.walck.span(); }
  crypto::Bytes hdr_key() const { return keys_.hdr.span(); }

  // Records a WAL anomaly (the first one wins); PERSIST_WAL answers 1 from
  // then on, so SQLite keeps the evidence.
  void flag_anomaly(std::string text);
  std::optional<std::string> anomaly() const;

  // The last page that failed authentication ("page 7 of /x.ehr (db)"), so
  // the ehr layer can name it in its error; take_failure() clears it.
  void note_failure(std::string text);
  std::optional<std::string> take_failure();

  // Set (for good) when the shim found that the main db file this
  // connection has open is no longer the file at its path: renamed over
  // (ehr db rotate-key) or removed while the connection waited for its
  // first lock. Nothing more can be read or written through it then; the
  // ehr layer reports it as kBusy (sqlite_store.cc replaced_error).
  void note_replaced() { replaced_.store(true); }
  bool replaced() const { return replaced_.load(); }

 private:
  store::FileId file_id_;
  store::Subkeys keys_;
  mutable std::mutex mu_;
  std::optional<std::string> anomaly_;  // GUARDED_BY(mu_)
  std::optional<std::string> failure_;  // GUARDED_BY(mu_)
  std::atomic<bool> has_anomaly_{false};
  std::atomic<bool> replaced_{false};
};

// The in-process key registry behind ehrkey=<handle>. register_key returns a
// fresh random handle (32 hex digits); the context stays alive while any
// file opened with it is open, even after unregister_key.
std::string register_key(std::shared_ptr<KeyContext> ctx);
void unregister_key(const std::string& handle);
std::shared_ptr<KeyContext> find_key(std::string_view handle);

// --- page codec (pure functions, T1) ---------------------------------------

enum class Domain : char { kDb = 'D', kWal = 'W', kJournal = 'J' };

// Where a page image lives; wal_* are used only for Domain::kWal.
struct PagePlace {
  Domain domain = Domain::kDb;
  std::uint32_t pgno = 0;
  const std::uint8_t* wal_salts = nullptr;  // 8 bytes: salt-1 | salt-2
  std::uint32_t wal_ntruncate = 0;
};

// Encrypts the first 4048 bytes of `plain` into the 4096-byte `out`
// (ciphertext | nonce | tag | zero trailer) under a fresh random nonce.
void seal_page(const KeyContext& ctx, const PagePlace& place,
               const std::uint8_t* plain, std::uint8_t* out);

// As seal_page with a caller-chosen nonce, for known-answer vectors only.
void seal_page_with_nonce_for_testing(const KeyContext& ctx,
                                      const PagePlace& place,
                                      const std::uint8_t* plain,
                                      const std::uint8_t* nonce,
                                      std::uint8_t* out);

// Authenticates and decrypts a 4096-byte page image into `plain` (4096
// bytes, reserve zeroed). Returns false, with `plain` zeroed, on failure.
[[nodiscard]] bool open_page(const KeyContext& ctx, const PagePlace& place,
                             const std::uint8_t* in, std::uint8_t* plain);

// The 8-byte XOR mask of the checksum words of WAL frame `frame` (1-based):
// BLAKE2b-256_{K_walck}(file_id | salt-1 | salt-2 | frame u32 BE)[0, 8).
void wal_checksum_mask(const KeyContext& ctx, const std::uint8_t* salts,
                       std::uint32_t frame, std::uint8_t* mask);

// --- I/O shape classification (pure functions; fuzzed by tests/fuzz) -------
//
// What the shim makes of each request by offset arithmetic alone (§0.5).
// The io methods use exactly these functions.

// A MAIN_DB write: one whole page at a page-aligned offset, never the
// lock-byte page. `pgno` is set when accepted, `refusal` says why not.
struct DbWriteShape {
  std::uint32_t pgno = 0;
  const char* refusal = nullptr;
};
DbWriteShape classify_db_write(int amt, std::int64_t off);

// A WAL write: the 32-byte header at 0, a 24-byte frame header at
// 32 + (k-1)(4096+24), or a page right after a frame header.
enum class WalWrite { kHeader, kFrameHeader, kFramePage, kRefused };
struct WalWriteShape {
  WalWrite kind = WalWrite::kRefused;
  std::uint32_t frame = 0;  // 1-based, for kFrameHeader and kFramePage
  const char* refusal = nullptr;
};
WalWriteShape classify_wal_write(int amt, std::int64_t off);

// One piece of a WAL read: header bytes, or bytes of a single frame.
struct WalReadPiece {
  bool header = false;
  std::uint32_t frame = 0;  // 1-based, when !header
  int rel = 0;              // offset within the header or the frame
  int n = 0;                // length, > 0
};
// The piece of a read of `amt` > 0 bytes at `off` that starts at `off`;
// nullopt when no byte there can be served (negative offset, or a frame
// number beyond 2^32 - 1).
std::optional<WalReadPiece> next_wal_read_piece(std::int64_t off, int amt);

// The MAIN_JOURNAL classifier's state: the previous write on the handle.
struct JournalWriteState {
  bool prev_valid = false;
  std::int64_t prev_off = 0;
  int prev_amt = 0;
  std::uint32_t prev_value = 0;  // the big-endian value of a 4-byte write
};
struct JournalWriteShape {
  bool page = false;       // a page image: encrypt with domain 'J'
  std::uint32_t pgno = 0;  // its page number (the 4-byte write at off - 4)
};
// Classifies a journal write of `amt` bytes at `off` (`in` holds them) and
// makes it the previous write in `state`: a 4096-byte write is a page image
// only when the write just before was 4 bytes at off - 4 (§2.1, P5).
JournalWriteShape classify_journal_write(JournalWriteState& state, const std::uint8_t* in,
                                         int amt, std::int64_t off);

// --- header I/O (always through a unix sqlite3_file, P9) --------------------

// Reads the 4096-byte ehr header of `path` through a short-lived unix VFS
// file object (read-only; creates nothing). SQLITE_CANTOPEN when the file
// cannot be opened, SQLITE_NOTADB when it is shorter than the header.
int read_header_at(const std::string& path, store::HeaderBytes& out);

// Writes the complete 4096-byte header to the existing file `path` and syncs.
// Used only on files no connection has open yet (create, rotation target).
int write_header_at(const std::string& path, const store::HeaderBytes& bytes);

// fsyncs the existing file `path` (through a unix VFS file object).
int sync_path(const std::string& path);

// The underlying unix file of `db`'s main database when it is an ehrcrypt
// database, else nullptr.
sqlite3_file* underlying_main_file(sqlite3* db);

// The key context of `db`'s main database, or nullptr.
std::shared_ptr<KeyContext> main_key_context(sqlite3* db);

// Reads the header through `real`.
int read_header(sqlite3_file* real, store::HeaderBytes& out);

// Commits a new header generation through `real`: writes `copy` to the copy
// slot `inactive` (0 = A, 1 = B), syncs, then mirrors it into the other copy
// and syncs again, so that a crash at any point leaves one valid copy.
// REQUIRES: the caller holds the database's write lock.
int write_header_update(sqlite3_file* real, int inactive,
                        const store::CopyBytes& copy);

// Reads and authenticates physical page `pgno` of `db`'s main database file
// (not the WAL). SQLITE_OK, SQLITE_IOERR_DATA, or SQLITE_IOERR_SHORT_READ
// when the page lies beyond the end of the file.
int verify_db_page(sqlite3* db, std::uint32_t pgno);

// Number of whole pages in the main database file of `db` (not counting the
// WAL), from the physical size.
std::int64_t db_file_pages(sqlite3* db);

// What check_wal found in the WAL of a connection.
struct WalCheck {
  std::uint32_t frames_checked = 0;  // frames of the live log authenticated
  std::vector<std::uint32_t> bad_frames;  // live frames failing authentication
  // Pages whose current version is a live frame not yet copied into the db
  // file (after nBackfill): the db file's copy of them is never read, and
  // the next checkpoint rewrites it (a power loss during a checkpoint can
  // leave it torn).
  std::set<std::uint32_t> wal_pages;
};

// Authenticates every frame of the live log of `db`'s WAL: frames 1..mxFrame
// of the wal-index header. With `heap_wal_index` (locking_mode=EXCLUSIVE,
// no -shm) the end of the log is found as recovery finds it instead: the
// last commit frame of the authentic, checksum-chained prefix, and every
// frame counts as not yet copied. No WAL, or an empty one, is SQLITE_OK with
// nothing checked.
// REQUIRES: the caller holds the write lock (BEGIN IMMEDIATE).
int check_wal(sqlite3* db, bool heap_wal_index, WalCheck& out);

}  // namespace ehr::vfs

#endif  // EHR_SQLITE_VFS_H_
