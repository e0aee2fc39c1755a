// T10-lite: concurrency. Two connections in one process, a connection opened
// while another holds a large transaction, and forked writer and reader
// processes working on one store while the parent writes too.

#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "ehr/store.h"
#include "sqlite_store.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::conn;
using testing::create_test_store;
using testing::exec_ok;
using testing::kAlicePass;
using testing::open_test_store;
using testing::query;
using testing::TempDir;

// Runs `body` in a child process; returns its exit status (0 = success).
// The child never returns into doctest.
template <typename Fn>
pid_t spawn(Fn body) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    _exit(code);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_SUITE("store_concurrency") {

TEST_CASE("two connections in one process see each other's commits") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  Store a = create_test_store(path);
  exec_ok(a, "CREATE TABLE t(id INTEGER PRIMARY KEY, owner TEXT)");
  Store b = open_test_store(path);
  for (int i = 0; i < 50; ++i) {
    exec_ok(i % 2 ? a : b, "INSERT INTO t(owner) VALUES('" + std::string(i % 2 ? "a" : "b") + "')");
    CHECK(query(i % 2 ? b : a, "SELECT count(*) FROM t") == std::to_string(i + 1));
  }
  // A reader keeps its snapshot while the other writes.
  exec_ok(b, "BEGIN; SELECT count(*) FROM t;");
  exec_ok(a, "INSERT INTO t(owner) VALUES('late')");
  CHECK(query(b, "SELECT count(*) FROM t") == "50");
  exec_ok(b, "COMMIT");
  CHECK(query(b, "SELECT count(*) FROM t") == "51");
}

TEST_CASE("a store opens while another connection holds a large transaction") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  Store a = create_test_store(path);
  exec_ok(a, "CREATE TABLE t(x); INSERT INTO t VALUES('committed');");
  exec_ok(a, "PRAGMA cache_size=10; BEGIN;"
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<5000)"
             " INSERT INTO t SELECT printf('%.200c', 'u') FROM c;");
  OpenOptions quick;
  quick.busy_timeout_ms = 100;
  Result<Store> b = Store::open(path, Secret::passphrase(kAlicePass), quick);
  REQUIRE(b.ok());
  CHECK(query(*b, "SELECT count(*) FROM t") == "1");
  Status w = conn(*b).exec("INSERT INTO t VALUES('blocked')");
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code() == ErrorCode::kBusy);
  exec_ok(a, "COMMIT");
  CHECK(query(*b, "SELECT count(*) FROM t") == "5001");
  Result<CheckReport> r = b->check();
  REQUIRE(r.ok());
  CHECK(r->ok());
}

TEST_CASE("forked writers and a reader share one store") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  {
    Store s = create_test_store(path);
    exec_ok(s, "CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT, n INT, body TEXT)");
  }
  constexpr int kRows = 150;
  auto writer = [&](const std::string& who) {
    return [&path, who]() -> int {
      Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass));
      if (!s.ok()) return 1;
      for (int i = 0; i < kRows; ++i) {
        Status st = conn(*s).exec("INSERT INTO t(who, n, body) VALUES('" + who + "', " +
                                  std::to_string(i) + ", printf('%.500c', 'w'))");
        if (!st.ok()) return 2;
        if (i % 50 == 49 && !conn(*s).exec("PRAGMA wal_checkpoint(PASSIVE)").ok()) return 3;
      }
      return 0;
    };
  };
  pid_t w1 = spawn(writer("child"));
  pid_t reader = spawn([&path]() -> int {
    Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass));
    if (!s.ok()) return 1;
    long last = 0;
    for (int i = 0; i < 300; ++i) {
      Result<std::string> n = conn(*s).query_text(
          "SELECT count(*) FROM t WHERE length(body) = 500");
      if (!n.ok()) return 2;  // never IOERR_DATA, never corrupt
      long now = std::stol(*n);
      if (now < last) return 3;  // counts only grow
      last = now;
      Result<std::string> gaps = conn(*s).query_text(
          "SELECT count(*) FROM (SELECT who, max(n) + 1 - count(*) AS g FROM t GROUP BY who) "
          "WHERE g != 0");
      if (!gaps.ok() || *gaps != "0") return 4;  // each writer's rows are a prefix
    }
    return 0;
  });
  // The parent writes at the same time.
  CHECK(writer("parent")() == 0);
  CHECK(wait_for(w1) == 0);
  CHECK(wait_for(reader) == 0);
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT count(*) FROM t") == std::to_string(2 * kRows));
  Result<CheckReport> r = s.check();
  REQUIRE(r.ok());
  CHECK(r->ok());
}

