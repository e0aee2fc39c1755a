// Tests of creating and opening encrypted stores (core/src/sqlite_store.h,
// ehr/store.h): create/open contracts and errors, the connection settings,
// T6 (wrong key touches nothing), T12 (configuration guards), the statement
// wrapper and the SQLite error mapping.

#include "sqlite_store.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr::store {
namespace {

using testing::conn;
using testing::create_test_store;
using testing::exec_ok;
using testing::kAlicePass;
using testing::kFast;
using testing::open_test_store;
using testing::query;
using testing::TempDir;

void check_error(const Status& s, ErrorCode code, const std::string& message) {
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == code);
  CHECK(s.error().message() == message);
}

template <typename T>
void check_error(const Result<T>& r, ErrorCode code, const std::string& message) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == code);
  CHECK(r.error().message() == message);
}

// Makes a snapshot of an open store's db and WAL, as a crash would leave
// them: `to` and `to`-wal, without -shm.
void snapshot_hot_wal(const std::string& from, const std::string& to) {
  testing::write_bytes(to, testing::read_bytes(from));
  testing::write_bytes(to + "-wal", testing::read_bytes(from + "-wal"));
}

TEST_SUITE("sqlite_store") {

TEST_CASE("a created store reopens with its passphrase and keeps data") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  {
    Store s = create_test_store(path);
    exec_ok(s, "CREATE TABLE t(x); INSERT INTO t VALUES('kept');");
  }
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT x FROM t") == "kept");
  CHECK(s.path() == path);
}

