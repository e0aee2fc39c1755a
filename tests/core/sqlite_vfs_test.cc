// Tests of the ehrcrypt VFS shim (core/src/sqlite_vfs.h):
//   T1  page codec vectors (round trips, AD binding, bit flips, reserve)
//   T2  the VFS contract, calling the io methods directly
//   and a few whole-SQLite checks of the WAL and rollback-journal paths.

#include "sqlite_vfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "store_header.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr::vfs {
namespace {

using testing::TempDir;

using testing::make_raw_db;
using testing::RawDb;

// A file object of the ehrcrypt VFS, opened directly (no SQLite pager).
class VfsFile {
 public:
  VfsFile() {
    vfs_ = sqlite3_vfs_find(kVfsName);
    REQUIRE(vfs_ != nullptr);
    mem_.assign((static_cast<std::size_t>(vfs_->szOsFile) + 7) / 8, 0);
  }
  ~VfsFile() {
    if (f()->pMethods) f()->pMethods->xClose(f());
    if (name_) sqlite3_free_filename(name_);
  }
  // Opens `path` with ehrkey=`handle` (no parameter when handle is empty).
  int open(const std::string& path, const std::string& handle, int flags) {
    const char* params[] = {"ehrkey", handle.c_str()};
    name_ = sqlite3_create_filename(path.c_str(), (path + "-journal").c_str(),
                                    (path + "-wal").c_str(), handle.empty() ? 0 : 1,
                                    params);
    int out = 0;
    return vfs_->xOpen(vfs_, name_, f(), flags, &out);
  }
  int open_nameless(int flags) {
    int out = 0;
    return vfs_->xOpen(vfs_, nullptr, f(), flags, &out);
  }
  sqlite3_file* f() { return reinterpret_cast<sqlite3_file*>(mem_.data()); }
  int read(void* buf, int amt, sqlite3_int64 off) {
    return f()->pMethods->xRead(f(), buf, amt, off);
  }
  int write(const void* buf, int amt, sqlite3_int64 off) {
    return f()->pMethods->xWrite(f(), buf, amt, off);
  }
  sqlite3_int64 size() {
    sqlite3_int64 s = -1;
    REQUIRE(f()->pMethods->xFileSize(f(), &s) == SQLITE_OK);
    return s;
  }

