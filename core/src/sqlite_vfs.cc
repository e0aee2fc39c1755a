// The "ehrcrypt" VFS shim; see sqlite_vfs.h for what it does and why.
//
// Sections:
//   1. key registry and KeyContext
//   2. page codec
//   3. the file object and xOpen
//   4. MAIN_DB reads and writes
//   5. WAL reads and writes
//   6. MAIN_JOURNAL reads and writes
//   7. the remaining io methods and file controls
//   8. the vfs object and registration
//   9. header I/O and helpers for sqlite_store.cc
//
// Every failure is fail-closed: an unexpected write shape is
// SQLITE_IOERR_WRITE, an unauthentic page SQLITE_IOERR_DATA, and both are
// logged through sqlite3_log with the file, page number and domain (P14).

#include "sqlite_vfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <utility>

namespace ehr::vfs {
namespace {

// --- 1. key registry ----------------------------------------------------------

std::mutex g_registry_mu;
std::map<std::string, std::shared_ptr<KeyContext>, std::less<>>& registry() {
  static auto* r = new std::map<std::string, std::shared_ptr<KeyContext>, std::less<>>();
  return *r;
}

void put_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t get_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
         (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  std::uint8_t acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

// --- 2. page codec ------------------------------------------------------------

constexpr std::size_t kMaxAd = 4 + 1 + 16 + 4 + 8 + 8 + 4;

// Builds the AD of a page image; returns its length.
std::size_t page_ad(const KeyContext& ctx, const PagePlace& place,
                    const std::uint8_t* trailer, std::uint8_t* ad) {
  std::size_t n = 0;
  std::memcpy(ad, "EHR1", 4);
  n += 4;
  ad[n++] = static_cast<std::uint8_t>(place.domain);
  std::memcpy(ad + n, ctx.file_id().data(), ctx.file_id().size());
  n += ctx.file_id().size();
  put_be32(ad + n, place.pgno);
  n += 4;
  std::memcpy(ad + n, trailer, 8);
  n += 8;
  if (place.domain == Domain::kWal) {
    std::memcpy(ad + n, place.wal_salts, 8);
    n += 8;
    put_be32(ad + n, place.wal_ntruncate);
    n += 4;
  }
  return n;
}

}  // namespace

KeyContext::KeyContext(const store::FileId& file_id, crypto::Bytes dek)
    : file_id_(file_id), keys_(store::derive_subkeys(dek)) {}

void KeyContext::flag_anomaly(std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!anomaly_) anomaly_ = std::move(text);
  has_anomaly_.store(true);
}

std::optional<std::string> KeyContext::anomaly() const {
  if (!has_anomaly_.load()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  return anomaly_;
}

void KeyContext::note_failure(std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  failure_ = std::move(text);
}

std::optional<std::string> KeyContext::take_failure() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(failure_, std::nullopt);
}

std::string register_key(std::shared_ptr<KeyContext> ctx) {
  std::array<std::uint8_t, 16> raw{};
  crypto::random_bytes(raw);
  static const char kHex[] = "0123456789abcdef";
  std::string handle;
  for (std::uint8_t b : raw) {
    handle.push_back(kHex[b >> 4]);
    handle.push_back(kHex[b & 15]);
  }
  std::lock_guard<std::mutex> lock(g_registry_mu);
  registry()[handle] = std::move(ctx);
  return handle;
}

void unregister_key(const std::string& handle) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  registry().erase(handle);
}

std::shared_ptr<KeyContext> find_key(std::string_view handle) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  auto it = registry().find(handle);
  return it == registry().end() ? nullptr : it->second;
}

void seal_page_with_nonce_for_testing(const KeyContext& ctx,
                                      const PagePlace& place,
                                      const std::uint8_t* plain,
                                      const std::uint8_t* nonce,
                                      std::uint8_t* out) {
  std::uint8_t trailer[8] = {};
  std::uint8_t ad[kMaxAd];
  std::size_t ad_len = page_ad(ctx, place, trailer, ad);
  std::memcpy(out + kNonceOffset, nonce, 24);
  crypto::aead_seal(ctx.page_key(), crypto::Bytes(out + kNonceOffset, 24),
                    crypto::Bytes(plain, kUsable), crypto::Bytes(ad, ad_len),
                    crypto::MutBytes(out, kUsable),
                    crypto::MutBytes(out + kTagOffset, 16));
  std::memcpy(out + kTrailerOffset, trailer, 8);
}

void seal_page(const KeyContext& ctx, const PagePlace& place,
               const std::uint8_t* plain, std::uint8_t* out) {
  std::uint8_t nonce[24];
  crypto::random_bytes(nonce);
  seal_page_with_nonce_for_testing(ctx, place, plain, nonce, out);
}

bool open_page(const KeyContext& ctx, const PagePlace& place,
               const std::uint8_t* in, std::uint8_t* plain) {
  std::uint8_t ad[kMaxAd];
  std::size_t ad_len = page_ad(ctx, place, in + kTrailerOffset, ad);
  // Zero the reserve first so SQLite never sees nonce or tag (P1).
  std::memset(plain + kUsable, 0, kReserve);
  return crypto::aead_open(ctx.page_key(), crypto::Bytes(in + kNonceOffset, 24),
                           crypto::Bytes(in, kUsable),
                           crypto::Bytes(in + kTagOffset, 16),
                           crypto::Bytes(ad, ad_len),
                           crypto::MutBytes(plain, kUsable));
}

void wal_checksum_mask(const KeyContext& ctx, const std::uint8_t* salts,
                       std::uint32_t frame, std::uint8_t* mask) {
  std::uint8_t k[4];
  put_be32(k, frame);
  std::array<std::uint8_t, 32> out{};
  crypto::Blake2b h(32, ctx.walck_key());
  h.update(ctx.file_id()).update(crypto::Bytes(salts, 8)).update(k).final(out);
  std::memcpy(mask, out.data(), 8);
}

namespace {

// --- 3. the file object and xOpen ----------------------------------------------

enum class Kind { kMain, kWal, kJournal, kSuper };

struct EhrFile {
  sqlite3_file base;  // must be first
  Kind kind = Kind::kMain;
  sqlite3_file* real = nullptr;  // the lower VFS's file, placed after this struct
  const char* vfs_name = kVfsName;  // this shim instance's name (VFSNAME)
  std::shared_ptr<KeyContext> ctx;
  std::string name;  // for log lines
  // MAIN_JOURNAL adjacency state: the previous write on this handle.
  JournalWriteState journal;
  // MAIN_DB: the lock level SQLite holds through this handle (x_lock,
  // x_unlock), so x_shm_unmap can put it back after its own attempt.
  int lock_level = SQLITE_LOCK_NONE;
  // MAIN_DB: the file the path named just before this handle opened it
  // (stat before the lower xOpen; see x_open), for still_at_path.
  bool identity_known = false;
  dev_t dev = 0;
  ino_t ino = 0;
  // WAL: opened as an existing file, without SQLITE_OPEN_CREATE (open_wal),
  // and a WAL header was written since: the next x_sync also fsyncs the
  // directory.
  bool opened_existing = false;
  bool dir_sync_due = false;
  // MAIN_DB: the WAL SQLite has open beside it, and whether its close should
  // keep that WAL for reuse (kFcntlReuseWal). WAL: the MAIN_DB it belongs to.
  // Each clears the other's pointer when it closes first.
  EhrFile* wal = nullptr;
  EhrFile* owner = nullptr;
  bool reuse_wal = false;
  // MAIN_DB: region 0 of the wal-index while SQLite has it mapped through
  // this handle (x_shm_map to x_shm_unmap); null otherwise, for example in
  // locking_mode=EXCLUSIVE, where SQLite keeps the wal-index in heap memory.
  void volatile* shm0 = nullptr;
  // WAL: a frame header SQLite wrote and the shim holds back, as it goes to
  // disk (checksum words masked), to write it with its frame's page in one
  // write (wal_write); any other call on the handle writes it first
  // (write_held_header).
  bool header_held = false;
  std::uint32_t held_frame = 0;
  std::uint8_t held_header[kWalFrameHeaderSize] = {};
};

constexpr std::size_t kRealOffset = (sizeof(EhrFile) + 15) & ~std::size_t{15};

// "unix": below the production shim, and used for all header I/O (P9).
sqlite3_vfs* g_real_vfs = nullptr;
sqlite3_vfs g_vfs;
extern const sqlite3_io_methods kMethods;

// The VFS below a shim instance: "unix" for "ehrcrypt", another one for the
// instances of register_vfs_over_for_testing.
sqlite3_vfs* lower_of(sqlite3_vfs* shim) {
  return static_cast<sqlite3_vfs*>(shim->pAppData);
}

EhrFile* ehr(sqlite3_file* f) { return reinterpret_cast<EhrFile*>(f); }

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kMain: return "db";
    case Kind::kWal: return "wal";
    case Kind::kJournal: return "journal";
    case Kind::kSuper: return "super-journal";
  }
  return "?";
}

