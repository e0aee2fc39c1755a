// T4: plaintext-leak scan. Canary strings go into every place SQLite keeps
// user data (values, names, index keys, BLOBs, overflow pages, FTS5, UTF-16
// text); then every operation runs (CRUD, savepoints, a failing statement in
// a big transaction, cache spill, checkpoint, backup, slot change, key
// rotation) and every file in the directory is searched for the canaries in
// UTF-8, UTF-16LE and UTF-16BE, and for the SQLite magic.

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ehr/store.h"
#include "sqlite_store.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::create_test_store;
using testing::exec_ok;
using testing::kAlicePass;
using testing::kFast;
using testing::query;
using testing::TempDir;

const std::vector<std::string> kCanaries = {
    "CanaryTextAlpha7f3a", "canary_tbl_91b2",      "canary_col_55d0",
    "CanaryIndexKey_e4c1", "CanaryBlob_b7c1",      "CanaryOverflow_2d9e",
    "canaryfts_a1b2",      "CanarySavepoint_77aa", "CanaryBigTxn_3c3c",
    "CanarySpill_5e5e",    "CanaryUtf16_c0de",
};

std::string utf16(const std::string& ascii, bool big_endian) {
  std::string out;
  for (char c : ascii) {
    if (big_endian) out.push_back('\0');
    out.push_back(c);
    if (!big_endian) out.push_back('\0');
  }
  return out;
}

// Every (file, needle) hit under `dir`.
std::vector<std::string> scan(const std::string& dir) {
  std::vector<std::string> hits;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::vector<std::uint8_t> bytes = testing::read_bytes(e.path().string());
    std::string name = e.path().filename().string();
    if (testing::contains(bytes, std::string("SQLite format 3"))) {
      hits.push_back(name + ": SQLite format 3");
    }
    for (const std::string& c : kCanaries) {
      for (const std::string& form : {c, utf16(c, false), utf16(c, true)}) {
        if (testing::contains(bytes, form)) hits.push_back(name + ": " + c);
      }
    }
  }
  return hits;
}

std::size_t file_count(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) ++n;
  }
  return n;
}

