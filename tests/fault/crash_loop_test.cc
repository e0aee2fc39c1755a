// T7: crash consistency under SIGKILL (encrypted-store.md section 8).
//
// A child process runs seeded random write transactions against one store
// (inserts with overflow-sized payloads, updates, deletes, checkpoints, and
// key-slot changes that rewrite the header) and reports each acknowledged
// COMMIT over a pipe. The parent kills it with SIGKILL at a random moment,
// reopens the store and checks: the secret still opens it, every page
// authenticates, PRAGMA integrity_check is ok, every acknowledged commit is
// present, and no transaction is partly present.
//
// Iterations: EHR_CRASH_ITERATIONS (default 200; scripts/soak runs thousands).

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "ehr/store.h"
#include "sqlite_store.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::conn;
using testing::TempDir;

int iterations() {
  const char* v = std::getenv("EHR_CRASH_ITERATIONS");
  int n = v ? std::atoi(v) : 200;
  return n > 0 ? n : 200;
}

// The child: random transactions until killed. Each transaction k inserts
// rows tagged k and records (k, live row count delta) in `ledger`, so a
// partial transaction is detectable: for every k in the ledger, the rows
// tagged k must number exactly what the ledger says.
[[noreturn]] void writer(const std::string& path, int fd, uint32_t seed) {
  auto store = Store::open(path, Secret::passphrase(testing::kAlicePass));
  if (!store.ok()) _exit(2);
  auto& c = conn(*store);
  std::mt19937 rng(seed);
  auto next_k = c.query_text("SELECT coalesce(max(k), 0) + 1 FROM ledger");
  if (!next_k.ok()) _exit(3);
  int64_t k = std::stoll(*next_k);
  for (;; ++k) {
    if (!c.exec("BEGIN IMMEDIATE").ok()) _exit(4);
    int rows = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < rows; ++i) {
      // 1 in 5 payloads spill onto overflow pages.
      size_t len = rng() % 5 == 0 ? 5000 + rng() % 9000 : 50 + rng() % 400;
      std::string payload(len, static_cast<char>('a' + rng() % 26));
      auto st = c.prepare("INSERT INTO t(k, payload) VALUES(?, ?)");
      if (!st.ok() || !st->bind_int(1, k).ok() || !st->bind_text(2, payload).ok() ||
          !st->step().ok())
        _exit(5);
    }
    // Rewrite some older rows in place (same count).
    if (!c.exec("UPDATE t SET payload = payload || 'u' WHERE id IN "
                "(SELECT id FROM t ORDER BY random() LIMIT 3)").ok())
      _exit(6);
    auto led = c.prepare("INSERT INTO ledger(k, rows) VALUES(?, ?)");
    if (!led.ok() || !led->bind_int(1, k).ok() || !led->bind_int(2, rows).ok() || !led->step().ok())
      _exit(7);
    if (!c.exec("COMMIT").ok()) _exit(8);
    if (::write(fd, &k, sizeof k) != sizeof k) _exit(9);
    switch (rng() % 40) {
      case 0:
        (void)c.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        break;
      case 1: {  // a header rewrite that may be cut by the kill
        auto idx = store->add_slot({"bob", "tmp", KdfParams::min_for_testing()},
                                   Secret::passphrase("pw-bob"));
        if (idx.ok()) (void)store->remove_slot(*idx);
        break;
      }
      default:
        break;
    }
  }
}

TEST_SUITE("fault") {

TEST_CASE("every acknowledged commit survives SIGKILL at random moments") {
  TempDir dir;
  std::string path = dir.file("crash.ehr");
  {
    Store s = testing::create_test_store(path);
    testing::exec_ok(s, "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, payload TEXT)");
    testing::exec_ok(s, "CREATE INDEX t_k ON t(k)");
    testing::exec_ok(s, "CREATE TABLE ledger(k INTEGER PRIMARY KEY, rows INTEGER NOT NULL)");
  }
  std::mt19937 rng(0xC0FFEE);
  int64_t acknowledged = 0;
  const int n = iterations();
  int killed_mid_run = 0;
  for (int it = 0; it < n; ++it) {
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(pipefd[0]);
      writer(path, pipefd[1], static_cast<uint32_t>(rng() + it));
    }
    ::close(pipefd[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 40000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++killed_mid_run;
    else CHECK_MESSAGE(false, "writer exited by itself with ", WEXITSTATUS(status));
    int64_t k;
    while (::read(pipefd[0], &k, sizeof k) == sizeof k) acknowledged = std::max(acknowledged, k);
    ::close(pipefd[0]);

    CAPTURE(it);
    auto reopened = Store::open(path, Secret::passphrase(testing::kAlicePass));
    REQUIRE_MESSAGE(reopened.ok(), (reopened.ok() ? "" : reopened.error().message()));
    auto& c = conn(*reopened);
    CHECK(*c.query_text("PRAGMA integrity_check") == "ok");
    CHECK(std::stoll(*c.query_text("SELECT coalesce(max(k), 0) FROM ledger")) >= acknowledged);
    // No partial transaction: every ledger entry matches its rows, and no
    // rows exist without a ledger entry.
    CHECK(*c.query_text("SELECT count(*) FROM ledger l WHERE l.rows <> "
                        "(SELECT count(*) FROM t WHERE t.k = l.k)") == "0");
    CHECK(*c.query_text("SELECT count(*) FROM t WHERE k NOT IN (SELECT k FROM ledger)") == "0");
    if (it % 25 == 0 || it == n - 1) {
      auto report = reopened->check();
      REQUIRE(report.ok());
      CHECK_MESSAGE(report->ok(), (report->ok() ? "" : report->problems.front()));
    }
  }
  CHECK(killed_mid_run == n);
  MESSAGE("crash loop: ", n, " kills, ", acknowledged, " acknowledged transactions");
}

}

}  // namespace
}  // namespace ehr