int log_write_refused(EhrFile* f, const char* why, int amt, sqlite3_int64 off) {
  sqlite3_log(SQLITE_IOERR_WRITE,
              "ehrcrypt: refused %s write of %d bytes at offset %lld to %s: %s",
              kind_name(f->kind), amt, static_cast<long long>(off),
              f->name.c_str(), why);
  return SQLITE_IOERR_WRITE;
}

int log_auth_failure(EhrFile* f, std::uint32_t pgno, Domain d) {
  f->ctx->note_failure("page " + std::to_string(pgno) + " of " + f->name +
                       " (" + kind_name(f->kind) + ")");
  sqlite3_log(SQLITE_IOERR_DATA,
              "ehrcrypt: authentication failed: file %s, page %u, domain %c",
              f->name.c_str(), pgno, static_cast<char>(d));
  return SQLITE_IOERR_DATA;
}

int real_read(EhrFile* f, void* buf, int amt, sqlite3_int64 off) {
  return f->real->pMethods->xRead(f->real, buf, amt, off);
}

int real_write(EhrFile* f, const void* buf, int amt, sqlite3_int64 off) {
  return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

int real_size(EhrFile* f, sqlite3_int64* size) {
  return f->real->pMethods->xFileSize(f->real, size);
}

void destroy(EhrFile* f) {
  f->~EhrFile();
}

// Reads the header through `f->real` and checks it belongs to `f->ctx`.
int verify_main_header(EhrFile* f) {
  store::HeaderBytes h{};
  int rc = real_read(f, h.data(), static_cast<int>(h.size()), 0);
  if (rc == SQLITE_IOERR_SHORT_READ) return SQLITE_NOTADB;
  if (rc != SQLITE_OK) return rc;
  if (!store::find_authentic_copy(h, f->ctx->file_id(), f->ctx->hdr_key())) {
    sqlite3_log(SQLITE_NOTADB,
                "ehrcrypt: %s: no ehr header copy authenticates for this key",
                f->name.c_str());
    return SQLITE_NOTADB;
  }
  return SQLITE_OK;
}

// Opens the WAL `name` below the shim. SQLite always asks for
// SQLITE_OPEN_CREATE, and the unix VFS then fsyncs the directory at the
// handle's first sync, whether or not the file was new: one more fsync per
// process now that the WAL outlives the connections (sqlite_store.cc
// close_connection). An existing WAL is therefore opened without CREATE,
// and the directory is synced only after this handle writes a WAL header
// (wal_write, x_sync). That keeps every commit durable:
//   - SQLite writes the header of a WAL generation, syncs it (wal.c
//     syncHeader, always on here: no IOCAP_SEQUENTIAL), and only then writes
//     frames of that generation. So once the header's sync returns, the
//     directory entry of the WAL is durable: synced by the unix VFS (a handle
//     opened with CREATE syncs the directory at its first sync, which comes
//     no later) or by x_sync below.
//   - A handle that writes no header appends to a generation that already
//     has frames (wal.c writes a header exactly when mxFrame is 0), so that
//     generation's header sync, and the directory sync, came first.
// A WAL file created or renamed into place by anything but SQLite (a copy
// restored by hand) is outside this argument.
int open_wal(sqlite3_vfs* lower, sqlite3_filename name, EhrFile* f, int flags, int* out_flags) {
  int exists = 0;
  if ((flags & SQLITE_OPEN_CREATE) != 0 &&
      lower->xAccess(lower, name, SQLITE_ACCESS_EXISTS, &exists) == SQLITE_OK && exists) {
    int rc = lower->xOpen(lower, name, f->real, flags & ~SQLITE_OPEN_CREATE, out_flags);
    if (rc == SQLITE_OK) {
      f->opened_existing = true;
      return SQLITE_OK;
    }
    // Gone in between (deleted by an older ehr's close): create it.
    if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
    f->real->pMethods = nullptr;
  }
  return lower->xOpen(lower, name, f->real, flags, out_flags);
}

std::atomic<std::uint64_t> g_wal_directory_syncs{0};

// fsyncs the directory holding `path`; errors are ignored, as the unix VFS
// ignores them (some systems cannot fsync a directory).
void sync_directory_of(const std::string& path) {
  g_wal_directory_syncs.fetch_add(1);
  std::string dir = path.substr(0, path.find_last_of('/') + 1);
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags,
           int* out_flags) {
  sqlite3_vfs* lower = lower_of(vfs);
  EhrFile* owner = nullptr;  // a WAL's or journal's MAIN_DB
  EhrFile* f = new (file) EhrFile();
  f->vfs_name = vfs->zName;
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) +
                                            kRealOffset);
  f->name = name != nullptr ? name : "(nameless)";

  auto refuse = [&](const char* why) {
    sqlite3_log(SQLITE_CANTOPEN, "ehrcrypt: refused to open %s: %s",
                f->name.c_str(), why);
    destroy(f);
    return SQLITE_CANTOPEN;
  };

  if (name == nullptr) return refuse("nameless (temporary) files are not allowed");
  if (flags & SQLITE_OPEN_MAIN_DB) {
    f->kind = Kind::kMain;
    const char* handle = sqlite3_uri_parameter(name, "ehrkey");
    if (handle != nullptr) f->ctx = find_key(handle);
    if (!f->ctx) return refuse("no ehr key context (ehrkey=)");
    int exists = 0;
    if (lower->xAccess(lower, name, SQLITE_ACCESS_EXISTS, &exists) !=
            SQLITE_OK ||
        !exists) {
      return refuse("an ehr database must be created with its header first");
    }
  } else if (flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) {
    f->kind = (flags & SQLITE_OPEN_WAL) ? Kind::kWal : Kind::kJournal;
    sqlite3_file* main = sqlite3_database_file_object(name);
    if (main == nullptr || main->pMethods == nullptr ||
        main->pMethods->xFileControl(main, kFcntlSelf, &owner) != SQLITE_OK ||
        owner == nullptr || !owner->ctx) {
      return refuse("its database is not an ehrcrypt database");
    }
    f->ctx = owner->ctx;
  } else if (flags & SQLITE_OPEN_SUPER_JOURNAL) {
    f->kind = Kind::kSuper;
  } else {
    return refuse("temporary files are not allowed (use temp_store=MEMORY)");
  }

  if (f->kind == Kind::kMain) {
    // Which file the path names, taken before the open: if a rename swaps
    // another file in between, the handle gets that file, whose header does
    // not authenticate for this key (verify_main_header below), so the
    // identity recorded here is never a file other than the handle's own
    // but an older one at worst, which still_at_path reports as replaced.
    struct stat st {};
    if (::stat(f->name.c_str(), &st) == 0) {
      f->identity_known = true;
      f->dev = st.st_dev;
      f->ino = st.st_ino;
    }
  }
  int rc = f->kind == Kind::kWal ? open_wal(lower, name, f, flags, out_flags)
                                 : lower->xOpen(lower, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    destroy(f);
    return rc;
  }
  if (f->kind == Kind::kMain) {
    rc = verify_main_header(f);
    if (rc != SQLITE_OK) {
      if (f->real->pMethods) f->real->pMethods->xClose(f->real);
      destroy(f);
      return rc;
    }
  }
  if (f->kind == Kind::kWal) {
    f->owner = owner;
    owner->wal = f;
  }
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

// --- 4. MAIN_DB ---------------------------------------------------------------

sqlite3_int64 page_phys(std::uint32_t pgno) {
  return kHeaderOffset + static_cast<sqlite3_int64>(pgno - 1) * kPageSize;
}