 private:
  sqlite3_vfs* vfs_ = nullptr;
  std::vector<std::uint64_t> mem_;
  sqlite3_filename name_ = nullptr;
};

constexpr int kMainRw = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE;

// A plaintext page as SQLite would write it: page 1 gets a valid header.
std::vector<std::uint8_t> sample_page(std::uint32_t pgno, std::uint32_t seed = 0) {
  std::vector<std::uint8_t> p(kPageSize);
  std::mt19937 rng(pgno * 7919u + seed);
  for (int i = 0; i < kUsable; ++i) p[i] = static_cast<std::uint8_t>(rng());
  if (pgno == 1) {
    std::memcpy(p.data(), "SQLite format 3\0", 16);
    p[16] = 0x10;
    p[17] = 0x00;
    p[20] = kReserve;
  }
  return p;  // reserve bytes zero, as SQLite keeps them
}

sqlite3_int64 phys_size(const std::string& path) {
  return static_cast<sqlite3_int64>(std::filesystem::file_size(path));
}

sqlite3* open_sqlite(const RawDb& db) { return testing::open_raw(db); }

int exec(sqlite3* db, const std::string& sql) { return testing::raw_exec(db, sql); }

std::string hex(crypto::Bytes b) {
  static const char k[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t x : b) {
    s.push_back(k[x >> 4]);
    s.push_back(k[x & 15]);
  }
  return s;
}

// A fixed key context for known-answer vectors.
KeyContext fixed_context() {
  std::array<std::uint8_t, 32> dek{};
  for (int i = 0; i < 32; ++i) dek[i] = static_cast<std::uint8_t>(i);
  store::FileId id{};
  for (int i = 0; i < 16; ++i) id[i] = static_cast<std::uint8_t>(0xA0 + i);
  return KeyContext(id, dek);
}

TEST_SUITE("sqlite_vfs") {

// --- T1: page codec ----------------------------------------------------------

TEST_CASE("pages round-trip at boundary page numbers in every domain") {
  KeyContext ctx = fixed_context();
  std::uint8_t salts[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (std::uint32_t pgno : {1u, 2u, 262144u, 262146u, 2147483647u}) {
    for (Domain d : {Domain::kDb, Domain::kWal, Domain::kJournal}) {
      CAPTURE(pgno);
      PagePlace place{d, pgno, d == Domain::kWal ? salts : nullptr, 9};
      std::vector<std::uint8_t> plain = sample_page(pgno), sealed(kPageSize),
                                out(kPageSize, 0xEE);
      seal_page(ctx, place, plain.data(), sealed.data());
      CHECK(std::memcmp(sealed.data(), plain.data(), kUsable) != 0);
      REQUIRE(open_page(ctx, place, sealed.data(), out.data()));
      CHECK(out == plain);
    }
  }
}

TEST_CASE("decrypted pages have an all-zero reserve region") {
  KeyContext ctx = fixed_context();
  std::vector<std::uint8_t> plain = sample_page(5), sealed(kPageSize),
                            out(kPageSize, 0xEE);
  std::memset(plain.data() + kUsable, 0x77, kReserve);  // junk in SQLite's reserve
  seal_page(ctx, {Domain::kDb, 5}, plain.data(), sealed.data());
  REQUIRE(open_page(ctx, {Domain::kDb, 5}, sealed.data(), out.data()));
  for (int i = kUsable; i < kPageSize; ++i) CHECK(out[i] == 0);
  CHECK(std::memcmp(out.data(), plain.data(), kUsable) == 0);
}

TEST_CASE("each bound field of the AD is checked") {
  KeyContext ctx = fixed_context();
  std::uint8_t salts[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::uint8_t other_salts[8] = {1, 2, 3, 4, 5, 6, 7, 9};
  PagePlace wal{Domain::kWal, 3, salts, 0};
  std::vector<std::uint8_t> plain = sample_page(3), sealed(kPageSize), out(kPageSize);
  seal_page(ctx, wal, plain.data(), sealed.data());
  REQUIRE(open_page(ctx, wal, sealed.data(), out.data()));

  SUBCASE("page number") {
    CHECK_FALSE(open_page(ctx, {Domain::kWal, 4, salts, 0}, sealed.data(), out.data()));
  }
  SUBCASE("domain") {
    CHECK_FALSE(open_page(ctx, {Domain::kDb, 3}, sealed.data(), out.data()));
    CHECK_FALSE(open_page(ctx, {Domain::kJournal, 3}, sealed.data(), out.data()));
  }
  SUBCASE("salts") {
    CHECK_FALSE(open_page(ctx, {Domain::kWal, 3, other_salts, 0}, sealed.data(), out.data()));
  }
  SUBCASE("commit marker") {
    CHECK_FALSE(open_page(ctx, {Domain::kWal, 3, salts, 1}, sealed.data(), out.data()));
  }
  SUBCASE("trailer") {
    sealed[kTrailerOffset + 7] ^= 1;
    CHECK_FALSE(open_page(ctx, wal, sealed.data(), out.data()));
  }
  SUBCASE("file id") {
    store::FileId id = ctx.file_id();
    id[15] ^= 1;
    std::array<std::uint8_t, 32> dek{};
    for (int i = 0; i < 32; ++i) dek[i] = static_cast<std::uint8_t>(i);
    KeyContext other(id, dek);
    CHECK_FALSE(open_page(other, wal, sealed.data(), out.data()));
  }
  SUBCASE("key") {
    std::array<std::uint8_t, 32> dek{};
    KeyContext other(ctx.file_id(), dek);
    CHECK_FALSE(open_page(other, wal, sealed.data(), out.data()));
  }
}

TEST_CASE("flipping any bit of ciphertext, nonce, tag or trailer fails") {
  KeyContext ctx = fixed_context();
  std::vector<std::uint8_t> plain = sample_page(9), sealed(kPageSize), out(kPageSize);
  seal_page(ctx, {Domain::kDb, 9}, plain.data(), sealed.data());
  int accepted = 0;
  for (int byte = 0; byte < kPageSize; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      sealed[byte] ^= static_cast<std::uint8_t>(1 << bit);
      if (open_page(ctx, {Domain::kDb, 9}, sealed.data(), out.data())) ++accepted;
      sealed[byte] ^= static_cast<std::uint8_t>(1 << bit);
    }
  }
  CHECK(accepted == 0);
  REQUIRE(open_page(ctx, {Domain::kDb, 9}, sealed.data(), out.data()));
}

// The expected values were computed independently in Python (hashlib's
// BLAKE2b for crypto_kdf and the mask, HChaCha20 plus the `cryptography`
// package's ChaCha20Poly1305 for XChaCha20-Poly1305), so they pin the format,
// not just this implementation.
TEST_CASE("the page format matches its known-answer vector") {
  KeyContext ctx = fixed_context();
  std::vector<std::uint8_t> plain(kPageSize, 0), sealed(kPageSize);
  for (int i = 0; i < kUsable; ++i) plain[i] = static_cast<std::uint8_t>(i * 13 % 251);
  std::uint8_t nonce[24];
  for (int i = 0; i < 24; ++i) nonce[i] = static_cast<std::uint8_t>(0x11 * (i % 15));
  std::uint8_t salts[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
  seal_page_with_nonce_for_testing(ctx, {Domain::kDb, 7}, plain.data(), nonce, sealed.data());
  CHECK(hex(crypto::blake2b_256(sealed)) == "c79519f2318aec40e3813a9ffa3213c824c4930f89b466a48b93fce1924503d8");
  seal_page_with_nonce_for_testing(ctx, {Domain::kWal, 7, salts, 12}, plain.data(), nonce,
                                   sealed.data());
  CHECK(hex(crypto::blake2b_256(sealed)) == "5aff57ae7b17dce28ccbbff8ab239d1e987237c989c6a3477921fb9fe9dfa5ce");
  std::uint8_t mask[8];
  wal_checksum_mask(ctx, salts, 3, mask);
  CHECK(hex(crypto::Bytes(mask, 8)) == "81cd473769695f88");
}

// --- T2: VFS contract ----------------------------------------------------------

TEST_CASE("io methods are version 2 and report only powersafe overwrite") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  VfsFile f;
  REQUIRE(f.open(db.path, db.handle, kMainRw) == SQLITE_OK);
  CHECK(f.f()->pMethods->iVersion == 2);
  CHECK((f.f()->pMethods->xFetch == nullptr));
  CHECK(f.f()->pMethods->xDeviceCharacteristics(f.f()) ==
        SQLITE_IOCAP_POWERSAFE_OVERWRITE);
}

TEST_CASE("a header-only file is an empty database and short reads are zero-filled") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  VfsFile f;
  REQUIRE(f.open(db.path, db.handle, kMainRw) == SQLITE_OK);
  CHECK(f.size() == 0);
  std::vector<std::uint8_t> buf(100, 0xEE);
  CHECK(f.read(buf.data(), 100, 0) == SQLITE_IOERR_SHORT_READ);
  CHECK(buf == std::vector<std::uint8_t>(100, 0));

  std::vector<std::uint8_t> p1 = sample_page(1), p2 = sample_page(2);
  REQUIRE(f.write(p1.data(), kPageSize, 0) == SQLITE_OK);
  REQUIRE(f.write(p2.data(), kPageSize, kPageSize) == SQLITE_OK);
  // A read straddling the last page and EOF: data, then zeros.
  std::vector<std::uint8_t> straddle(200, 0xEE);
  CHECK(f.read(straddle.data(), 200, 2 * kPageSize - 100) == SQLITE_IOERR_SHORT_READ);
  CHECK(std::memcmp(straddle.data(), p2.data() + kPageSize - 100, 100) == 0);
  CHECK(std::all_of(straddle.begin() + 100, straddle.end(), [](std::uint8_t b) { return b == 0; }));
}

TEST_CASE("every slice of the pages matches a full-page decrypt") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  VfsFile f;
  REQUIRE(f.open(db.path, db.handle, kMainRw) == SQLITE_OK);
  std::vector<std::uint8_t> all;
  for (std::uint32_t pg = 1; pg <= 3; ++pg) {
    std::vector<std::uint8_t> p = sample_page(pg);
    REQUIRE(f.write(p.data(), kPageSize, (pg - 1) * kPageSize) == SQLITE_OK);
    all.insert(all.end(), p.begin(), p.end());
  }
  std::vector<std::uint8_t> buf(3 * kPageSize);
  for (int off = 0; off < 3 * kPageSize; off += 97) {
    for (int len : {1, 4, 16, 100, 2000, kPageSize, kPageSize + 24, 3 * kPageSize}) {
      if (off + len > 3 * kPageSize) continue;
      CAPTURE(off);
      CAPTURE(len);
      REQUIRE(f.read(buf.data(), len, off) == SQLITE_OK);
      CHECK(std::memcmp(buf.data(), all.data() + off, len) == 0);
    }
  }
  // The special reads SQLite does: 100@0 and 16@24.
  REQUIRE(f.read(buf.data(), 16, 24) == SQLITE_OK);
  CHECK(std::memcmp(buf.data(), all.data() + 24, 16) == 0);
}

TEST_CASE("file size and truncate are shifted by the header") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  VfsFile f;
  REQUIRE(f.open(db.path, db.handle, kMainRw) == SQLITE_OK);
  for (std::uint32_t pg = 1; pg <= 3; ++pg) {
    std::vector<std::uint8_t> p = sample_page(pg);
    REQUIRE(f.write(p.data(), kPageSize, (pg - 1) * kPageSize) == SQLITE_OK);
  }
  CHECK(f.size() == 3 * kPageSize);
  CHECK(phys_size(db.path) == kHeaderOffset + 3 * kPageSize);
  REQUIRE(f.f()->pMethods->xTruncate(f.f(), kPageSize) == SQLITE_OK);
  CHECK(f.size() == kPageSize);
  CHECK(phys_size(db.path) == kHeaderOffset + kPageSize);
  REQUIRE(f.f()->pMethods->xTruncate(f.f(), 0) == SQLITE_OK);
  CHECK(f.size() == 0);
  CHECK(phys_size(db.path) == kHeaderOffset);  // the header survives
}

