// T6 with real hot files (encrypted-store.md section 8): a writer process is
// SIGKILLed in the middle of its work, leaving a genuine hot WAL (with its
// -shm) or a genuine hot rollback journal (a spilled transaction in
// rollback mode). A wrong passphrase, key file or recovery code must then
// change nothing: the bytes and mtimes of every file stay the same, no file
// is created (no -shm, no -wal), none is deleted, and the WAL or journal is
// not replayed. The right secret afterwards recovers the committed state.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>

#include "ehr/store.h"
#include "sqlite_store.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

// Every file of `dir` with its fingerprint.
std::map<std::string, testing::Fingerprint> snapshot(const std::string& dir) {
  std::map<std::string, testing::Fingerprint> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out[e.path().filename().string()] = testing::fingerprint(e.path().string());
  }
  return out;
}

// Runs `work` in a child that reports readiness by writing one byte to the
// pipe and then waits to be killed; SIGKILLs it once ready.
template <typename Fn>
void kill_when_ready(Fn work) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    int rc = work();
    if (rc != 0) _exit(rc);
    char one = 1;
    if (::write(fds[1], &one, 1) != 1) _exit(90);
    for (;;) pause();
  }
  ::close(fds[1]);
  char got = 0;
  ssize_t n = ::read(fds[0], &got, 1);
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE_MESSAGE(n == 1, "writer failed with exit status ", WEXITSTATUS(status));
  CHECK(WIFSIGNALED(status));
}

// Every kind of wrong secret is refused before SQLite sees the files, and
// nothing in `dir` changes.
void wrong_secrets_change_nothing(const std::string& dir, const std::string& path) {
  const auto before = snapshot(dir);
  Secret wrong_key = new_key_file_bytes();
  Secret wrong_code = new_recovery_code();
  Secret wrong_pass = Secret::passphrase("pw-mallory");
  for (const Secret* secret : {&wrong_pass, &wrong_key, &wrong_code}) {
    Result<Store> s = Store::open(path, *secret);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code() == ErrorCode::kAuthFailed);
    CHECK(s.error().message() == "wrong passphrase or key");
    const auto after = snapshot(dir);
    CHECK(after.size() == before.size());
    for (const auto& [name, fp] : before) {
      CAPTURE(name);
      REQUIRE(after.count(name) == 1);
      CHECK(after.at(name).mtime_ns == fp.mtime_ns);
      CHECK(after.at(name).size == fp.size);
      CHECK(after.at(name).bytes == fp.bytes);
    }
  }
}

TEST_SUITE("fault") {

TEST_CASE("a wrong secret leaves a real hot WAL of a killed writer untouched") {
  TempDir dir;
  const std::string path = dir.file("hot.ehr");
  { testing::create_test_store(path); }
  constexpr int kRows = 40;
  kill_when_ready([&]() -> int {
    // Left open on purpose (closing would checkpoint and delete the WAL).
    auto* s = new Result<Store>(Store::open(path, Secret::passphrase(testing::kAlicePass)));
    if (!s->ok()) return 2;
    store::Connection& c = testing::conn(**s);
    if (!c.exec("PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x)").ok()) return 3;
    for (int i = 0; i < kRows; ++i) {
      if (!c.exec("INSERT INTO t VALUES(randomblob(2000))").ok()) return 4;
    }
    return 0;  // committed, never checkpointed; the kill leaves the WAL hot
  });
  REQUIRE(testing::file_exists(path + "-wal"));
  REQUIRE(testing::file_exists(path + "-shm"));
  REQUIRE(std::filesystem::file_size(path + "-wal") > kRows * 2000);
  wrong_secrets_change_nothing(dir.path(), path);
  // The same without the -shm (the files copied elsewhere): none is created.
  std::filesystem::remove(path + "-shm");
  wrong_secrets_change_nothing(dir.path(), path);
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  // The right secret recovers every committed row.
  Store s = testing::open_test_store(path);
  CHECK(testing::query(s, "SELECT count(*) FROM t") == std::to_string(kRows));
  CHECK(testing::query(s, "PRAGMA ehr_status") == "ok");
}

TEST_CASE("a wrong secret leaves a real hot rollback journal of a killed writer untouched") {
  TempDir dir;
  testing::RawDb db = testing::make_raw_db(dir.file("journal.ehr"));  // slot: alice, "pw"
  // A committed state, in rollback mode.
  {
    sqlite3* h = testing::open_raw(db);
    REQUIRE(testing::raw_exec(h, "PRAGMA temp_store=MEMORY; CREATE TABLE t(x);"
                                 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c "
                                 "WHERE i<300) INSERT INTO t SELECT printf('%.300c', 'b') FROM c;") ==
            SQLITE_OK);
    sqlite3_close(h);
  }
  const std::vector<std::uint8_t> committed = testing::read_bytes(db.path);
  kill_when_ready([&]() -> int {
    sqlite3* h = testing::open_raw(db);
    // A small cache makes the update spill: pages are written to the db
    // file while the journal holds their old images (a hot journal).
    if (testing::raw_exec(h, "PRAGMA temp_store=MEMORY; PRAGMA cache_size=10;"
                             "BEGIN; UPDATE t SET x = printf('%.300c', 'a');") != SQLITE_OK) {
      return 2;
    }
    return 0;  // h stays open with the transaction in progress
  });
  REQUIRE(testing::file_exists(db.path + "-journal"));
  REQUIRE(std::filesystem::file_size(db.path + "-journal") > 4096);
  REQUIRE(testing::read_bytes(db.path) != committed);  // the db file was changed
  CHECK_FALSE(testing::file_exists(db.path + "-wal"));
  wrong_secrets_change_nothing(dir.path(), db.path);
  CHECK_FALSE(testing::file_exists(db.path + "-wal"));
  CHECK_FALSE(testing::file_exists(db.path + "-shm"));
  // The right secret rolls the journal back (through the shim) first.
  Result<Store> s = Store::open(db.path, Secret::passphrase("pw"));
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  CHECK(testing::query(*s, "SELECT count(*) FROM t WHERE x = printf('%.300c', 'b')") == "300");
  CHECK(testing::query(*s, "PRAGMA integrity_check") == "ok");
  CHECK_FALSE(testing::file_exists(db.path + "-journal"));
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