// Reads physical page `pgno` into `plain`. SQLITE_OK, SQLITE_IOERR_DATA,
// SQLITE_IOERR_SHORT_READ (page entirely beyond EOF; `plain` zeroed), or
// another I/O error.
int read_db_page(EhrFile* f, std::uint32_t pgno, std::uint8_t* plain) {
  std::uint8_t raw[kPageSize];
  int rc = real_read(f, raw, kPageSize, page_phys(pgno));
  if (rc == SQLITE_IOERR_SHORT_READ) {
    sqlite3_int64 size = 0;
    int rc2 = real_size(f, &size);
    if (rc2 != SQLITE_OK) return rc2;
    if (size <= page_phys(pgno)) {
      std::memset(plain, 0, kPageSize);
      return SQLITE_IOERR_SHORT_READ;
    }
    // A partial page: truncated or torn file. Authentication decides.
  } else if (rc != SQLITE_OK) {
    return rc;
  }
  PagePlace place{Domain::kDb, pgno};
  if (!open_page(*f->ctx, place, raw, plain)) {
    return log_auth_failure(f, pgno, Domain::kDb);
  }
  if (pgno == 1 && (plain[16] != (kPageSize >> 8) || plain[17] != 0 ||
                    plain[20] != kReserve)) {
    sqlite3_log(SQLITE_IOERR_DATA,
                "ehrcrypt: %s: page 1 page size or reserve disagrees with the "
                "ehr header", f->name.c_str());
    f->ctx->note_failure("page 1 of " + f->name + " (db): layout mismatch");
    std::memset(plain, 0, kPageSize);
    return SQLITE_IOERR_DATA;
  }
  return SQLITE_OK;
}

int main_read(EhrFile* f, std::uint8_t* out, int amt, sqlite3_int64 off) {
  if (off < 0) return SQLITE_IOERR_READ;
  // SQLite reads a prefix of page 1 from the db file itself before it looks
  // at the WAL (100@0 when the btree opens, and 16@24 in rollback mode) and
  // survives garbage or a short read there; the page it then uses comes
  // through the pager, from the WAL when the WAL has a newer copy. A power
  // loss during a checkpoint can tear page 1 of the db file while the WAL
  // still holds it, so an unauthentic page 1 answers such a prefix read with
  // zeros and SQLITE_IOERR_SHORT_READ (which SQLite takes as "no header
  // yet"); a whole-page read of it still fails with SQLITE_IOERR_DATA.
  const bool page1_prefix = off + amt <= kPageSize && amt < kPageSize;
  int result = SQLITE_OK;
  std::uint8_t plain[kPageSize];
  bool used_plain = false;
  while (amt > 0) {
    sqlite3_int64 pg = off / kPageSize + 1;
    int in_page = static_cast<int>(off % kPageSize);
    int n = std::min(amt, kPageSize - in_page);
    if (pg > 0xFFFFFFFEll) return SQLITE_IOERR_READ;
    std::uint32_t pgno = static_cast<std::uint32_t>(pg);
    if (pgno == kLockBytePage) {
      std::memset(out, 0, n);  // never decrypted (P8)
    } else if (n == kPageSize) {
      // A whole page (what the pager reads): decrypted straight into
      // SQLite's buffer, which read_db_page zeroes when it fails.
      int rc = read_db_page(f, pgno, out);
      if (rc == SQLITE_IOERR_SHORT_READ) {
        result = SQLITE_IOERR_SHORT_READ;
      } else if (rc != SQLITE_OK) {
        return rc;
      }
    } else {
      used_plain = true;
      int rc = read_db_page(f, pgno, plain);
      if (rc == SQLITE_IOERR_DATA && pgno == 1 && page1_prefix) {
        f->ctx->take_failure();
        sqlite3_log(SQLITE_IOERR_DATA,
                    "ehrcrypt: %s: page 1 fails authentication; its %d-byte prefix "
                    "read as not there", f->name.c_str(), amt);
        std::memset(out, 0, static_cast<std::size_t>(amt));
        return SQLITE_IOERR_SHORT_READ;
      }
      if (rc == SQLITE_IOERR_SHORT_READ) {
        result = SQLITE_IOERR_SHORT_READ;
      } else if (rc != SQLITE_OK) {
        return rc;
      }
      std::memcpy(out, plain + in_page, n);
    }
    out += n;
    off += n;
    amt -= n;
  }
  if (used_plain) crypto::wipe(plain);
  return result;
}

// A page-1 image must keep the layout the ehr header promises, whether it
// goes to the db file or into the WAL (a backup from a plain database would
// otherwise bring reserve 0 along; sqlite3mc #158).
int check_page1(EhrFile* f, const std::uint8_t* in, int amt, sqlite3_int64 off) {
  if (std::memcmp(in, "SQLite format 3\0", 16) != 0) {
    return log_write_refused(f, "page 1 is not an SQLite header", amt, off);
  }
  if (in[16] != (kPageSize >> 8) || in[17] != 0) {
    return log_write_refused(f, "page size must stay 4096", amt, off);
  }
  if (in[20] != kReserve) {
    return log_write_refused(f, "reserve must stay 48", amt, off);
  }
  return SQLITE_OK;
}

int main_write(EhrFile* f, const std::uint8_t* in, int amt, sqlite3_int64 off) {
  DbWriteShape shape = classify_db_write(amt, off);
  if (shape.refusal != nullptr) return log_write_refused(f, shape.refusal, amt, off);
  const std::uint32_t pgno = shape.pgno;
  if (pgno == 1) {
    if (int rc = check_page1(f, in, amt, off); rc != SQLITE_OK) return rc;
  }
  std::uint8_t page[kPageSize];
  seal_page(*f->ctx, PagePlace{Domain::kDb, pgno}, in, page);
  return real_write(f, page, kPageSize, page_phys(pgno));
}

// --- 5. WAL -------------------------------------------------------------------

sqlite3_int64 frame_offset(std::uint32_t k) {
  return kWalHeaderSize + static_cast<sqlite3_int64>(k - 1) * kWalFrameSize;
}

// Writes the frame header wal_write held back, if any. Every call on a WAL
// handle but the write of that frame's page comes here first, so the file
// reads, syncs and sizes exactly as if the header had been written when
// SQLite wrote it. SQLite writes a frame as its header and then its page
// (wal.c walWriteOneFrame), so a header is normally held for one call.
int write_held_header(EhrFile* f) {
  if (f == nullptr || !f->header_held) return SQLITE_OK;
  f->header_held = false;
  return real_write(f, f->held_header, kWalFrameHeaderSize, frame_offset(f->held_frame));
}

void apply_mask(const KeyContext& ctx, std::uint8_t* hdr, std::uint32_t k) {
  std::uint8_t mask[8];
  wal_checksum_mask(ctx, hdr + 8, k, mask);
  for (int i = 0; i < 8; ++i) hdr[16 + i] ^= mask[i];
}

// The salts a frame's page is bound to: its generation's. Normally those are
// in the frame header; but once a transaction has rewritten one of its own
// frames, SQLite 3.40 writes the following frame headers with zero salts and
// checksum and fills them in at commit (walEncodeFrame with iReCksum != 0,
// then walRewriteChecksums). While they are zero, the WAL header has them.
int frame_salts(EhrFile* f, const std::uint8_t* hdr, std::uint8_t* salts) {
  if (!all_zero(hdr + 8, 8)) {
    std::memcpy(salts, hdr + 8, 8);
    return SQLITE_OK;
  }
  std::uint8_t wal_hdr[kWalHeaderSize];
  int rc = real_read(f, wal_hdr, kWalHeaderSize, 0);
  if (rc != SQLITE_OK) return rc;
  std::memcpy(salts, wal_hdr + 16, 8);
  return SQLITE_OK;
}

PagePlace wal_place(const std::uint8_t* hdr, const std::uint8_t* salts) {
  return PagePlace{Domain::kWal, get_be32(hdr), salts, get_be32(hdr + 4)};
}

// --- 5a. scanning the WAL as SQLite's recovery does ----------------------------
//
// Used to tell a torn tail from damage to durable frames (below) and by
// check_wal. SQLite's frame checksum (wal.c walChecksumBytes) is a chained
// Fletcher-like sum over plaintext: the WAL header's checksum seeds frame 1,
// and each frame's checksum covers its header bytes [0, 8) and its page,
// seeded by the previous frame's. The shim masks the stored words (P2), so
// it unmasks them with the generation's salts to follow the chain.

std::uint32_t get_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) |
         (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}

// The current WAL generation: salts and checksum byte order of the header.
struct WalGen {
  std::uint8_t salts[8] = {};
  bool big_endian = false;  // magic & 1 (wal.c bigEndCksum)
  std::uint32_t cksum[2] = {};  // the header's own checksum: frame 1's seed
};