TEST_CASE("offsets above 4 GiB work on a sparse file") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  VfsFile f;
  REQUIRE(f.open(db.path, db.handle, kMainRw) == SQLITE_OK);
  const sqlite3_int64 off = (sqlite3_int64{5} << 30) + 3 * kPageSize;
  const std::uint32_t pgno = static_cast<std::uint32_t>(off / kPageSize + 1);
  std::vector<std::uint8_t> p = sample_page(pgno), back(kPageSize);
  REQUIRE(f.write(p.data(), kPageSize, off) == SQLITE_OK);
  CHECK(f.size() == off + kPageSize);
  REQUIRE(f.read(back.data(), kPageSize, off) == SQLITE_OK);
  CHECK(back == p);
  REQUIRE(f.read(back.data(), 10, off + 4000) == SQLITE_OK);
  CHECK(std::memcmp(back.data(), p.data() + 4000, 10) == 0);
  // A page of the hole in the middle reads as garbage-free failure, not data.
  CHECK(f.read(back.data(), kPageSize, sqlite3_int64{1} << 32) == SQLITE_IOERR_DATA);
}

TEST_CASE("the lock-byte page is never encrypted or decrypted") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  VfsFile f;
  REQUIRE(f.open(db.path, db.handle, kMainRw) == SQLITE_OK);
  const sqlite3_int64 lock_off = sqlite3_int64{kLockBytePage - 1} * kPageSize;
  CHECK(lock_off == 0x40000000);
  std::vector<std::uint8_t> p = sample_page(kLockBytePage);
  CHECK(f.write(p.data(), kPageSize, lock_off) == SQLITE_IOERR_WRITE);
  // Put junk where the lock page lives physically: reads return zeros.
  int fd = ::open(db.path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  std::vector<std::uint8_t> junk(kPageSize, 0x5A);
  REQUIRE(::pwrite(fd, junk.data(), junk.size(), kHeaderOffset + lock_off) == kPageSize);
  ::close(fd);
  std::vector<std::uint8_t> back(kPageSize, 0xEE);
  CHECK(f.read(back.data(), kPageSize, lock_off) == SQLITE_OK);
  CHECK(back == std::vector<std::uint8_t>(kPageSize, 0));
  // Its neighbours are ordinary pages.
  std::vector<std::uint8_t> next = sample_page(kLockBytePage + 1);
  REQUIRE(f.write(next.data(), kPageSize, lock_off + kPageSize) == SQLITE_OK);
  REQUIRE(f.read(back.data(), kPageSize, lock_off + kPageSize) == SQLITE_OK);
  CHECK(back == next);
}