// Lookups are processes that open, commit one small transaction and close,
// and the last one to close keeps the WAL and deletes the -shm (under an
// EXCLUSIVE lock on the db file). Many of them, run while a long-lived
// reader and a long-lived writer keep the store open (so some closes find
// themselves alone and some do not), and crossing kKeepWalBytes (so some
// closes checkpoint): no error, no lost commit, no mixed-up wal-index.
TEST_CASE("short-lived processes commit and close while others keep the store open") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  {
    Store s = create_test_store(path);
    exec_ok(s, "CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT, n INT, body TEXT)");
  }
  constexpr int kShort = 4;      // concurrent chains of short-lived processes
  constexpr int kEach = 12;      // processes per chain
  constexpr int kLongRows = 60;  // rows of the long-lived writer
  auto short_lived = [&path](int chain) {
    return [&path, chain]() -> int {
      for (int i = 0; i < kEach; ++i) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
          int code = 0;
          {
            Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass));
            if (!s.ok()) {
              code = 2;
            } else if (!conn(*s)
                            .exec("INSERT INTO t(who, n, body) VALUES('short" +
                                  std::to_string(chain) + "', " + std::to_string(i) +
                                  ", printf('%.6000c', 's'))")
                            .ok()) {
              code = 3;
            }
          }
          _exit(code);
        }
        if (wait_for(pid) != 0) return 4;
      }
      return 0;
    };
  };
  std::vector<pid_t> chains;
  for (int c = 0; c < kShort; ++c) chains.push_back(spawn(short_lived(c)));
  pid_t reader = spawn([&path]() -> int {
    Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass));
    if (!s.ok()) return 1;
    long last = 0;
    for (int i = 0; i < 200; ++i) {
      Result<std::string> n = conn(*s).query_text("SELECT count(*) FROM t");
      if (!n.ok()) return 2;
      long now = std::stol(*n);
      if (now < last) return 3;
      last = now;
    }
    return 0;
  });
  pid_t writer = spawn([&path]() -> int {
    Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass));
    if (!s.ok()) return 1;
    for (int i = 0; i < kLongRows; ++i) {
      if (!conn(*s)
               .exec("INSERT INTO t(who, n, body) VALUES('long', " + std::to_string(i) + ", 'l')")
               .ok()) {
        return 2;
      }
    }
    return 0;
  });
  for (pid_t c : chains) CHECK(wait_for(c) == 0);
  CHECK(wait_for(reader) == 0);
  CHECK(wait_for(writer) == 0);
  // kShort * kEach rows of 6000 bytes cross kKeepWalBytes: some close
  // checkpointed. The last one to close deletes the -shm when it finds
  // itself alone (an EXCLUSIVE lock on the db file); two processes closing
  // at the same instant can each see the other and both leave it (it holds
  // page numbers and checksums, no record content, and the next open takes
  // it up), as CI saw once in some thirty runs. A close that is alone
  // always deletes it.
  if (testing::file_exists(path + "-shm")) {
    Store alone = open_test_store(path);
  }
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT count(*) FROM t") == std::to_string(kShort * kEach + kLongRows));
  CHECK(query(s, "SELECT count(DISTINCT who || '/' || n) FROM t") ==
        std::to_string(kShort * kEach + kLongRows));
  Result<CheckReport> r = s.check();
  REQUIRE(r.ok());
  CHECK(r->ok());
}

// QA finding (db rotate-key lost concurrent writes): a process that opened
// the path before rotate-key renamed its new file over it waited for its
// lock on the old file and then committed there, exit 0, into a file no one
// opens again. Its first lock must fail instead, as kBusy.
TEST_CASE("a process that opened the store before it was renamed over refuses to use it") {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  std::string other = dir.file("b.ehr");
  std::string msg = dir.file("child-error");
  {
    Store s = create_test_store(path);
    exec_ok(s, "CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT)");
    exec_ok(s, "INSERT INTO t(who) VALUES('before')");
  }
  {
    // The "rotated" file: another file id, and (as VACUUM INTO leaves it) all
    // in one file, no WAL.
    Store s = create_test_store(dir.file("c.ehr"));
    exec_ok(s, "CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT)");
    exec_ok(s, "INSERT INTO t(who) VALUES('new file')");
    REQUIRE(s.backup(other).ok());
  }
  int go[2];
  int opening[2];
  REQUIRE(pipe(go) == 0);
  REQUIRE(pipe(opening) == 0);
  // Forked before the parent opens anything: the child shares no SQLite state.
  pid_t child = spawn([&]() -> int {
    char c = 0;
    if (read(go[0], &c, 1) != 1) return 90;
    if (write(opening[1], "o", 1) != 1) return 91;
    OpenOptions o;
    o.busy_timeout_ms = 20000;
    Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass), o);
    Status st = s.ok() ? conn(*s).exec("INSERT INTO t(who) VALUES('child')") : Status(s.error());
    if (st.ok()) return 0;
    if (FILE* f = std::fopen(msg.c_str(), "w")) {
      std::fputs(st.error().message().c_str(), f);
      std::fclose(f);
    }
    return st.error().is(ErrorCode::kBusy) ? 75 : 1;
  });
  {
    // The rotation's part: the EXCLUSIVE lock on the old file while another
    // file is renamed over its path.
    Result<store::Connection> holder =
        store::open_store(path, Secret::passphrase(kAlicePass), {}, /*exclusive=*/true);
    REQUIRE(holder.ok());
    REQUIRE(write(go[1], "g", 1) == 1);
    char c = 0;
    REQUIRE(read(opening[0], &c, 1) == 1);
    // The child reads the header, opens the file and waits for its lock.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    REQUIRE(holder->exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
    int persist = 1;  // "<path>-wal" is about to be the new file's
    sqlite3_file_control(holder->handle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    REQUIRE(std::rename(other.c_str(), path.c_str()) == 0);
  }
  CHECK(wait_for(child) == 75);
  std::vector<std::uint8_t> text = testing::read_bytes(msg);
  CHECK(std::string(text.begin(), text.end()) ==
        path + " was replaced while this command waited (ehr db rotate-key); run it again");
  // The file at the path is whole and has nothing of the child.
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT group_concat(who) FROM t") == "new file");
  Result<CheckReport> r = s.check();
  REQUIRE(r.ok());
  CHECK(r->ok());
  for (int fd : {go[0], go[1], opening[0], opening[1]}) close(fd);
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