// SQLITE_OK with `gen`, or SQLITE_IOERR_SHORT_READ when there is no header.
int read_wal_gen(EhrFile* f, WalGen& gen) {
  std::uint8_t h[kWalHeaderSize];
  int rc = real_read(f, h, kWalHeaderSize, 0);
  if (rc != SQLITE_OK) return rc;
  std::uint32_t magic = get_be32(h);
  if ((magic & 0xFFFFFFFEu) != 0x377f0682u) return SQLITE_IOERR_SHORT_READ;
  gen.big_endian = (magic & 1) != 0;
  std::memcpy(gen.salts, h + 16, 8);
  gen.cksum[0] = get_be32(h + 24);
  gen.cksum[1] = get_be32(h + 28);
  return SQLITE_OK;
}

void wal_cksum(bool big_endian, const std::uint8_t* p, std::size_t n,
               std::uint32_t s[2]) {
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint32_t x0 = big_endian ? get_be32(p + i) : get_le32(p + i);
    std::uint32_t x1 = big_endian ? get_be32(p + i + 4) : get_le32(p + i + 4);
    s[0] += x0 + s[1];
    s[1] += x1 + s[0];
  }
}

// One frame as a scan sees it.
struct ScannedFrame {
  bool authentic = false;  // carries the generation's salts and authenticates
  std::uint32_t pgno = 0;
  std::uint32_t ntruncate = 0;
  std::uint32_t cksum[2] = {};  // stored checksum, unmasked with the generation's salts
  std::uint8_t hdr8[8] = {};    // pgno | nTruncate as stored
  std::uint8_t plain[kPageSize] = {};  // valid when authentic
};

// Reads frame `k`. `out.authentic` is false for a frame past EOF, one of
// another generation (or unsalted) and one that fails authentication.
int scan_frame(EhrFile* f, const WalGen& gen, std::uint32_t k, ScannedFrame& out) {
  out = ScannedFrame{};
  std::uint8_t image[kWalFrameSize];
  int rc = real_read(f, image, static_cast<int>(kWalFrameSize), frame_offset(k));
  if (rc == SQLITE_IOERR_SHORT_READ) return SQLITE_OK;  // a partial frame never counts
  if (rc != SQLITE_OK) return rc;
  std::uint8_t mask[8];
  wal_checksum_mask(*f->ctx, gen.salts, k, mask);
  out.cksum[0] = get_be32(image + 16) ^ get_be32(mask);
  out.cksum[1] = get_be32(image + 20) ^ get_be32(mask + 4);
  std::memcpy(out.hdr8, image, 8);
  out.pgno = get_be32(image);
  out.ntruncate = get_be32(image + 4);
  if (std::memcmp(image + 8, gen.salts, 8) != 0) return SQLITE_OK;
  PagePlace place = wal_place(image, gen.salts);
  out.authentic = open_page(*f->ctx, place, image + kWalFrameHeaderSize, out.plain);
  return SQLITE_OK;
}

// True when `fr` continues a checksum chain whose previous value is `seed`.
bool chains(const WalGen& gen, const std::uint32_t seed[2], const ScannedFrame& fr) {
  std::uint32_t s[2] = {seed[0], seed[1]};
  wal_cksum(gen.big_endian, fr.hdr8, 8, s);
  wal_cksum(gen.big_endian, fr.plain, kPageSize, s);
  return s[0] == fr.cksum[0] && s[1] == fr.cksum[1];
}

// Decides whether a frame `k` that failed authentication during recovery is
// damage to durable data (an anomaly, §5.3) or the torn tail a power loss
// leaves (simply the end of the log).
//
// THE RULE: frame k is an anomaly iff some frame j >= k is a commit frame
// and frame j+1 authenticates with the current generation's salts and
// continues SQLite's checksum chain from frame j. For j == k, frame k's own
// (unauthenticated) header supplies the commit mark and the chain value,
// unmasked with the generation's salts; for j > k, frame j must
// authenticate.
//
// Why: under synchronous=FULL (what ehr runs) SQLite syncs the WAL at every
// commit before it writes any frame of the next transaction. A frame chained
// after a commit frame therefore proves that commit, and every frame of
// this generation before it, was synced: a power loss cannot have damaged
// frame k. The frames a power loss can damage are those of the last
// transaction, and nothing authentic chains after its commit frame (stale
// frames of a rolled-back transaction chain from the frames they followed,
// not from the new commit; frames of an older generation carry other
// salts). So a power loss never raises an anomaly, and any damage that
// would make SQLite silently drop a transaction followed by another one
// does. NOT detected: damage confined to the last transaction of the WAL,
// which is indistinguishable from a torn tail (like truncating the WAL,
// a documented limitation, §5.3). Under synchronous=NORMAL a power loss can
// raise an anomaly (several unsynced transactions).
bool damage_is_durable(EhrFile* f, std::uint32_t k, const std::uint8_t* raw_hdr) {
  WalGen gen;
  if (read_wal_gen(f, gen) != SQLITE_OK) return false;
  sqlite3_int64 size = 0;
  if (real_size(f, &size) != SQLITE_OK) return false;
  std::uint8_t mask[8];
  wal_checksum_mask(*f->ctx, gen.salts, k, mask);
  bool prev_usable = !all_zero(raw_hdr, kWalFrameHeaderSize);
  bool prev_commit = get_be32(raw_hdr + 4) != 0;
  std::uint32_t prev[2] = {get_be32(raw_hdr + 16) ^ get_be32(mask),
                           get_be32(raw_hdr + 20) ^ get_be32(mask + 4)};
  auto fr = std::make_unique<ScannedFrame>();
  for (std::uint32_t j = k + 1; j != 0 && frame_offset(j) + kWalFrameSize <= size; ++j) {
    if (scan_frame(f, gen, j, *fr) != SQLITE_OK) return false;
    if (fr->authentic && prev_usable && prev_commit && chains(gen, prev, *fr)) {
      return true;
    }
    prev_usable = fr->authentic;
    prev_commit = fr->ntruncate != 0;
    prev[0] = fr->cksum[0];
    prev[1] = fr->cksum[1];
  }
  crypto::wipe(crypto::MutBytes(fr->plain, kPageSize));
  return false;
}

// Produces bytes [rel, rel + n) of the plaintext image of frame `k`.
int wal_read_frame(EhrFile* f, std::uint32_t k, int rel, int n,
                   std::uint8_t* out) {
  const sqlite3_int64 fo = frame_offset(k);
  const bool wants_page = rel + n > kWalFrameHeaderSize;
  const bool full_frame = rel == 0 && n == kWalFrameSize;
  std::uint8_t image[kWalFrameSize];
  int want = wants_page ? static_cast<int>(kWalFrameSize) : kWalFrameHeaderSize;
  int rc = real_read(f, image, want, fo);
  if (rc == SQLITE_IOERR_SHORT_READ) {
    sqlite3_int64 size = 0;
    int rc2 = real_size(f, &size);
    if (rc2 != SQLITE_OK) return rc2;
    if (size <= fo) {  // frame entirely beyond EOF
      std::memset(out, 0, n);
      return SQLITE_IOERR_SHORT_READ;
    }
  } else if (rc != SQLITE_OK) {
    return rc;
  }
  std::uint8_t* hdr = image;
  const bool zero_frame = all_zero(image, want);
  // An all-zero frame read whole (recovery) is simply the end of the log.
  // Any other read of page bytes must authenticate.
  if (wants_page && !(full_frame && zero_frame)) {
    std::uint8_t salts[8];
    int src = frame_salts(f, hdr, salts);
    if (src != SQLITE_OK) return src;
    std::uint8_t plain[kPageSize];
    PagePlace place = wal_place(hdr, salts);
    if (open_page(*f->ctx, place, image + kWalFrameHeaderSize, plain)) {
      std::memcpy(image + kWalFrameHeaderSize, plain, kPageSize);
    } else if (full_frame) {
      // Recovery (or walRewriteChecksums) reads whole frames. Treat the
      // frame as the end of the log (pgno 0), and flag an anomaly, keeping
      // the WAL as evidence (§5.3), only when the frame was durable: see
      // damage_is_durable for the exact rule. A torn tail is dropped
      // silently, as SQLite drops one with a bad checksum.
      if (damage_is_durable(f, k, hdr)) {
        std::string text = "wal frame " + std::to_string(k) + " of " + f->name +
                           " failed authentication";
        sqlite3_log(SQLITE_IOERR_DATA, "ehrcrypt: %s", text.c_str());
        f->ctx->flag_anomaly(std::move(text));
      }
      std::memset(image, 0, kWalFrameSize);
    } else {
      return log_auth_failure(f, place.pgno, Domain::kWal);
    }
    crypto::wipe(plain);
  }
  if (!all_zero(hdr, kWalFrameHeaderSize)) apply_mask(*f->ctx, hdr, k);
  std::memcpy(out, image + rel, n);
  crypto::wipe(crypto::MutBytes(image, kWalFrameSize));
  return SQLITE_OK;
}