TEST_CASE("db writes of any other shape fail with IOERR_WRITE") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  VfsFile f;
  REQUIRE(f.open(db.path, db.handle, kMainRw) == SQLITE_OK);
  std::vector<std::uint8_t> big(2 * kPageSize), p1 = sample_page(1);
  CHECK(f.write(big.data(), 100, 0) == SQLITE_IOERR_WRITE);
  CHECK(f.write(big.data(), kPageSize, 100) == SQLITE_IOERR_WRITE);
  CHECK(f.write(big.data(), 2 * kPageSize, 0) == SQLITE_IOERR_WRITE);
  CHECK(f.write(big.data(), kPageSize - 1, kPageSize) == SQLITE_IOERR_WRITE);
  SUBCASE("page 1 must be an SQLite header") {
    p1[0] = 'X';
    CHECK(f.write(p1.data(), kPageSize, 0) == SQLITE_IOERR_WRITE);
  }
  SUBCASE("page 1 must keep page size 4096") {
    p1[16] = 0x20;
    CHECK(f.write(p1.data(), kPageSize, 0) == SQLITE_IOERR_WRITE);
  }
  SUBCASE("page 1 must keep reserve 48") {
    p1[20] = 0;
    CHECK(f.write(p1.data(), kPageSize, 0) == SQLITE_IOERR_WRITE);
  }
  CHECK(phys_size(db.path) == kHeaderOffset);  // nothing reached the disk
}

