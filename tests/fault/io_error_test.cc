// T9: I/O error injection (encrypted-store.md section 8), after SQLite's
// do_ioerr_test (test/tester.tcl).
//
// The fault VFS (tests/support/fault_vfs.h) sits between the shim and
// "unix". A workload runs through that stack: open the store (which
// recovers a hot WAL), one transaction (inserts with overflow payloads, an
// update, a delete), a truncating checkpoint and a key-slot change. A dry
// run counts its operations (xRead, xWrite, xSync, xTruncate, xFileSize,
// xLock, xCheckReservedLock, xShmMap, xShmLock, xOpen, xDelete, xAccess).
// Then for N = 1..total, operation N fails: once, and persistently from N
// on, with its SQLITE_IOERR_* code; and for every write N, persistently
// with SQLITE_FULL. The workload stops at its first error. Each run must:
//   - fail cleanly (an ehr error that is an I/O, no-input or busy error,
//     never corruption) or succeed;
//   - reopen through a clean stack with the secret (never a WAL anomaly);
//   - hold exactly the content from before the transaction or after it,
//     pass PRAGMA integrity_check and Store::check;
//   - open with the new slot's secret iff the slot change may have landed
//     (always when add_slot succeeded, never when the workload stopped
//     before it);
//   - never have handed a plaintext canary, or SQLite's magic, to the
//     layer below the shim.
// EHR_FAULT_IOERR_STRIDE (default 1) tests every k-th N only.

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "ehr/store.h"
#include "sqlite_store.h"
#include "support/fault_vfs.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::FaultVfs;
using testing::IoError;
using testing::TempDir;

constexpr const char* kCanary = "CanaryIoErr_77e1";
constexpr const char* kBobPass = "pw-bob";

const char* const kTxn =
    "BEGIN IMMEDIATE;"
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<30)"
    " INSERT INTO t(tag, body) SELECT 'new', 'CanaryIoErr_77e1 ' || printf('%.*c', 200 + 400 * (i % 9), 'n') FROM c;"
    "UPDATE t SET body = body || ' CanaryIoErr_77e1 updated' WHERE tag = 'old' AND id % 3 = 0;"
    "DELETE FROM t WHERE tag = 'old' AND id % 5 = 0;"
    "COMMIT;";

int stride() {
  const char* v = std::getenv("EHR_FAULT_IOERR_STRIDE");
  int n = v ? std::atoi(v) : 1;
  return n > 0 ? n : 1;
}

// The logical content, as one string.
std::string content(store::Connection& c) {
  Result<std::string> r = c.query_text(
      "SELECT count(*) || '|' || coalesce(group_concat(id || ':' || tag || ':' || length(body) "
      "|| ':' || substr(body, -8), ','), '') FROM (SELECT * FROM t ORDER BY id)");
  return r.ok() ? *r : "<error: " + r.error().message() + ">";
}

struct Outcome {
  bool opened = false;
  bool txn = false;
  bool checkpoint = false;
  bool slot = false;
  std::optional<Error> error;  // the first error
};

Outcome run_workload(const std::string& path) {
  Outcome o;
  Result<store::Connection> c = store::open_store_for_testing(
      path, Secret::passphrase(testing::kAlicePass), {}, FaultVfs::kShimName);
  if (!c.ok()) {
    o.error = c.error();
    return o;
  }
  o.opened = true;
  if (Status s = c->exec(kTxn); !s.ok()) {
    (void)c->exec("ROLLBACK");
    o.error = s.error();
    return o;
  }
  o.txn = true;
  if (Status s = c->exec("PRAGMA wal_checkpoint(TRUNCATE)"); !s.ok()) {
    o.error = s.error();
    return o;
  }
  o.checkpoint = true;
  Result<int> idx = store::add_slot(*c, {"bob", "", testing::kFast}, Secret::passphrase(kBobPass));
  if (!idx.ok()) {
    o.error = idx.error();
    return o;
  }
  o.slot = true;
  return o;
}