int wal_read(EhrFile* f, std::uint8_t* out, int amt, sqlite3_int64 off) {
  if (off < 0) return SQLITE_IOERR_READ;
  int result = SQLITE_OK;
  while (amt > 0) {
    std::optional<WalReadPiece> piece = next_wal_read_piece(off, amt);
    if (!piece) return SQLITE_IOERR_READ;
    const int n = piece->n;
    const int rc = piece->header ? real_read(f, out, n, off)
                                 : wal_read_frame(f, piece->frame, piece->rel, n, out);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      result = rc;
    } else if (rc != SQLITE_OK) {
      return rc;
    }
    out += n;
    off += n;
    amt -= n;
  }
  return result;
}

int wal_write(EhrFile* f, const std::uint8_t* in, int amt, sqlite3_int64 off) {
  WalWriteShape shape = classify_wal_write(amt, off);
  const std::uint32_t k = shape.frame;
  switch (shape.kind) {
    case WalWrite::kHeader:
      if (get_be32(in + 8) != static_cast<std::uint32_t>(kPageSize)) {
        return log_write_refused(f, "wal page size must be 4096", amt, off);
      }
      if (f->opened_existing) f->dir_sync_due = true;  // see open_wal
      return real_write(f, in, amt, off);
    case WalWrite::kFrameHeader: {
      if (int rc = write_held_header(f); rc != SQLITE_OK) return rc;
      std::memcpy(f->held_header, in, kWalFrameHeaderSize);
      apply_mask(*f->ctx, f->held_header, k);
      f->held_frame = k;
      f->header_held = true;
      return SQLITE_OK;
    }
    case WalWrite::kFramePage:
      break;
    case WalWrite::kRefused:
      return log_write_refused(f, shape.refusal, amt, off);
  }
  // pgno, salts and nTruncate come from the frame's header: held, for a new
  // frame, which then goes out as header and page in one write; or on disk,
  // for an in-transaction rewrite of an earlier frame's page.
  const bool new_frame = f->header_held && f->held_frame == k;
  std::uint8_t frame[kWalFrameSize];
  if (new_frame) {
    std::memcpy(frame, f->held_header, kWalFrameHeaderSize);
    f->header_held = false;
  } else {
    if (int rc = write_held_header(f); rc != SQLITE_OK) return rc;
    if (real_read(f, frame, kWalFrameHeaderSize, frame_offset(k)) != SQLITE_OK) {
      return log_write_refused(f, "page without a frame header", amt, off);
    }
  }
  std::uint8_t salts[8];
  if (frame_salts(f, frame, salts) != SQLITE_OK) {
    return log_write_refused(f, "page without a WAL header", amt, off);
  }
  PagePlace place = wal_place(frame, salts);
  if (place.pgno == 1) {
    if (int rc = check_page1(f, in, amt, off); rc != SQLITE_OK) return rc;
  }
  seal_page(*f->ctx, place, in, frame + kWalFrameHeaderSize);
  return new_frame ? real_write(f, frame, static_cast<int>(kWalFrameSize), frame_offset(k))
                   : real_write(f, frame + kWalFrameHeaderSize, kPageSize, off);
}

// --- 6. MAIN_JOURNAL ------------------------------------------------------------

int journal_write(EhrFile* f, const std::uint8_t* in, int amt,
                  sqlite3_int64 off) {
  JournalWriteShape shape = classify_journal_write(f->journal, in, amt, off);
  if (!shape.page) return real_write(f, in, amt, off);
  std::uint8_t page[kPageSize];
  seal_page(*f->ctx, PagePlace{Domain::kJournal, shape.pgno}, in, page);
  int rc = real_write(f, page, kPageSize, off);
  if (rc != SQLITE_OK) f->journal.prev_valid = false;
  return rc;
}

int journal_read(EhrFile* f, std::uint8_t* out, int amt, sqlite3_int64 off) {
  if (amt != kPageSize || off < 4) return real_read(f, out, amt, off);
  std::uint8_t pg[4];
  int rc = real_read(f, pg, 4, off - 4);
  if (rc != SQLITE_OK) return real_read(f, out, amt, off);
  std::uint8_t raw[kPageSize];
  rc = real_read(f, raw, kPageSize, off);
  std::uint32_t pgno = get_be32(pg);
  if (rc != SQLITE_OK || pgno == 0) {
    // pgno 0 marks a record SQLite discards; short reads are zero-filled.
    std::memcpy(out, raw, kPageSize);
    return rc;
  }
  if (!open_page(*f->ctx, PagePlace{Domain::kJournal, pgno}, raw, out)) {
    return log_auth_failure(f, pgno, Domain::kJournal);
  }
  return SQLITE_OK;
}

// --- 7. io methods ------------------------------------------------------------

int x_close(sqlite3_file* file) {
  EhrFile* f = ehr(file);
  if (f->owner != nullptr && f->owner->wal == f) f->owner->wal = nullptr;
  if (f->wal != nullptr && f->wal->owner == f) f->wal->owner = nullptr;
  int held = f->real->pMethods ? write_held_header(f) : SQLITE_OK;
  int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  destroy(f);
  return rc != SQLITE_OK ? rc : held;
}

int x_read(sqlite3_file* file, void* buf, int amt, sqlite3_int64 off) {
  EhrFile* f = ehr(file);
  if (int rc = write_held_header(f); rc != SQLITE_OK) return rc;
  auto* out = static_cast<std::uint8_t*>(buf);
  switch (f->kind) {
    case Kind::kMain: return main_read(f, out, amt, off);
    case Kind::kWal: return wal_read(f, out, amt, off);
    case Kind::kJournal: return journal_read(f, out, amt, off);
    case Kind::kSuper: break;
  }
  return real_read(f, buf, amt, off);
}

int x_write(sqlite3_file* file, const void* buf, int amt, sqlite3_int64 off) {
  EhrFile* f = ehr(file);
  auto* in = static_cast<const std::uint8_t*>(buf);
  switch (f->kind) {
    case Kind::kMain: return main_write(f, in, amt, off);
    case Kind::kWal: return wal_write(f, in, amt, off);
    case Kind::kJournal: return journal_write(f, in, amt, off);
    case Kind::kSuper: break;
  }
  return real_write(f, buf, amt, off);
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  EhrFile* f = ehr(file);
  if (int rc = write_held_header(f); rc != SQLITE_OK) return rc;
  if (f->kind == Kind::kMain) size += kHeaderOffset;
  return f->real->pMethods->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  EhrFile* f = ehr(file);
  if (int rc = write_held_header(f); rc != SQLITE_OK) return rc;
  int rc = f->real->pMethods->xSync(f->real, flags);
  if (rc == SQLITE_OK && f->dir_sync_due) {
    sync_directory_of(f->name);
    f->dir_sync_due = false;
  }
  return rc;
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  EhrFile* f = ehr(file);
  if (int rc = write_held_header(f); rc != SQLITE_OK) return rc;
  int rc = real_size(f, size);
  if (rc == SQLITE_OK && f->kind == Kind::kMain) {
    // A header-only file is an empty database to SQLite.
    *size = *size > kHeaderOffset ? *size - kHeaderOffset : 0;
  }
  return rc;
}

// Whether the path of main db `f` still names the file `f` has open.
bool still_at_path(const EhrFile* f) {
  if (!f->identity_known) return true;
  struct stat st {};
  if (::stat(f->name.c_str(), &st) != 0) return false;
  return st.st_dev == f->dev && st.st_ino == f->ino;
}