TEST_CASE("temporary, nameless and keyless opens are refused") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  const int temp_kinds[] = {SQLITE_OPEN_TEMP_DB, SQLITE_OPEN_TRANSIENT_DB,
                            SQLITE_OPEN_TEMP_JOURNAL, SQLITE_OPEN_SUBJOURNAL};
  for (int kind : temp_kinds) {
    CAPTURE(kind);
    VfsFile nameless, named;
    CHECK(nameless.open_nameless(kind | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_DELETEONCLOSE) == SQLITE_CANTOPEN);
    CHECK(nameless.f()->pMethods == nullptr);
    CHECK(named.open(dir.file("t"), db.handle,
                     kind | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) == SQLITE_CANTOPEN);
  }
  VfsFile no_key, bad_key, missing;
  CHECK(no_key.open(db.path, "", kMainRw) == SQLITE_CANTOPEN);
  CHECK(bad_key.open(db.path, "0123", kMainRw) == SQLITE_CANTOPEN);
  CHECK(missing.open(dir.file("missing.ehr"), db.handle,
                     kMainRw | SQLITE_OPEN_CREATE) == SQLITE_CANTOPEN);
  CHECK_FALSE(testing::file_exists(dir.file("missing.ehr")));
  CHECK_FALSE(testing::file_exists(dir.file("t")));
}