TEST_SUITE("store_leak") {

TEST_CASE("no canary and no SQLite magic reaches any file through any operation") {
  TempDir dir;
  std::string path = dir.file("leak.ehr");
  Store s = create_test_store(path);
  exec_ok(s, "PRAGMA wal_autocheckpoint=0");
  exec_ok(s,
          "CREATE TABLE canary_tbl_91b2(id INTEGER PRIMARY KEY, canary_col_55d0 TEXT, b BLOB);"
          "CREATE INDEX ix ON canary_tbl_91b2(canary_col_55d0);"
          "CREATE VIRTUAL TABLE docs USING fts5(body);");
  exec_ok(s, "INSERT INTO canary_tbl_91b2(canary_col_55d0, b) VALUES"
             "('CanaryTextAlpha7f3a', NULL), ('CanaryIndexKey_e4c1', CAST('CanaryBlob_b7c1' AS BLOB)),"
             "(replace(printf('%.30000c', 'x'), 'xxxxxxxxxxxxxxxxxxx', 'CanaryOverflow_2d9e'), NULL)");
  exec_ok(s, "INSERT INTO docs(body) VALUES('the quick canaryfts_a1b2 jumps')");
  exec_ok(s, "UPDATE canary_tbl_91b2 SET b = CAST('CanaryBlob_b7c1 again' AS BLOB) WHERE id = 1");
  exec_ok(s, "DELETE FROM canary_tbl_91b2 WHERE id = 1; INSERT INTO canary_tbl_91b2(canary_col_55d0)"
             " VALUES('CanaryTextAlpha7f3a')");
  // A savepoint rolled back.
  exec_ok(s, "SAVEPOINT sp; INSERT INTO canary_tbl_91b2(canary_col_55d0) VALUES('CanarySavepoint_77aa');"
             "ROLLBACK TO sp; RELEASE sp;");
  // A failing statement inside a big transaction (statement journal in memory).
  exec_ok(s, "BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<3000)"
             " INSERT INTO canary_tbl_91b2(canary_col_55d0) SELECT 'CanaryBigTxn_3c3c' || i FROM c;");
  CHECK_FALSE(testing::conn(s).exec("INSERT INTO canary_tbl_91b2(id) VALUES(2)").ok());
  exec_ok(s, "COMMIT");
  // Cache spill.
  exec_ok(s, "PRAGMA cache_size=10; BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1"
             " FROM c WHERE i<3000) INSERT INTO canary_tbl_91b2(canary_col_55d0)"
             " SELECT 'CanarySpill_5e5e' || i FROM c; COMMIT; PRAGMA cache_size=-65536;");
  // UTF-16 text in a UTF-8 database, as BLOBs.
  for (bool be : {false, true}) {
    std::string hex;
    for (unsigned char c : utf16("CanaryUtf16_c0de", be)) {
      static const char* k = "0123456789abcdef";
      hex += k[c >> 4];
      hex += k[c & 15];
    }
    exec_ok(s, "INSERT INTO canary_tbl_91b2(b) VALUES(X'" + hex + "')");
  }

  CHECK(scan(dir.path()).empty());  // live: db, -wal, -shm
  CHECK(file_count(dir.path()) >= 3);
  exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  CHECK(scan(dir.path()).empty());

  REQUIRE(s.backup(dir.file("backup.ehr")).ok());
  REQUIRE(s.add_slot({"bob", "", kFast}, Secret::passphrase("pw-bob")).ok());
  exec_ok(s, "VACUUM");
  CHECK(scan(dir.path()).empty());
  CHECK(query(s, "SELECT count(*) FROM docs WHERE docs MATCH 'canaryfts_a1b2'") == "1");
  s = Store(std::move(s));  // still usable after a move
  {
    Store closing = std::move(s);
  }
  REQUIRE(rotate_key(path, Secret::passphrase(kAlicePass)).ok());
  CHECK(scan(dir.path()).empty());
}

// A closed store keeps a small WAL beside it (kKeepWalBytes): what stays
// on disk between processes is ciphertext, and no -shm stays at all (it
// holds the one unmasked checksum over frame plaintext).
TEST_CASE("the WAL kept beside a closed store holds no plaintext and no -shm stays") {
  TempDir dir;
  std::string path = dir.file("kept.ehr");
  {
    Store s = create_test_store(path);
    exec_ok(
        s,
        "CREATE TABLE canary_tbl_91b2(canary_col_55d0 TEXT, b BLOB);"
        "CREATE INDEX ix ON canary_tbl_91b2(canary_col_55d0);"
        "INSERT INTO canary_tbl_91b2 VALUES('CanaryTextAlpha7f3a', CAST('CanaryBlob_b7c1' AS "
        "BLOB)),"
        "('CanaryIndexKey_e4c1', NULL),"
        "(replace(printf('%.9000c', 'x'), 'xxxxxxxxxxxxxxxxxxx', 'CanaryOverflow_2d9e'), NULL)");
  }
  for (int i = 0; i < 3; ++i) {  // later processes append to the same WAL
    Store s = testing::open_test_store(path);
    exec_ok(s, "INSERT INTO canary_tbl_91b2 VALUES('CanarySavepoint_77aa', NULL)");
  }
  REQUIRE(testing::file_exists(path + "-wal"));
  CHECK(std::filesystem::file_size(path + "-wal") > 4 * (24 + 4096));
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  CHECK(scan(dir.path()).empty());
  CHECK(file_count(dir.path()) == 2);  // the db and its -wal
  Store s = testing::open_test_store(path);
  CHECK(query(s, "SELECT count(*) FROM canary_tbl_91b2") == "6");
}

TEST_CASE("UTF-16 databases leak nothing in rollback or WAL mode") {
  for (std::string encoding : {"UTF-16le", "UTF-16be"}) {
    for (std::string mode : {"rollback", "WAL"}) {
      CAPTURE(encoding);
      CAPTURE(mode);
      TempDir dir;
      testing::RawDb db = testing::make_raw_db(dir.file("u.ehr"));
      sqlite3* h = testing::open_raw(db);
      // A fresh raw connection is in rollback mode; the shim only lets it
      // switch to WAL.
      REQUIRE(testing::raw_exec(h, "PRAGMA encoding='" + encoding +
                                       "'; PRAGMA temp_store=MEMORY; PRAGMA cache_size=10;" +
                                       (mode == "WAL" ? "PRAGMA journal_mode=WAL;" : "")) ==
              SQLITE_OK);
      REQUIRE(testing::raw_exec(h, "CREATE TABLE canary_tbl_91b2(x); BEGIN;"
                                   "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c"
                                   " WHERE i<500) INSERT INTO canary_tbl_91b2 SELECT "
                                   "'CanaryUtf16_c0de' || i FROM c;") == SQLITE_OK);
      CHECK(scan(dir.path()).empty());  // mid-transaction: journal or WAL
      REQUIRE(testing::raw_exec(h, "COMMIT") == SQLITE_OK);
      CHECK(scan(dir.path()).empty());
      sqlite3_close(h);
      CHECK(scan(dir.path()).empty());
    }
  }
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