// The first lock on a main db file checks that the file is still the one
// at its path. `ehr db rotate-key` renames a new file over the path while
// it holds the EXCLUSIVE lock on the old one: a process that opened the
// path before that rename waited for its lock on the old file, now
// unlinked, and got it once the rotation closed. Whatever it then wrote
// went into a file no one will open again (and its WAL writes into the
// new database's "-wal", which belongs to another key). So that lock is
// given back and refused. A WAL-mode connection holds SHARED from this
// point to its close, and a rotation cannot rename while anyone holds a
// lock, so one check per connection is enough: one stat, nothing per page.
int x_lock(sqlite3_file* file, int level) {
  EhrFile* f = ehr(file);
  int rc = f->real->pMethods->xLock(f->real, level);
  if (rc != SQLITE_OK) return rc;
  if (f->kind == Kind::kMain && f->lock_level == SQLITE_LOCK_NONE && !still_at_path(f)) {
    f->real->pMethods->xUnlock(f->real, SQLITE_LOCK_NONE);
    f->ctx->note_replaced();
    sqlite3_log(SQLITE_IOERR_LOCK,
                "ehrcrypt: %s was replaced or removed since this connection opened it",
                f->name.c_str());
    return SQLITE_IOERR_LOCK;
  }
  f->lock_level = std::max(f->lock_level, level);  // never lowers a lock
  return rc;
}

int x_unlock(sqlite3_file* file, int level) {
  EhrFile* f = ehr(file);
  int rc = f->real->pMethods->xUnlock(f->real, level);
  if (rc == SQLITE_OK) f->lock_level = level;
  return rc;
}

int x_check_reserved(sqlite3_file* file, int* out) {
  EhrFile* f = ehr(file);
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

// --- 7a. WAL reuse -----------------------------------------------------------
//
// A WAL that grows appends to its file, and on ext4 each fdatasync of an
// append also commits the new file size to the journal: about twice the
// time of syncing blocks the file already has (0.56 against 0.26-0.36 ms on
// the benchmark VM). ehr's processes each commit one small transaction, so
// the close of the last connection keeps the file of a WAL it checkpointed
// (sqlite_store.cc close_connection asks with kFcntlReuseWal) and voids the
// header instead: the next connection's recovery finds no header, so an
// empty WAL, and its first commit writes a new generation over the old
// frames (new salts, so recovery never takes an old frame for a new one).
//
// The wal-index fields read (sqlite.org/walformat.html 2.2, native byte
// order): mxFrame at offset 16 of the first header copy, and nBackfill at
// offset 96, in the checkpoint information after the two copies.
constexpr std::size_t kWalIndexMxFrame = 16;
constexpr std::size_t kWalIndexBackfill = 96;

// The u32 at `offset` of the wal-index this handle has mapped, if any.
std::optional<std::uint32_t> wal_index_u32(const EhrFile* f, std::size_t offset) {
  if (f->shm0 == nullptr) return std::nullopt;
  const volatile std::uint8_t* p = static_cast<const volatile std::uint8_t*>(f->shm0) + offset;
  std::uint8_t b[4] = {p[0], p[1], p[2], p[3]};
  std::uint32_t v = 0;
  std::memcpy(&v, b, sizeof v);
  return v;
}

// Voids the header of `f`'s WAL, during SQLite's close of the last
// connection (the PERSIST_WAL question comes after its checkpoint
// succeeded, under the EXCLUSIVE lock on the db file, before the WAL is
// closed), when every frame has been copied into the db (nBackfill ==
// mxFrame) and the db synced. Not synced itself: if a power loss undoes
// it, the next recovery reads back frames the db already holds, which
// changes nothing; a new generation's header is synced (wal.c syncHeader)
// before any frame of it is written. False leaves the WAL as it was.
bool void_wal_header(EhrFile* f) {
  if (f->lock_level != SQLITE_LOCK_EXCLUSIVE || f->wal == nullptr) return false;
  std::optional<std::uint32_t> frames = wal_index_u32(f, kWalIndexMxFrame);
  std::optional<std::uint32_t> copied = wal_index_u32(f, kWalIndexBackfill);
  if (!frames || !copied || *frames != *copied) return false;
  if (write_held_header(f->wal) != SQLITE_OK) return false;
  sqlite3_int64 size = 0;
  if (real_size(f->wal, &size) != SQLITE_OK || size < kWalHeaderSize) return false;
  const std::uint8_t zero[kWalHeaderSize] = {};
  return real_write(f->wal, zero, kWalHeaderSize, 0) == SQLITE_OK;
}

bool value_is(const char* v, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (sqlite3_stricmp(v, o) == 0) return true;
  }
  return false;
}

// FCNTL_PRAGMA (main db only). SQLITE_NOTFOUND lets SQLite run the pragma.
int handle_pragma(EhrFile* f, char** args) {
  const char* name = args[1];
  const char* value = args[2];
  auto veto = [&](const char* msg) {
    args[0] = sqlite3_mprintf("%s", msg);
    return SQLITE_ERROR;
  };
  if (sqlite3_stricmp(name, "ehr_status") == 0) {
    std::optional<std::string> a = f->ctx->anomaly();
    args[0] = sqlite3_mprintf("%s", a ? a->c_str() : "ok");
    return SQLITE_OK;
  }
  if (value == nullptr) return SQLITE_NOTFOUND;  // reading a value is fine
  if (sqlite3_stricmp(name, "page_size") == 0 && !value_is(value, {"4096"})) {
    return veto("ehr: page_size is fixed at 4096");
  }
  if (sqlite3_stricmp(name, "journal_mode") == 0 && !value_is(value, {"wal"})) {
    return veto("ehr: journal_mode must stay WAL");
  }
  if (sqlite3_stricmp(name, "synchronous") == 0 && value_is(value, {"off", "0"})) {
    return veto("ehr: synchronous=OFF is not allowed");
  }
  if (sqlite3_stricmp(name, "temp_store") == 0 &&
      !value_is(value, {"memory", "2"})) {
    return veto("ehr: temp_store must stay MEMORY");
  }
  return SQLITE_NOTFOUND;
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  EhrFile* f = ehr(file);
  if (int rc = write_held_header(f); rc != SQLITE_OK) return rc;
  if (op == kFcntlSelf) {
    if (f->kind != Kind::kMain) return SQLITE_NOTFOUND;
    *static_cast<EhrFile**>(arg) = f;
    return SQLITE_OK;
  }
  if (f->kind == Kind::kMain) {
    switch (op) {
      case SQLITE_FCNTL_PRAGMA:
        return handle_pragma(f, static_cast<char**>(arg));
      case SQLITE_FCNTL_PERSIST_WAL: {
        int* value = static_cast<int*>(arg);
        if (f->ctx->anomaly()) {
          *value = 1;  // keep the evidence (§5.3)
          return SQLITE_OK;
        }
        if (f->reuse_wal && *value < 0) {
          // A persistence the application set itself (db rotate-key) stands
          // as it is; otherwise keep the file only once its header is void.
          int rc = f->real->pMethods->xFileControl(f->real, op, value);
          if (rc == SQLITE_OK && *value != 1 && void_wal_header(f)) *value = 1;
          return rc;
        }
        break;
      }
      case kFcntlReuseWal:
        f->reuse_wal = *static_cast<int*>(arg) != 0;
        return SQLITE_OK;
      case kFcntlWalFrames: {
        std::optional<std::uint32_t> frames = wal_index_u32(f, kWalIndexMxFrame);
        *static_cast<std::int64_t*>(arg) = frames ? static_cast<std::int64_t>(*frames) : -1;
        return SQLITE_OK;
      }
      case SQLITE_FCNTL_MMAP_SIZE:
        *static_cast<sqlite3_int64*>(arg) = 0;  // no mmap, ever (P6)
        return SQLITE_OK;
      case SQLITE_FCNTL_SIZE_HINT: {
        sqlite3_int64 hint = *static_cast<sqlite3_int64*>(arg) + kHeaderOffset;
        return f->real->pMethods->xFileControl(f->real, op, &hint);
      }
      case SQLITE_FCNTL_VFSNAME: {
        *static_cast<char**>(arg) = sqlite3_mprintf("%s", f->vfs_name);
        return SQLITE_OK;
      }
      default:
        break;
    }
  }
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int x_sector_size(sqlite3_file* file) {
  EhrFile* f = ehr(file);
  return f->real->pMethods->xSectorSize(f->real);
}

int x_device_characteristics(sqlite3_file*) {
  // Only PSOW: no WAL sector padding (P3) and no atomic-write or
  // safe-append paths.
  return SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

int x_shm_map(sqlite3_file* file, int region, int size, int extend,
              void volatile** out) {
  EhrFile* f = ehr(file);
  int rc = f->real->pMethods->xShmMap(f->real, region, size, extend, out);
  if (rc == SQLITE_OK && region == 0 && *out != nullptr) f->shm0 = *out;
  return rc;
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  EhrFile* f = ehr(file);
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
  EhrFile* f = ehr(file);
  f->real->pMethods->xShmBarrier(f->real);
}

// SQLite asks to delete the -shm only after its checkpoint at close
// (wal.c sqlite3WalClose). ehr skips that checkpoint while the WAL is small
// (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE; sqlite_store.cc close_connection), and
// the -shm would then stay on disk for good, with the one unmasked copy of a
// checksum over frame plaintext (encrypted-store.md 2.3). So the last
// connection deletes it anyway, under SQLite's own guard: an EXCLUSIVE lock
// on the db file, which cannot be had while any other connection, in any
// process, has the database open (a WAL-mode connection holds SHARED from
// its first read to its close, and maps the -shm only while holding it).
// The next connection finds no -shm and rebuilds the wal-index from the WAL,
// as every first connection does anyway (the unix VFS truncates a -shm no
// process has open). After a WAL anomaly the files stay as they are (§5.3).
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  EhrFile* f = ehr(file);
  f->shm0 = nullptr;
  sqlite3_file* real = f->real;
  if (delete_flag != 0 || f->kind != Kind::kMain || f->ctx->anomaly()) {
    return real->pMethods->xShmUnmap(real, delete_flag);
  }
  if (f->lock_level == SQLITE_LOCK_EXCLUSIVE) return real->pMethods->xShmUnmap(real, 1);
  if (f->lock_level != SQLITE_LOCK_SHARED) return real->pMethods->xShmUnmap(real, 0);
  bool sole = real->pMethods->xLock(real, SQLITE_LOCK_EXCLUSIVE) == SQLITE_OK;
  int rc = real->pMethods->xShmUnmap(real, sole ? 1 : 0);
  // Back to SHARED, as SQLite believes: this drops the EXCLUSIVE lock taken
  // here, or the PENDING lock a failed attempt leaves (which would keep
  // other processes from starting to read until this file is closed).
  real->pMethods->xUnlock(real, SQLITE_LOCK_SHARED);
  return rc;
}

const sqlite3_io_methods kMethods = {
    2,  // iVersion: shm methods, but no xFetch/xUnfetch (P6)
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    nullptr,
    nullptr,
};

// --- 8. vfs -------------------------------------------------------------------

int v_delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return lower_of(v)->xDelete(lower_of(v), name, sync_dir);
}
int v_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return lower_of(v)->xAccess(lower_of(v), name, flags, out);
}
int v_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return lower_of(v)->xFullPathname(lower_of(v), name, n, out);
}
void* v_dl_open(sqlite3_vfs* v, const char* name) {
  return lower_of(v)->xDlOpen(lower_of(v), name);
}
void v_dl_error(sqlite3_vfs* v, int n, char* out) {
  lower_of(v)->xDlError(lower_of(v), n, out);
}
void (*v_dl_sym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return lower_of(v)->xDlSym(lower_of(v), h, sym);
}
void v_dl_close(sqlite3_vfs* v, void* h) { lower_of(v)->xDlClose(lower_of(v), h); }
int v_randomness(sqlite3_vfs* v, int n, char* out) {
  return lower_of(v)->xRandomness(lower_of(v), n, out);
}
int v_sleep(sqlite3_vfs* v, int us) { return lower_of(v)->xSleep(lower_of(v), us); }
int v_current_time(sqlite3_vfs* v, double* out) {
  return lower_of(v)->xCurrentTime(lower_of(v), out);
}
int v_get_last_error(sqlite3_vfs* v, int n, char* out) {
  return lower_of(v)->xGetLastError(lower_of(v), n, out);
}
int v_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
  return lower_of(v)->xCurrentTimeInt64(lower_of(v), out);
}