TEST_SUITE("fault") {

TEST_CASE("an I/O error at any operation fails cleanly and leaves the before or after state") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  const std::string path = dir.file("io.ehr");
  // The base: rows in the db file and more in a hot WAL (so opening runs
  // WAL recovery through the fault stack).
  std::vector<std::uint8_t> base_db, base_wal;
  {
    std::string live = dir.file("live.ehr");
    Store s = testing::create_test_store(live);
    testing::exec_ok(s, "PRAGMA wal_autocheckpoint=0;"
                        "CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT, body TEXT);"
                        "CREATE INDEX t_tag ON t(tag, id);"
                        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<60)"
                        " INSERT INTO t(tag, body) SELECT 'old', printf('%.300c', 'o') FROM c;"
                        "PRAGMA wal_checkpoint(TRUNCATE);"
                        "UPDATE t SET body = body || 'w' WHERE id % 4 = 0;");
    base_db = testing::read_bytes(live);
    base_wal = testing::read_bytes(live + "-wal");
  }
  REQUIRE(base_wal.size() > 32);
  auto fresh = [&] {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::filesystem::remove(path + suffix);
    }
    testing::write_bytes(path, base_db);
    testing::write_bytes(path + "-wal", base_wal);
  };

  std::string before, after;
  fresh();
  {
    Store s = testing::open_test_store(path);
    before = content(testing::conn(s));
  }
  // Dry run: the operations of the workload, and its writes.
  fresh();
  fv.reset_pass_through();
  Outcome dry = run_workload(path);
  REQUIRE_MESSAGE(!dry.error, (dry.error ? dry.error->message() : ""));
  REQUIRE(dry.slot);
  const std::uint64_t total = fv.ops();
  CHECK_FALSE(fv.lower_saw(kCanary));
  {
    Store s = testing::open_test_store(path);
    after = content(testing::conn(s));
  }
  REQUIRE(before != after);
  fresh();
  fv.reset(IoError{0, false, testing::kOpWrite, false});
  REQUIRE_FALSE(run_workload(path).error);
  const std::uint64_t total_writes = fv.ops();
  REQUIRE(total > 100);
  REQUIRE(total_writes > 10);

  struct Mode {
    const char* name;
    bool persistent;
    unsigned ops;
    bool full;
    std::uint64_t count;
  };
  const Mode modes[] = {
      {"IOERR once", false, testing::kAllFaultOps, false, total},
      {"IOERR persistent", true, testing::kAllFaultOps, false, total},
      {"FULL persistent (writes)", true, testing::kOpWrite, true, total_writes},
  };
  int runs = 0, failed_runs = 0, after_states = 0;
  for (const Mode& m : modes) {
    for (std::uint64_t n = 1; n <= m.count; n += static_cast<std::uint64_t>(stride())) {
      CAPTURE(m.name);
      CAPTURE(n);
      fresh();
      fv.reset(IoError{n, m.persistent, m.ops, m.full});
      Outcome o = run_workload(path);
      REQUIRE(fv.open_files() == 0);
      ++runs;
      CHECK(fv.injected() >= 1);
      CHECK_FALSE(fv.lower_saw(kCanary));
      CHECK_FALSE(fv.lower_saw("SQLite format 3"));
      if (o.error) {
        ++failed_runs;
        ErrorCode code = o.error->code();
        CHECK_MESSAGE((code == ErrorCode::kIoError || code == ErrorCode::kNoInput ||
                       code == ErrorCode::kBusy),
                      o.error->message());
      }
      // Reopen through the normal stack.
      Result<Store> s = Store::open(path, Secret::passphrase(testing::kAlicePass));
      REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
      store::Connection& c = testing::conn(*s);
      CHECK(*c.query_text("PRAGMA integrity_check") == "ok");
      std::string now = content(c);
      CHECK((now == before || now == after));
      if (o.txn) CHECK(now == after);
      if (now == after) ++after_states;
      Result<CheckReport> report = s->check();
      REQUIRE(report.ok());
      if (o.checkpoint && !o.slot) {
        // The header update may have been cut between the copies.
        for (const std::string& p : report->problems) CHECK_MESSAGE(p.starts_with("header copy "), p);
      } else {
        CHECK_MESSAGE(report->ok(), (report->ok() ? "" : report->problems.front()));
      }
      Result<Store> bob = Store::open(path, Secret::passphrase(kBobPass));
      if (o.slot) CHECK(bob.ok());
      if (!o.checkpoint) CHECK_FALSE(bob.ok());
      if (!bob.ok()) CHECK(bob.error().code() == ErrorCode::kAuthFailed);
    }
  }
  MESSAGE("I/O errors: ", total, " operations (", total_writes, " writes), ", runs, " runs, ",
          failed_runs, " failed cleanly, ", after_states, " ended in the after state");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