TEST_CASE("a key context of another file is refused with NOTADB") {
  TempDir dir;
  RawDb a = make_raw_db(dir.file("a.ehr"));
  RawDb b = make_raw_db(dir.file("b.ehr"));
  VfsFile f;
  CHECK(f.open(a.path, b.handle, kMainRw) == SQLITE_NOTADB);
  CHECK(f.f()->pMethods == nullptr);
  std::ofstream(dir.file("plain.db")) << "SQLite format 3";
  VfsFile g;
  CHECK(g.open(dir.file("plain.db"), a.handle, kMainRw) == SQLITE_NOTADB);
}

// --- whole-SQLite checks ------------------------------------------------------

TEST_CASE("SQLite runs in WAL mode through the shim and WAL writes are shape-checked") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  sqlite3* h = open_sqlite(db);
  REQUIRE(exec(h, "PRAGMA journal_mode=WAL; PRAGMA temp_store=MEMORY;"
                  "CREATE TABLE t(x); INSERT INTO t VALUES('hello wal');") == SQLITE_OK);
  sqlite3_file* wal = nullptr;
  REQUIRE(sqlite3_file_control(h, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK);
  REQUIRE(wal != nullptr);
  std::vector<std::uint8_t> buf(kPageSize + 100);
  auto w = [&](int amt, sqlite3_int64 off) {
    return wal->pMethods->xWrite(wal, buf.data(), amt, off);
  };
  CHECK(w(100, 32) == SQLITE_IOERR_WRITE);         // inside frame 1 header
  CHECK(w(kPageSize, 32) == SQLITE_IOERR_WRITE);   // page where the header is
  CHECK(w(24, 32 + 24) == SQLITE_IOERR_WRITE);     // header where the page is
  CHECK(w(kPageSize, 32 + 100) == SQLITE_IOERR_WRITE);
  CHECK(w(8, 32 + 16) == SQLITE_IOERR_WRITE);      // just the checksum
  CHECK(w(16, 0) == SQLITE_IOERR_WRITE);           // part of the WAL header
  std::memset(buf.data(), 0, 32);
  buf[10] = 0x20;                                  // WAL header with P = 8192
  CHECK(w(32, 0) == SQLITE_IOERR_WRITE);
  CHECK(wal->pMethods->xDeviceCharacteristics(wal) == SQLITE_IOCAP_POWERSAFE_OVERWRITE);

  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT x FROM t", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "hello wal");
  sqlite3_finalize(st);
  std::vector<std::uint8_t> walbytes = testing::read_bytes(db.path + "-wal");
  CHECK(walbytes.size() > 32);
  CHECK_FALSE(testing::contains(walbytes, "hello wal"));
  CHECK(sqlite3_close(h) == SQLITE_OK);
  CHECK_FALSE(testing::contains(testing::read_bytes(db.path), "hello wal"));
  CHECK_FALSE(testing::contains(testing::read_bytes(db.path), "SQLite format 3"));
}