// Fills `out` as a shim instance called `name` over `lower`.
void fill_vfs(sqlite3_vfs* out, const char* name, sqlite3_vfs* lower) {
  std::memset(out, 0, sizeof(*out));
  out->iVersion = 2;
  out->szOsFile = static_cast<int>(kRealOffset) + lower->szOsFile;
  out->mxPathname = lower->mxPathname;
  out->zName = name;
  out->pAppData = lower;
  out->xOpen = x_open;
  out->xDelete = v_delete;
  out->xAccess = v_access;
  out->xFullPathname = v_full_pathname;
  out->xDlOpen = v_dl_open;
  out->xDlError = v_dl_error;
  out->xDlSym = v_dl_sym;
  out->xDlClose = v_dl_close;
  out->xRandomness = v_randomness;
  out->xSleep = v_sleep;
  out->xCurrentTime = v_current_time;
  out->xGetLastError = v_get_last_error;
  out->xCurrentTimeInt64 = v_current_time_int64;
}

}  // namespace

std::uint64_t wal_directory_syncs_for_testing() { return g_wal_directory_syncs.load(); }

int register_vfs() {
  static std::once_flag once;
  static int result = SQLITE_OK;
  std::call_once(once, [] {
    crypto::ensure_init();
    // No memory statistics (nothing reads them): each allocation otherwise
    // takes SQLite's global memory mutex. Only possible before SQLite is
    // initialized (sqlite3_vfs_find does that); SQLITE_MISUSE, harmless,
    // when something else initialized it first.
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    g_real_vfs = sqlite3_vfs_find("unix");
    if (g_real_vfs == nullptr) {
      result = SQLITE_ERROR;
      return;
    }
    fill_vfs(&g_vfs, kVfsName, g_real_vfs);
    result = sqlite3_vfs_register(&g_vfs, 0);
  });
  return result;
}

int register_vfs_over_for_testing(const char* shim_name, const char* lower_vfs_name) {
  int rc = register_vfs();
  if (rc != SQLITE_OK) return rc;
  if (shim_name == nullptr || lower_vfs_name == nullptr) return SQLITE_MISUSE;
  static std::mutex mu;
  // Instances live for the rest of the process: SQLite keeps pointers to them.
  static auto* instances = new std::map<std::string, std::unique_ptr<sqlite3_vfs>>();
  std::lock_guard<std::mutex> lock(mu);
  sqlite3_vfs* lower = sqlite3_vfs_find(lower_vfs_name);
  if (lower == nullptr) return SQLITE_ERROR;
  if (auto it = instances->find(shim_name); it != instances->end()) {
    return it->second->pAppData == lower ? SQLITE_OK : SQLITE_MISUSE;
  }
  if (sqlite3_vfs_find(shim_name) != nullptr) return SQLITE_MISUSE;  // someone else's
  auto vfs = std::make_unique<sqlite3_vfs>();
  auto [it, inserted] = instances->emplace(shim_name, nullptr);
  fill_vfs(vfs.get(), it->first.c_str(), lower);
  rc = sqlite3_vfs_register(vfs.get(), 0);
  if (rc != SQLITE_OK) {
    instances->erase(it);
    return rc;
  }
  it->second = std::move(vfs);
  return SQLITE_OK;
}

// --- shape classification -------------------------------------------------------

DbWriteShape classify_db_write(int amt, std::int64_t off) {
  if (amt != kPageSize || off < 0 || off % kPageSize != 0) {
    return {0, "not one whole aligned page"};
  }
  std::int64_t pg = off / kPageSize + 1;
  if (pg > 0xFFFFFFFEll) return {0, "page number"};
  auto pgno = static_cast<std::uint32_t>(pg);
  if (pgno == kLockBytePage) return {0, "the lock-byte page is never written"};
  return {pgno, nullptr};
}

WalWriteShape classify_wal_write(int amt, std::int64_t off) {
  if (off == 0 && amt == kWalHeaderSize) return {WalWrite::kHeader, 0, nullptr};
  if (off < kWalHeaderSize) return {WalWrite::kRefused, 0, "unexpected shape"};
  std::int64_t k64 = (off - kWalHeaderSize) / kWalFrameSize + 1;
  if (k64 > 0xFFFFFFFFll) return {WalWrite::kRefused, 0, "frame number"};
  auto k = static_cast<std::uint32_t>(k64);
  std::int64_t rel = off - frame_offset(k);
  if (rel == 0 && amt == kWalFrameHeaderSize) return {WalWrite::kFrameHeader, k, nullptr};
  if (rel == kWalFrameHeaderSize && amt == kPageSize) return {WalWrite::kFramePage, k, nullptr};
  return {WalWrite::kRefused, 0, "unexpected shape"};
}