TEST_CASE("a new store is mode 0600, starts with the ehr header and no SQLite magic") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  Store s = create_test_store(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::vector<std::uint8_t> bytes = testing::read_bytes(path);
  REQUIRE(bytes.size() >= 4096);
  CHECK(std::string(bytes.begin(), bytes.begin() + 8) == "EHRCRYPT");
  CHECK_FALSE(testing::contains(bytes, "SQLite format 3"));
  if (testing::file_exists(path + "-wal")) {
    REQUIRE(::stat((path + "-wal").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
}

TEST_CASE("every connection runs with the ehr settings") {
  TempDir dir;
  Store s = create_test_store(dir.file("a.ehr"));
  CHECK(query(s, "PRAGMA journal_mode") == "wal");
  CHECK(query(s, "PRAGMA synchronous") == "2");
  CHECK(query(s, "PRAGMA temp_store") == "2");
  CHECK(query(s, "PRAGMA cell_size_check") == "1");
  CHECK(query(s, "PRAGMA trusted_schema") == "0");
  CHECK(query(s, "PRAGMA cache_size") == "-65536");
  CHECK(query(s, "PRAGMA wal_autocheckpoint") == "10000");
  CHECK(query(s, "PRAGMA auto_vacuum") == "0");
  CHECK(query(s, "PRAGMA page_size") == "4096");
  CHECK(query(s, "PRAGMA application_id") == "1162367537");
  CHECK(query(s, "PRAGMA ehr_status") == "ok");
  int reserve = -1;
  sqlite3_file_control(conn(s).handle(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
  CHECK(reserve == 48);
}

TEST_CASE("create refuses an existing path and leaves it alone") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  testing::write_bytes(path, {'x'});
  Result<Store> s = Store::create(path, {"alice", "", kFast}, Secret::passphrase("pw"));
  check_error(s, ErrorCode::kAlreadyExists, path + ": already exists");
  CHECK(testing::read_bytes(path) == std::vector<std::uint8_t>{'x'});
}

TEST_CASE("create refuses a leftover WAL or journal of the same name") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  for (std::string suffix : {"-wal", "-journal"}) {
    testing::write_bytes(path + suffix, {'x'});
    check_error(Store::create(path, {"alice", "", kFast}, Secret::passphrase("pw")),
                ErrorCode::kAlreadyExists, path + suffix + ": already exists");
    CHECK_FALSE(testing::file_exists(path));
    std::filesystem::remove(path + suffix);
  }
}

TEST_CASE("create reports an impossible path and bad slot options without creating files") {
  TempDir dir;
  std::string path = dir.file("missing-dir/a.ehr");
  check_error(Store::create(path, {"alice", "", kFast}, Secret::passphrase("pw")),
              ErrorCode::kCantCreate, path + ": cannot create: No such file or directory");
  std::string p2 = dir.file("b.ehr");
  check_error(Store::create(p2, {"alice", "", kFast}, Secret::passphrase("")),
              ErrorCode::kInvalidArgument, "empty passphrase");
  check_error(Store::create(p2, {std::string(40, 'u'), "", kFast}, Secret::passphrase("pw")),
              ErrorCode::kInvalidArgument, "user name too long (max 32 bytes)");
  CHECK_FALSE(testing::file_exists(p2));
}

TEST_CASE("open reports a missing file as no input") {
  TempDir dir;
  std::string path = dir.file("none.ehr");
  check_error(Store::open(path, Secret::passphrase("pw")), ErrorCode::kNoInput,
              path + ": no such file");
  check_error(Store::open(dir.path(), Secret::passphrase("pw")), ErrorCode::kNoInput,
              dir.path() + ": not a regular file");
  CHECK_FALSE(testing::file_exists(path));
}

TEST_CASE("open reports a file that is not an ehr store as corruption naming it") {
  TempDir dir;
  std::string small = dir.file("small");
  testing::write_bytes(small, std::vector<std::uint8_t>(100, 1));
  check_error(Store::open(small, Secret::passphrase("pw")), ErrorCode::kCorruption,
              small + ": not an ehr file");
  std::string plain = dir.file("plain.db");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(plain.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  check_error(Store::open(plain, Secret::passphrase("pw")), ErrorCode::kCorruption,
              plain + ": not an ehr file");
}

TEST_CASE("the user option selects whose slots are tried") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  { Store s = create_test_store(path); }
  OpenOptions bob;
  bob.user = "bob";
  check_error(Store::open(path, Secret::passphrase(kAlicePass), bob), ErrorCode::kAuthFailed,
              "wrong passphrase or key");
  OpenOptions alice;
  alice.user = "alice";
  CHECK(Store::open(path, Secret::passphrase(kAlicePass), alice).ok());
}

// --- T6: a wrong key touches nothing --------------------------------------------

TEST_CASE("a wrong secret fails before SQLite opens and changes nothing on disk") {
  TempDir dir;
  std::string live = dir.file("live.ehr");
  std::string hot = dir.file("hot.ehr");
  {
    Store s = create_test_store(live);
    exec_ok(s, "PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x);");
    for (int i = 0; i < 20; ++i) exec_ok(s, "INSERT INTO t VALUES(randomblob(3000))");
    exec_ok(s, "INSERT INTO t VALUES('last row')");
    snapshot_hot_wal(live, hot);  // a crash with a hot WAL
  }
  REQUIRE(std::filesystem::file_size(hot + "-wal") > 20 * 4096);
  // A hot journal too (left by a journal-mode transition): SQLite would
  // roll it back on the first read.
  std::vector<std::uint8_t> journal(8192, 0x5c);
  std::memcpy(journal.data(), "\xd9\xd5\x05\xf9\x20\xa1\x63\xd7", 8);
  testing::write_bytes(hot + "-journal", journal);
  testing::Fingerprint db_before = testing::fingerprint(hot);
  testing::Fingerprint wal_before = testing::fingerprint(hot + "-wal");
  testing::Fingerprint journal_before = testing::fingerprint(hot + "-journal");

  Secret wrong_key = new_key_file_bytes();
  Secret wrong_code = new_recovery_code();
  Secret wrong_pass = Secret::passphrase("pw-mallory");
  for (const Secret* secret : {&wrong_pass, &wrong_key, &wrong_code}) {
    check_error(Store::open(hot, *secret), ErrorCode::kAuthFailed, "wrong passphrase or key");
    CHECK(testing::fingerprint(hot) == db_before);
    CHECK(testing::fingerprint(hot + "-wal") == wal_before);
    CHECK(testing::fingerprint(hot + "-journal") == journal_before);
    CHECK_FALSE(testing::file_exists(hot + "-shm"));
  }
  std::filesystem::remove(hot + "-journal");
  // The right secret recovers the hot WAL.
  Store s = open_test_store(hot);
  CHECK(query(s, "SELECT count(*) FROM t") == "21");
  CHECK(query(s, "SELECT x FROM t WHERE rowid = 21") == "last row");
  CHECK(query(s, "PRAGMA ehr_status") == "ok");
}

// --- T12: configuration guards ----------------------------------------------------

struct GuardCase {
  const char* sql;
  const char* message;
  const char* read_back;
  const char* expected;
};

TEST_CASE("vetoed pragmas fail cleanly and leave the store intact") {
  TempDir dir;
  Store s = create_test_store(dir.file("a.ehr"));
  exec_ok(s, "CREATE TABLE t(x); INSERT INTO t VALUES('intact');");
  const GuardCase cases[] = {
      {"PRAGMA page_size=8192", "sql failed: ehr: page_size is fixed at 4096",
       "PRAGMA page_size", "4096"},
      {"PRAGMA journal_mode=DELETE", "sql failed: ehr: journal_mode must stay WAL",
       "PRAGMA journal_mode", "wal"},
      {"PRAGMA main.journal_mode=MEMORY", "sql failed: ehr: journal_mode must stay WAL",
       "PRAGMA journal_mode", "wal"},
      {"PRAGMA synchronous=OFF", "sql failed: ehr: synchronous=OFF is not allowed",
       "PRAGMA synchronous", "2"},
      {"PRAGMA synchronous=0", "sql failed: ehr: synchronous=OFF is not allowed",
       "PRAGMA synchronous", "2"},
      {"PRAGMA temp_store=FILE", "sql failed: ehr: temp_store must stay MEMORY",
       "PRAGMA temp_store", "2"},
      {"PRAGMA temp_store=DEFAULT", "sql failed: ehr: temp_store must stay MEMORY",
       "PRAGMA temp_store", "2"},
  };
  for (const GuardCase& c : cases) {
    CAPTURE(c.sql);
    check_error(conn(s).exec(c.sql), ErrorCode::kInternal, c.message);
    CHECK(query(s, c.read_back) == c.expected);
  }
  // Allowed values pass.
  exec_ok(s, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
             "PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;");
  exec_ok(s, "VACUUM");  // after the refused page_size change
  CHECK(query(s, "PRAGMA page_size") == "4096");
  CHECK(query(s, "SELECT x FROM t") == "intact");
  CHECK(query(s, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("mmap_size is a no-op and results stay correct") {
  TempDir dir;
  Store s = create_test_store(dir.file("a.ehr"));
  exec_ok(s, "CREATE TABLE t(x); WITH RECURSIVE c(v) AS (SELECT 1 UNION ALL SELECT v+1 FROM c WHERE v<2000)"
             " INSERT INTO t SELECT v FROM c;");
  CHECK(query(s, "PRAGMA mmap_size=1000000000") == "0");
  CHECK(query(s, "PRAGMA mmap_size") == "0");
  CHECK(query(s, "SELECT sum(x) FROM t") == "2001000");
  exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  CHECK(query(s, "SELECT sum(x) FROM t") == "2001000");
}

TEST_CASE("a larger reserve request followed by VACUUM does not change the layout") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  {
    Store s = create_test_store(path);
    exec_ok(s, "CREATE TABLE t(x); INSERT INTO t VALUES('intact');");
    int reserve = 64;
    sqlite3_file_control(conn(s).handle(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    Status vac = conn(s).exec("VACUUM");  // may fail; must not damage anything
    (void)vac;
    CHECK(query(s, "SELECT x FROM t") == "intact");
  }
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT x FROM t") == "intact");
  Result<CheckReport> report = s.check();
  REQUIRE(report.ok());
  CHECK(report->ok());
}

TEST_CASE("a backup from a plain in-memory database into a store is refused") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  Store s = create_test_store(path);
  exec_ok(s, "CREATE TABLE t(x); INSERT INTO t VALUES('intact');");
  sqlite3* mem = nullptr;
  REQUIRE(sqlite3_open(":memory:", &mem) == SQLITE_OK);
  REQUIRE(sqlite3_exec(mem, "CREATE TABLE evil(y); INSERT INTO evil VALUES(1);", nullptr,
                       nullptr, nullptr) == SQLITE_OK);
  sqlite3_backup* b = sqlite3_backup_init(conn(s).handle(), "main", mem, "main");
  REQUIRE(b != nullptr);
  int rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  sqlite3_close(mem);
  CHECK(rc == SQLITE_IOERR_WRITE);
  CHECK(query(s, "SELECT x FROM t") == "intact");
  CHECK(query(s, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("temporary structures stay in memory; a temp table is allowed") {
  TempDir dir;
  Store s = create_test_store(dir.file("a.ehr"));
  exec_ok(s, "CREATE TEMP TABLE scratch(x); INSERT INTO scratch VALUES(1);"
             "CREATE TABLE t(x); WITH RECURSIVE c(v) AS (SELECT 1 UNION ALL SELECT v+1 FROM c WHERE v<20000)"
             " INSERT INTO t SELECT v FROM c;"
             "CREATE INDEX ti ON t(x);");
  CHECK(query(s, "SELECT count(*) FROM scratch") == "1");
  CHECK(query(s, "SELECT count(*) FROM (SELECT DISTINCT x % 7 FROM t ORDER BY 1)") == "7");
}

TEST_CASE("attaching a plain database file is refused") {
  TempDir dir;
  Store s = create_test_store(dir.file("a.ehr"));
  std::string plain = dir.file("plain.db");
  Status st = conn(s).exec("ATTACH " + std::string("'") + plain + "' AS p");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code() == ErrorCode::kNoInput);
  CHECK_FALSE(testing::file_exists(plain));
}

// --- Statement wrapper and error mapping ----------------------------------------------

TEST_CASE("statements bind and read every value type") {
  TempDir dir;
  Store s = create_test_store(dir.file("a.ehr"));
  exec_ok(s, "CREATE TABLE t(a, b, c, d)");
  Result<Statement> ins = conn(s).prepare("INSERT INTO t VALUES(?1, ?2, ?3, ?4)");
  REQUIRE(ins.ok());
  std::vector<std::uint8_t> blob = {0, 1, 2, 255};
  REQUIRE(ins->bind_text(1, "text").ok());
  REQUIRE(ins->bind_int(2, -42).ok());
  REQUIRE(ins->bind_blob(3, blob).ok());
  REQUIRE(ins->bind_null(4).ok());
  Result<bool> done = ins->step();
  REQUIRE(done.ok());
  CHECK_FALSE(*done);
  Result<Statement> sel = conn(s).prepare("SELECT a, b, c, d FROM t");
  REQUIRE(sel.ok());
  Result<bool> row = sel->step();
  REQUIRE(row.ok());
  REQUIRE(*row);
  CHECK(sel->column_count() == 4);
  CHECK(sel->column_text(0) == "text");
  CHECK(sel->column_int(1) == -42);
  CHECK(sel->column_blob(2) == blob);
  CHECK(sel->column_is_null(3));
  CHECK_FALSE(*sel->step());
}

TEST_CASE("SQLite errors map to ehr error codes") {
  CHECK(error_code_for(SQLITE_BUSY) == ErrorCode::kBusy);
  CHECK(error_code_for(SQLITE_BUSY_SNAPSHOT) == ErrorCode::kBusy);
  CHECK(error_code_for(SQLITE_LOCKED) == ErrorCode::kBusy);
  CHECK(error_code_for(SQLITE_IOERR_DATA) == ErrorCode::kCorruption);
  CHECK(error_code_for(SQLITE_CORRUPT) == ErrorCode::kCorruption);
  CHECK(error_code_for(SQLITE_NOTADB) == ErrorCode::kCorruption);
  CHECK(error_code_for(SQLITE_IOERR_WRITE) == ErrorCode::kIoError);
  CHECK(error_code_for(SQLITE_FULL) == ErrorCode::kIoError);
  CHECK(error_code_for(SQLITE_CANTOPEN) == ErrorCode::kNoInput);
  CHECK(error_code_for(SQLITE_CONSTRAINT_UNIQUE) == ErrorCode::kConflict);
  CHECK(error_code_for(SQLITE_INTERRUPT) == ErrorCode::kInterrupted);
  CHECK(error_code_for(SQLITE_AUTH) == ErrorCode::kAccessDenied);
  CHECK(error_code_for(SQLITE_ERROR) == ErrorCode::kInternal);

  TempDir dir;
  Store s = create_test_store(dir.file("a.ehr"));
  exec_ok(s, "CREATE TABLE t(x UNIQUE); INSERT INTO t VALUES(1);");
  check_error(conn(s).exec("INSERT INTO t VALUES(1)"), ErrorCode::kConflict,
              "sql failed: UNIQUE constraint failed: t.x");
}

TEST_CASE("a full disk or a read-only database names the database, not the statement") {
  // (QA finding: a full disk said "sql failed: database or disk is full";
  // a read-only file was exit 70 "attempt to write a readonly database".)
  CHECK(error_code_for(SQLITE_READONLY) == ErrorCode::kIoError);
  CHECK(error_code_for(SQLITE_READONLY_DIRECTORY) == ErrorCode::kIoError);
  TempDir dir;
  std::string path = dir.file("a.ehr");
  Store s = create_test_store(path);
  std::string full = std::filesystem::absolute(path).lexically_normal().string();
  check_error(Status(sqlite_error(conn(s).handle(), SQLITE_FULL, "sql failed")), ErrorCode::kIoError,
              full + ": the disk is full");
  check_error(Status(sqlite_error(conn(s).handle(), SQLITE_READONLY, "sql failed")), ErrorCode::kIoError,
              full + ": the database is read-only");
  check_error(Status(sqlite_error(nullptr, SQLITE_FULL, "x.ehr: cannot write the header")), ErrorCode::kIoError,
              "x.ehr: cannot write the header: the disk is full");
}

// --- the test seam: the shim over another VFS ------------------------------------

TEST_CASE("a shim instance over a named VFS creates and opens stores like ehrcrypt") {
  constexpr const char* kShim = "ehrcrypt-seam-test";
  REQUIRE(vfs::register_vfs_over_for_testing(kShim, "unix") == SQLITE_OK);
  CHECK(vfs::register_vfs_over_for_testing(kShim, "unix") == SQLITE_OK);  // idempotent
  CHECK(vfs::register_vfs_over_for_testing(kShim, "no-such-vfs") == SQLITE_ERROR);
  CHECK(vfs::register_vfs_over_for_testing("unix", "unix") == SQLITE_MISUSE);
  CHECK(vfs::register_vfs_over_for_testing(vfs::kVfsName, "unix") == SQLITE_MISUSE);
  CHECK(sqlite3_vfs_find(nullptr) != sqlite3_vfs_find(kShim));  // never the default

  TempDir dir;
  std::string path = dir.file("seam.ehr");
  {
    Result<Connection> c = create_store_for_testing(path, {"alice", "", kFast},
                                                    Secret::passphrase(kAlicePass), kShim);
    REQUIRE(c.ok());
    REQUIRE(c->exec("CREATE TABLE t(x); INSERT INTO t VALUES('through the seam');").ok());
    char* name = nullptr;
    REQUIRE(sqlite3_file_control(c->handle(), "main", SQLITE_FCNTL_VFSNAME, &name) == SQLITE_OK);
    CHECK(std::string(name) == kShim);
    sqlite3_free(name);
  }
  {
    Result<Connection> c = open_store_for_testing(path, Secret::passphrase(kAlicePass), {}, kShim);
    REQUIRE(c.ok());
    CHECK(*c->query_text("SELECT x FROM t") == "through the seam");
  }
  // The same file through the production stack.
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT x FROM t") == "through the seam");
  char* name = nullptr;
  REQUIRE(sqlite3_file_control(conn(s).handle(), "main", SQLITE_FCNTL_VFSNAME, &name) ==
          SQLITE_OK);
  CHECK(std::string(name) == vfs::kVfsName);
  sqlite3_free(name);
}

// The WAL outlives the connections (kKeepWalBytes): an audited lookup is a
// process that commits one small transaction, and it should pay one fsync,
// not the four that creating, checkpointing and deleting a WAL cost.
TEST_CASE("the last connection keeps a small WAL as it is and removes the -shm") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  {
    Store s = create_test_store(path);
    exec_ok(s, "CREATE TABLE t(x); INSERT INTO t VALUES('in the wal');");
    CHECK(testing::file_exists(path + "-shm"));
  }
  REQUIRE(testing::file_exists(path + "-wal"));
  const std::uintmax_t wal = std::filesystem::file_size(path + "-wal");
  CHECK(wal > 32);
  CHECK(wal <= static_cast<std::uintmax_t>(kKeepWalBytes));
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  // Not checkpointed: the db file without its WAL does not have the table.
  std::string alone = dir.file("alone.ehr");
  testing::write_bytes(alone, testing::read_bytes(path));
  {
    Store a = open_test_store(alone);
    CHECK(query(a, "SELECT count(*) FROM sqlite_schema WHERE name = 't'") == "0");
  }
  // The next connection recovers it from the WAL and appends to it.
  {
    Store s = open_test_store(path);
    CHECK(query(s, "SELECT x FROM t") == "in the wal");
    exec_ok(s, "INSERT INTO t VALUES('appended')");
  }
  CHECK(std::filesystem::file_size(path + "-wal") > wal);
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT group_concat(x, ',') FROM t") == "in the wal,appended");
  CHECK(query(s, "PRAGMA integrity_check") == "ok");
}

// Inserts `rows` rows of 3000 bytes into t (created if missing).
void insert_rows(Store& s, int rows) {
  exec_ok(s, "CREATE TABLE IF NOT EXISTS t(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c"
             " WHERE i<" + std::to_string(rows) + ") INSERT INTO t SELECT printf('%.3000c', 'b') FROM c;");
}

// The rows of the db file at `path` read without its WAL (a copy of it alone).
std::string rows_without_wal(TempDir& dir, const std::string& path) {
  static int copies = 0;
  std::string alone = dir.file("alone-" + std::to_string(++copies) + ".ehr");
  testing::write_bytes(alone, testing::read_bytes(path));
  Store a = open_test_store(alone);
  return query(a, "SELECT count(*) FROM t") + " " + query(a, "PRAGMA integrity_check");
}

// Creates a store at `path` with `rows` rows in t and closes it, its WAL
// grown past `over` bytes before the close.
void create_with_rows(const std::string& path, int rows, std::int64_t over) {
  Store s = create_test_store(path);
  insert_rows(s, rows);
  REQUIRE(std::filesystem::file_size(path + "-wal") > static_cast<std::uintmax_t>(over));
}

// The frames in the WAL as `s` sees it: the log size a passive checkpoint
// reports (it copies frames the db may hold already, which changes nothing).
int wal_frames(Store& s) {
  int log = -1, copied = -1;
  sqlite3_wal_checkpoint_v2(conn(s).handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  return log;
}

// A checkpointed WAL's file stays for the next generation to overwrite
// (kReuseWalBytes): its header is voided, so recovery finds an empty WAL.
TEST_CASE("the last connection checkpoints a WAL over the limit and keeps its file with a void header") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  create_with_rows(path, 200, kKeepWalBytes);
  REQUIRE(testing::file_exists(path + "-wal"));
  const std::uintmax_t size = std::filesystem::file_size(path + "-wal");
  std::vector<std::uint8_t> wal = testing::read_bytes(path + "-wal");
  CHECK(std::vector<std::uint8_t>(wal.begin(), wal.begin() + 32) == std::vector<std::uint8_t>(32, 0));
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  // Everything is in the db file itself.
  CHECK(rows_without_wal(dir, path) == "200 ok");
  // The next generation overwrites the file from its start: it does not grow.
  {
    Store s = open_test_store(path);
    CHECK(wal_frames(s) == 0);  // the void header: an empty WAL
    CHECK(query(s, "SELECT count(*) FROM t") == "200");
    exec_ok(s, "INSERT INTO t VALUES('new')");
  }
  CHECK(std::filesystem::file_size(path + "-wal") == size);
  wal = testing::read_bytes(path + "-wal");
  CHECK(wal[0] == 0x37);  // a WAL header again (magic 0x377f068x)
  CHECK(rows_without_wal(dir, path) == "200 ok");  // kept, not checkpointed
  // Recovery stops at the first frame of the old generation, which is no
  // anomaly; sessions go on with the reused file.
  for (int i = 0; i < 3; ++i) {
    Store s = open_test_store(path);
    CHECK(query(s, "PRAGMA ehr_status") == "ok");
    insert_rows(s, 20);
  }
  CHECK(std::filesystem::file_size(path + "-wal") == size);
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT count(*) FROM t") == "261");
  CHECK(query(s, "PRAGMA integrity_check") == "ok");
  CHECK(query(s, "PRAGMA ehr_status") == "ok");
}

// Voiding the header is not synced: a power loss can undo it, and the
// recovery then reads back frames the db already holds.
TEST_CASE("a reused WAL whose voided header was lost reads back the frames the db holds") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  std::vector<std::uint8_t> header;
  {
    Store s = create_test_store(path);
    insert_rows(s, 200);
    std::vector<std::uint8_t> wal = testing::read_bytes(path + "-wal");
    header.assign(wal.begin(), wal.begin() + 32);
  }
  std::vector<std::uint8_t> wal = testing::read_bytes(path + "-wal");
  std::copy(header.begin(), header.end(), wal.begin());
  testing::write_bytes(path + "-wal", wal);
  {
    Store s = open_test_store(path);
    // Recovery took the old generation's frames back (all of them
    // authentic), and they change nothing.
    CHECK(query(s, "SELECT count(*) FROM t") == "200");
    CHECK(wal_frames(s) > 100);
    CHECK(query(s, "PRAGMA ehr_status") == "ok");
    exec_ok(s, "INSERT INTO t VALUES('after')");
  }
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT count(*) FROM t") == "201");
  CHECK(query(s, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("the last connection checkpoints and deletes a WAL over the reuse limit, or an empty one") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  create_with_rows(path, 1500, kReuseWalBytes);
  CHECK_FALSE(testing::file_exists(path + "-wal"));
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  // Everything is in the db file itself.
  std::string alone = dir.file("alone.ehr");
  testing::write_bytes(alone, testing::read_bytes(path));
  {
    Store a = open_test_store(alone);
    CHECK(query(a, "SELECT count(*) FROM t") == "1500");
    CHECK(query(a, "PRAGMA integrity_check") == "ok");
  }
  // A connection that writes nothing leaves no empty WAL behind either.
  CHECK_FALSE(testing::file_exists(alone + "-wal"));
  CHECK_FALSE(testing::file_exists(alone + "-shm"));
}

TEST_CASE("a closing connection leaves the -shm to the connections still open") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  Store a = create_test_store(path);
  exec_ok(a, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
  {
    Store b = open_test_store(path);
    exec_ok(b, "INSERT INTO t VALUES(2)");
  }
  CHECK(testing::file_exists(path + "-shm"));
  exec_ok(a, "INSERT INTO t VALUES(3)");
  CHECK(query(a, "SELECT sum(x) FROM t") == "6");
  // A lock left behind by the failed attempt would block this writer.
  Store c = open_test_store(path);
  exec_ok(c, "INSERT INTO t VALUES(4)");
  CHECK(query(a, "SELECT sum(x) FROM t") == "10");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr::store