// Regression: once a transaction rewrites one of its own WAL frames (cache
// spill), SQLite writes later frame headers with zero salts and fills them
// in at commit. Pages must still authenticate after the fix-up, after a
// crash before it, and in recovery.
TEST_CASE("spilled WAL transactions with rewritten frames checkpoint and recover") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  Store s = testing::create_test_store(path);
  testing::exec_ok(s, "PRAGMA wal_autocheckpoint=0;"
                      "CREATE TABLE t(id INTEGER PRIMARY KEY, c TEXT); CREATE INDEX ix ON t(c);"
                      "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA cache_size=10;");
  const std::string big_txn =
      "BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<3000)"
      " INSERT INTO t(c) SELECT 'spill' || i FROM c; UPDATE t SET c = c || 'x' WHERE id % 7 = 0;";
  testing::exec_ok(s, big_txn);
  // A crash before COMMIT: frames without salts, never committed.
  testing::write_bytes(dir.file("mid.ehr"), testing::read_bytes(path));
  testing::write_bytes(dir.file("mid.ehr-wal"), testing::read_bytes(path + "-wal"));
  testing::exec_ok(s, "COMMIT");
  // A crash after COMMIT: every frame fixed up and committed.
  testing::write_bytes(dir.file("done.ehr"), testing::read_bytes(path));
  testing::write_bytes(dir.file("done.ehr-wal"), testing::read_bytes(path + "-wal"));
  testing::exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  CHECK(testing::query(s, "SELECT count(*) FROM t") == "3000");

  Store mid = testing::open_test_store(dir.file("mid.ehr"));
  CHECK(testing::query(mid, "SELECT count(*) FROM t") == "0");
  CHECK(testing::query(mid, "PRAGMA ehr_status") == "ok");
  Store done = testing::open_test_store(dir.file("done.ehr"));
  CHECK(testing::query(done, "SELECT count(*) FROM t") == "3000");
  CHECK(testing::query(done, "SELECT count(*) FROM t WHERE c LIKE '%x'") == "428");
  CHECK(testing::query(done, "PRAGMA ehr_status") == "ok");
  CHECK(testing::query(done, "PRAGMA integrity_check") == "ok");
}

// The unix VFS fsyncs the directory at the first sync of every WAL handle
// it opens with SQLITE_OPEN_CREATE, which SQLite always asks for: one more
// fsync per process once the WAL outlives the connections. The shim opens an
// existing WAL without it, and syncs the directory itself only after
// writing a WAL header (a new generation; see open_wal).
TEST_CASE("an existing WAL is reopened without a directory sync until a new generation starts") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  {
    Store s = testing::create_test_store(path);
    testing::exec_ok(s, "CREATE TABLE t(x)");
  }
  REQUIRE(testing::file_exists(path + "-wal"));
  const std::uint64_t before = wal_directory_syncs_for_testing();
  {
    // Appends to the generation already in the WAL.
    Store s = testing::open_test_store(path);
    testing::exec_ok(s, "INSERT INTO t VALUES(1)");
    testing::exec_ok(s, "INSERT INTO t VALUES(2)");
    CHECK(wal_directory_syncs_for_testing() == before);
    // A truncating checkpoint: the next commit writes a new WAL header.
    testing::exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    testing::exec_ok(s, "INSERT INTO t VALUES(3)");
    CHECK(wal_directory_syncs_for_testing() == before + 1);
    testing::exec_ok(s, "INSERT INTO t VALUES(4)");
    CHECK(wal_directory_syncs_for_testing() == before + 1);
  }
  Store s = testing::open_test_store(path);
  CHECK(testing::query(s, "SELECT sum(x) FROM t") == "10");
}