std::optional<WalReadPiece> next_wal_read_piece(std::int64_t off, int amt) {
  if (off < 0 || amt <= 0) return std::nullopt;
  if (off < kWalHeaderSize) {
    int n = static_cast<int>(std::min<std::int64_t>(amt, kWalHeaderSize - off));
    return WalReadPiece{true, 0, static_cast<int>(off), n};
  }
  std::int64_t k64 = (off - kWalHeaderSize) / kWalFrameSize + 1;
  if (k64 > 0xFFFFFFFFll) return std::nullopt;
  auto k = static_cast<std::uint32_t>(k64);
  int rel = static_cast<int>(off - frame_offset(k));
  int n = static_cast<int>(std::min<std::int64_t>(amt, kWalFrameSize - rel));
  return WalReadPiece{false, k, rel, n};
}

JournalWriteShape classify_journal_write(JournalWriteState& state, const std::uint8_t* in,
                                         int amt, std::int64_t off) {
  // off >= 4 first: off - 4 must not overflow for any offset.
  JournalWriteShape shape;
  shape.page = amt == kPageSize && off >= 4 && state.prev_valid && state.prev_amt == 4 &&
               state.prev_off == off - 4;
  shape.pgno = shape.page ? state.prev_value : 0;
  // Clear the state first: only the write immediately before counts.
  state.prev_valid = true;
  state.prev_off = off;
  state.prev_amt = amt;
  state.prev_value = amt == 4 ? get_be32(in) : 0;
  return shape;
}

// --- 9. header I/O ------------------------------------------------------------

namespace {

// A unix sqlite3_file on the heap, closed on destruction.
class RawFile {
 public:
  RawFile() {
    register_vfs();
    std::size_t words = (static_cast<std::size_t>(g_real_vfs->szOsFile) + 7) / 8;
    mem_ = std::make_unique<std::uint64_t[]>(words);  // zeroed, 8-aligned
  }
  ~RawFile() {
    if (file()->pMethods) file()->pMethods->xClose(file());
  }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  int open(const std::string& path, int flags) {
    int out = 0;
    return g_real_vfs->xOpen(g_real_vfs, path.c_str(), file(),
                             flags | SQLITE_OPEN_MAIN_DB, &out);
  }
  sqlite3_file* file() { return reinterpret_cast<sqlite3_file*>(mem_.get()); }

 private:
  std::unique_ptr<std::uint64_t[]> mem_;
};

}  // namespace

int read_header(sqlite3_file* real, store::HeaderBytes& out) {
  int rc = real->pMethods->xRead(real, out.data(),
                                 static_cast<int>(out.size()), 0);
  return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_NOTADB : rc;
}

int read_header_at(const std::string& path, store::HeaderBytes& out) {
  RawFile f;
  int rc = f.open(path, SQLITE_OPEN_READONLY);
  if (rc != SQLITE_OK) return rc;
  return read_header(f.file(), out);
}

int write_header_at(const std::string& path, const store::HeaderBytes& bytes) {
  RawFile f;
  int rc = f.open(path, SQLITE_OPEN_READWRITE);
  if (rc != SQLITE_OK) return rc;
  sqlite3_file* file = f.file();
  rc = file->pMethods->xWrite(file, bytes.data(), static_cast<int>(bytes.size()), 0);
  if (rc != SQLITE_OK) return rc;
  return file->pMethods->xSync(file, SQLITE_SYNC_FULL);
}

int sync_path(const std::string& path) {
  RawFile f;
  int rc = f.open(path, SQLITE_OPEN_READWRITE);
  if (rc != SQLITE_OK) return rc;
  return f.file()->pMethods->xSync(f.file(), SQLITE_SYNC_FULL);
}

int write_header_update(sqlite3_file* real, int inactive,
                        const store::CopyBytes& copy) {
  for (int target : {inactive, 1 - inactive}) {
    int rc = real->pMethods->xWrite(real, copy.data(),
                                    static_cast<int>(copy.size()),
                                    static_cast<sqlite3_int64>(target) *
                                        static_cast<sqlite3_int64>(store::kCopySize));
    if (rc == SQLITE_OK) rc = real->pMethods->xSync(real, SQLITE_SYNC_FULL);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

namespace {

EhrFile* main_ehr_file(sqlite3* db) {
  sqlite3_file* top = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &top) !=
          SQLITE_OK ||
      top == nullptr || top->pMethods == nullptr) {
    return nullptr;
  }
  EhrFile* f = nullptr;
  if (top->pMethods->xFileControl(top, kFcntlSelf, &f) != SQLITE_OK) {
    return nullptr;
  }
  return f;
}

}  // namespace

sqlite3_file* underlying_main_file(sqlite3* db) {
  EhrFile* f = main_ehr_file(db);
  return f ? f->real : nullptr;
}

std::shared_ptr<KeyContext> main_key_context(sqlite3* db) {
  EhrFile* f = main_ehr_file(db);
  return f ? f->ctx : nullptr;
}

int verify_db_page(sqlite3* db, std::uint32_t pgno) {
  EhrFile* f = main_ehr_file(db);
  if (f == nullptr) return SQLITE_MISUSE;
  std::uint8_t plain[kPageSize];
  int rc = read_db_page(f, pgno, plain);
  crypto::wipe(plain);
  return rc;
}

std::int64_t db_file_pages(sqlite3* db) {
  EhrFile* f = main_ehr_file(db);
  if (f == nullptr) return 0;
  sqlite3_int64 size = 0;
  if (real_size(f, &size) != SQLITE_OK || size <= kHeaderOffset) return 0;
  return (size - kHeaderOffset + kPageSize - 1) / kPageSize;
}

int check_wal(sqlite3* db, bool heap_wal_index, WalCheck& out) {
  out = WalCheck{};
  EhrFile* main = main_ehr_file(db);
  if (main == nullptr) return SQLITE_MISUSE;
  sqlite3_file* top = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &top) != SQLITE_OK ||
      top == nullptr || top->pMethods != &kMethods || ehr(top)->kind != Kind::kWal) {
    return SQLITE_OK;  // no WAL open
  }
  EhrFile* wal = ehr(top);
  WalGen gen;
  int rc = read_wal_gen(wal, gen);
  if (rc == SQLITE_IOERR_SHORT_READ) return SQLITE_OK;  // empty WAL
  if (rc != SQLITE_OK) return rc;

  auto fr = std::make_unique<ScannedFrame>();
  std::uint32_t max_frame = 0;
  std::uint32_t backfilled = 0;
  if (!heap_wal_index) {
    // The wal-index header (wal.c WalIndexHdr, native byte order): mxFrame
    // at 16, salts at 32; WalCkptInfo.nBackfill at 96. This connection
    // already maps region 0, so this maps nothing new.
    void volatile* region = nullptr;
    rc = main->real->pMethods->xShmMap(main->real, 0, 32768, 0, &region);
    if (rc != SQLITE_OK) return rc;
    if (region == nullptr) return SQLITE_OK;
    const volatile std::uint8_t* p = static_cast<const volatile std::uint8_t*>(region);
    std::uint8_t idx[100];
    for (int i = 0; i < 100; ++i) idx[i] = p[i];
    std::uint32_t nbackfill = 0;
    std::memcpy(&max_frame, idx + 16, 4);
    std::memcpy(&nbackfill, idx + 96, 4);
    if (max_frame == 0) return SQLITE_OK;
    if (std::memcmp(idx + 32, gen.salts, 8) != 0) {
      return SQLITE_IOERR_SHMMAP;  // the index is not about this WAL
    }
    backfilled = std::min(nbackfill, max_frame);
  } else {
    std::uint32_t seed[2] = {gen.cksum[0], gen.cksum[1]};
    sqlite3_int64 size = 0;
    rc = real_size(wal, &size);
    if (rc != SQLITE_OK) return rc;
    for (std::uint32_t j = 1; j != 0 && frame_offset(j) + kWalFrameSize <= size; ++j) {
      rc = scan_frame(wal, gen, j, *fr);
      if (rc != SQLITE_OK) return rc;
      if (!fr->authentic || !chains(gen, seed, *fr)) break;
      if (fr->ntruncate != 0) max_frame = j;
      seed[0] = fr->cksum[0];
      seed[1] = fr->cksum[1];
    }
  }
  for (std::uint32_t j = 1; j <= max_frame; ++j) {
    rc = scan_frame(wal, gen, j, *fr);
    if (rc != SQLITE_OK) return rc;
    ++out.frames_checked;
    if (!fr->authentic) {
      out.bad_frames.push_back(j);
    } else if (j > backfilled) {
      out.wal_pages.insert(fr->pgno);
    }
  }
  crypto::wipe(crypto::MutBytes(fr->plain, kPageSize));
  return SQLITE_OK;
}

}  // namespace ehr::vfs
