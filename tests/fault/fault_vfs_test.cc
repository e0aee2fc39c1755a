// Self-tests of the fault-injecting VFS (tests/support/fault_vfs.h): it
// sees plaintext when nothing encrypts above it, buffers unsynced writes
// until a power loss decides their fate, and injects I/O errors by number.

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "sqlite_store.h"
#include "support/fault_vfs.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::Fate;
using testing::FaultVfs;
using testing::TempDir;

// A plain (unencrypted) SQLite database directly on the fault VFS.
sqlite3* open_plain(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                          FaultVfs::kName) == SQLITE_OK);
  return db;
}

int exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

std::string count(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, "unix") == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  std::string n = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

TEST_SUITE("fault") {

TEST_CASE("the fault VFS logs what reaches it: plaintext without the shim, none with it") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  fv.reset_pass_through();
  sqlite3* db = open_plain(dir.file("plain.db"));
  CHECK(exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES('PlainCanary_91');") == SQLITE_OK);
  sqlite3_close(db);
  CHECK(fv.lower_saw("PlainCanary_91"));
  CHECK(fv.syncs() > 0);

  fv.reset_pass_through();
  {
    Result<store::Connection> c = store::create_store_for_testing(
        dir.file("enc.ehr"), {"alice", "", testing::kFast}, Secret::passphrase("pw"),
        FaultVfs::kShimName);
    REQUIRE(c.ok());
    REQUIRE(c->exec("CREATE TABLE t(x); INSERT INTO t VALUES('PlainCanary_91');").ok());
  }
  CHECK(fv.writes() > 0);
  CHECK_FALSE(fv.lower_saw("PlainCanary_91"));
  CHECK_FALSE(fv.lower_saw("SQLite format 3"));
  CHECK(fv.open_files() == 0);
}

// The shim holds a WAL frame's header back and writes it with the frame's
// sealed page: one write per frame, and no read of the header back.
TEST_CASE("a WAL frame reaches the disk in one write of header and page") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  fv.reset_pass_through();
  {
    Result<store::Connection> c = store::create_store_for_testing(
        dir.file("w.ehr"), {"alice", "", testing::kFast}, Secret::passphrase("pw"),
        FaultVfs::kShimName);
    REQUIRE(c.ok());
    REQUIRE(c->exec("PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x);"
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
                    " INSERT INTO t SELECT randomblob(1000) FROM n;").ok());
    CHECK(c->query_text("SELECT count(*) FROM t").value() == "200");
  }
  CHECK(fv.writes_of_length(24 + 4096) >= 50);  // the frames of 200 KB of rows
  CHECK(fv.writes_of_length(24) == 0);          // no header on its own
  CHECK(fv.open_files() == 0);
  Result<store::Connection> again = store::open_store_for_testing(
      dir.file("w.ehr"), Secret::passphrase("pw"), OpenOptions{}, FaultVfs::kShimName);
  REQUIRE(again.ok());
  CHECK(again->query_text("SELECT count(*) FROM t").value() == "200");
  CHECK(again->query_text("PRAGMA integrity_check").value() == "ok");
}

TEST_CASE("a power loss keeps synced writes and decides the fate of the rest") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  std::string path = dir.file("p.db");
  for (Fate fate : {Fate::kApply, Fate::kLose}) {
    CAPTURE(static_cast<int>(fate));
    for (const char* suffix : {"", "-journal"}) std::filesystem::remove(path + suffix);
    fv.reset(testing::PowerLoss{0, 1, [fate](const testing::PendingWrite&) { return fate; }});
    sqlite3* db = open_plain(path);
    REQUIRE(exec(db, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;"
                     "CREATE TABLE t(x); INSERT INTO t VALUES(1);") == SQLITE_OK);
    // Unsynced: a write to the db file that no xSync follows.
    REQUIRE(exec(db, "PRAGMA synchronous=OFF; INSERT INTO t VALUES(2);") == SQLITE_OK);
    fv.crash_now();
    CHECK(fv.crashed());
    CHECK(exec(db, "INSERT INTO t VALUES(3)") != SQLITE_OK);  // the stack is dead
    sqlite3_close(db);
    CHECK(fv.open_files() == 0);
    CHECK(count(path) == (fate == Fate::kApply ? "2" : "1"));
  }
}

TEST_CASE("an I/O error is injected at the chosen operation, once or from then on") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  std::string path = dir.file("e.db");
  fv.reset_pass_through();
  {
    sqlite3* db = open_plain(path);
    REQUIRE(exec(db, "CREATE TABLE t(x)") == SQLITE_OK);
    sqlite3_close(db);
  }
  fv.reset(testing::IoError{1, false, testing::kOpWrite, true});
  sqlite3* db = open_plain(path);
  CHECK(exec(db, "INSERT INTO t VALUES(1)") == SQLITE_FULL);
  CHECK(fv.injected() == 1);
  CHECK(exec(db, "INSERT INTO t VALUES(2)") == SQLITE_OK);  // once only
  sqlite3_close(db);
  CHECK(count(path) == "1");

  fv.reset(testing::IoError{2, true, testing::kOpRead, false});
  db = open_plain(path);
  CHECK((exec(db, "SELECT * FROM t") & 0xff) == SQLITE_IOERR);
  CHECK((exec(db, "SELECT * FROM t") & 0xff) == SQLITE_IOERR);  // persistent
  CHECK(fv.injected() >= 2);
  sqlite3_close(db);
  CHECK(std::string(testing::fault_op_name(testing::kOpShmLock)) == "xShmLock");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