TEST_CASE("a hot rollback journal written through the shim rolls back correctly") {
  TempDir dir;
  RawDb db = make_raw_db(dir.file("a.ehr"));
  sqlite3* h = open_sqlite(db);
  // Rollback mode is the default on a fresh connection (ehr itself runs WAL).
  REQUIRE(exec(h, "PRAGMA temp_store=MEMORY; PRAGMA cache_size=10;"
                  "CREATE TABLE t(x);"
                  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<300)"
                  " INSERT INTO t SELECT 'before-' || i || printf('%.300c', 'x') FROM c;") == SQLITE_OK);
  REQUIRE(exec(h, "BEGIN; UPDATE t SET x = 'after-journal-canary' || printf('%.300c', 'y');") == SQLITE_OK);
  // Mid-transaction with a spilled cache: the journal holds page images.
  std::vector<std::uint8_t> journal = testing::read_bytes(db.path + "-journal");
  REQUIRE(journal.size() > 2 * kPageSize);
  CHECK_FALSE(testing::contains(journal, "before-1"));
  CHECK_FALSE(testing::contains(journal, "SQLite format 3"));
  // Snapshot db + journal: that is a crash with a hot journal.
  testing::write_bytes(dir.file("b.ehr"), testing::read_bytes(db.path));
  testing::write_bytes(dir.file("b.ehr-journal"), journal);
  REQUIRE(exec(h, "ROLLBACK") == SQLITE_OK);
  sqlite3_close(h);

  RawDb copy = db;
  copy.path = dir.file("b.ehr");
  sqlite3* h2 = open_sqlite(copy);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h2, "SELECT count(*), sum(x LIKE 'before-%') FROM t", -1, &st,
                             nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == 300);
  CHECK(sqlite3_column_int(st, 1) == 300);
  sqlite3_finalize(st);
  REQUIRE(sqlite3_prepare_v2(h2, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "ok");
  sqlite3_finalize(st);
  sqlite3_close(h2);
  CHECK_FALSE(testing::file_exists(dir.file("b.ehr-journal")));
}

TEST_CASE("the shape classifiers follow the offset arithmetic") {
  using vfs::WalWrite;
  CHECK(vfs::classify_wal_write(32, 0).kind == WalWrite::kHeader);
  CHECK(vfs::classify_wal_write(24, 32).kind == WalWrite::kFrameHeader);
  CHECK(vfs::classify_wal_write(24, 32).frame == 1);
  CHECK(vfs::classify_wal_write(4096, 32 + 24).kind == WalWrite::kFramePage);
  CHECK(vfs::classify_wal_write(4096, 32 + 4120 + 24).frame == 2);
  for (auto [amt, off] : {std::pair{4096, std::int64_t{32}}, {24, 33}, {32, 1}, {3992, 56},
                          {104, 4048}, {24, -4}, {24, std::int64_t{1} << 62}}) {
    CAPTURE(amt);
    CAPTURE(off);
    CHECK(vfs::classify_wal_write(amt, off).kind == WalWrite::kRefused);
  }
  CHECK(vfs::classify_db_write(4096, 0).pgno == 1);
  CHECK(vfs::classify_db_write(4096, 4096 * std::int64_t{262144}).refusal != nullptr);  // lock page
  CHECK(vfs::classify_db_write(100, 0).refusal != nullptr);
  auto piece = vfs::next_wal_read_piece(20, 100);
  REQUIRE(piece);
  CHECK((piece->header && piece->rel == 20 && piece->n == 12));
  piece = vfs::next_wal_read_piece(32 + 4120 + 8, 8);
  REQUIRE(piece);
  CHECK((!piece->header && piece->frame == 2 && piece->rel == 8 && piece->n == 8));
  CHECK_FALSE(vfs::next_wal_read_piece(-1, 8));

  vfs::JournalWriteState st;
  const std::uint8_t pgno[4] = {0, 0, 0, 7};
  std::vector<std::uint8_t> page(4096, 0);
  CHECK_FALSE(vfs::classify_journal_write(st, page.data(), 512, 0).page);
  CHECK_FALSE(vfs::classify_journal_write(st, pgno, 4, 512).page);
  vfs::JournalWriteShape rec = vfs::classify_journal_write(st, page.data(), 4096, 516);
  CHECK(rec.page);
  CHECK(rec.pgno == 7);
  // Only the write immediately before counts.
  CHECK_FALSE(vfs::classify_journal_write(st, page.data(), 4096, 516 + 4096 + 4).page);
  CHECK_FALSE(vfs::classify_journal_write(st, pgno, 4, INT64_MIN).page);
  CHECK_FALSE(vfs::classify_journal_write(st, page.data(), 4096, INT64_MIN + 2).page);
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr::vfs
