// T8: power-loss simulation (encrypted-store.md section 8).
//
// The fault VFS (tests/support/fault_vfs.h) sits between the shim and
// "unix" and buffers every write since the file's last xSync. A fixed
// workload of transactions runs through that stack; at xSync number k the
// power fails: each pending write is applied, lost, torn at 512-byte
// sectors or replaced by garbage (seeded RNG), and the stack is abandoned.
// Then the store is reopened through a fresh, normal stack (ehrcrypt over
// unix) and must:
//   - open: under synchronous=FULL a power loss never raises the WAL
//     anomaly (the rule in sqlite_vfs.cc damage_is_durable: only damage
//     followed by a chained later transaction is an anomaly, and a power
//     loss can only damage the last, unacknowledged one);
//   - pass PRAGMA integrity_check and Store::check (header copies, every
//     frame of the live WAL log, every db page not superseded by the WAL);
//   - hold every transaction whose COMMIT returned before the crash, and
//     no part of any other (a ledger, as in T7);
//   - be opened by the secret set of the acknowledged slot change (or the
//     one before it, if the crash cut the change).
// No plaintext canary may ever have reached the layer below the shim.
//
// k runs over every xSync of the workload (counted in a dry run), for
// EHR_FAULT_SEEDS seeds (default 8; even seeds apply most pending writes, so
// the cut transaction sometimes survives whole). A separate case cuts a key-slot change
// at each of its header syncs, between the A and B copy writes included.

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
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
using testing::Fate;
using testing::PowerLoss;
using testing::TempDir;

constexpr const char* kCanary = "CanaryPowerLoss_4f1d";
constexpr const char* kBobPass = "pw-bob";

int seeds() {
  const char* v = std::getenv("EHR_FAULT_SEEDS");
  int n = v ? std::atoi(v) : 8;
  return n > 0 ? n : 8;
}

// A closed store with the schema and some checkpointed rows.
std::vector<std::uint8_t> base_store(const TempDir& dir) {
  std::string path = dir.file("base.ehr");
  {
    Store s = testing::create_test_store(path);
    testing::exec_ok(s,
                     "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, payload TEXT);"
                     "CREATE INDEX t_k ON t(k);"
                     "CREATE TABLE ledger(k INTEGER PRIMARY KEY, rows INTEGER NOT NULL);"
                     "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<40)"
                     " INSERT INTO t(k, payload) SELECT 0, printf('base %d %.300c', i, 'b') FROM c;"
                     "INSERT INTO ledger VALUES(0, 40);");
    // Into the db file itself: the WAL stays beside a closed store.
    testing::exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::vector<std::uint8_t> bytes = testing::read_bytes(path);
  std::filesystem::remove(path);
  return bytes;
}

// What the workload got acknowledged before it stopped.
struct Acked {
  std::int64_t k = 0;        // the last transaction whose COMMIT returned OK
  bool bob_added = false;    // add_slot returned OK
  bool stopped = false;      // some step failed (the crash)
  bool cut_slot_change = false;  // the crash hit the header update
};

// Transaction k inserts `rows` rows tagged k (payload of `len` bytes, with
// the canary) and its ledger entry, in one transaction.
bool insert_txn(store::Connection& c, std::int64_t k, int rows, int len) {
  if (!c.exec("BEGIN IMMEDIATE").ok()) return false;
  for (int i = 0; i < rows; ++i) {
    Result<store::Statement> st = c.prepare("INSERT INTO t(k, payload) VALUES(?, ?)");
    std::string payload = std::string(kCanary) + " " + std::to_string(k) + " " +
                          std::string(static_cast<std::size_t>(len), static_cast<char>('a' + k % 26));
    if (!st.ok() || !st->bind_int(1, k).ok() || !st->bind_text(2, payload).ok() ||
        !st->step().ok()) {
      (void)c.exec("ROLLBACK");
      return false;
    }
  }
  if (!c.exec("INSERT INTO ledger VALUES(" + std::to_string(k) + ", " + std::to_string(rows) +
              ")").ok() ||
      !c.exec("COMMIT").ok()) {
    (void)c.exec("ROLLBACK");
    return false;
  }
  return true;
}

// Transaction k (3) rewrites every row of k = 1 in place: all or nothing.
bool update_txn(store::Connection& c, std::int64_t k) {
  if (c.exec("BEGIN IMMEDIATE; UPDATE t SET payload = 'upd' || payload WHERE k = 1;"
             "INSERT INTO ledger VALUES(" +
             std::to_string(k) + ", 0); COMMIT")
          .ok()) {
    return true;
  }
  (void)c.exec("ROLLBACK");
  return false;
}

// The workload: small and overflow transactions, an in-place update of
// earlier rows, checkpoints (passive and truncating: a new WAL generation),
// a rolled-back transaction that spilled frames (stale frames of the
// current generation stay in the WAL), a committed one that spilled
// (rewritten frames and checksums), and a key-slot change.
Acked run_workload(store::Connection& c) {
  Acked a;
  auto txn = [&](int rows, int len) {
    if (a.stopped) return;
    if (insert_txn(c, a.k + 1, rows, len)) {
      ++a.k;
    } else {
      a.stopped = true;
    }
  };
  auto exec = [&](const char* sql) {
    if (!a.stopped && !c.exec(sql).ok()) a.stopped = true;
  };
  exec("PRAGMA wal_autocheckpoint=0");
  txn(3, 100);
  txn(2, 9000);  // overflow pages
  if (!a.stopped) {
    if (update_txn(c, a.k + 1)) {
      ++a.k;
    } else {
      a.stopped = true;
    }
  }
  txn(4, 700);
  exec("PRAGMA wal_checkpoint(PASSIVE)");
  txn(1, 50);
  exec("PRAGMA cache_size=5");
  if (!a.stopped) {
    // Spills frames into the WAL, then rolls them back.
    if (!c.exec("BEGIN IMMEDIATE; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c"
                " WHERE i<60) INSERT INTO t(k, payload) SELECT -1, printf('%.1000c', 'r') FROM c")
             .ok()) {
      a.stopped = true;
    }
    if (!c.exec("ROLLBACK").ok()) a.stopped = true;
  }
  txn(1, 20);  // overwrites the first stale frames only
  txn(60, 1000);  // spills and commits (rewritten frames)
  exec("PRAGMA cache_size=-65536");
  txn(2, 300);
  exec("PRAGMA wal_checkpoint(TRUNCATE)");
  txn(3, 200);
  txn(1, 5000);
  if (!a.stopped) {
    Result<int> idx = store::add_slot(c, {"bob", "", testing::kFast}, Secret::passphrase(kBobPass));
    if (idx.ok()) {
      a.bob_added = true;
    } else {
      a.stopped = true;
      a.cut_slot_change = true;
    }
  }
  txn(2, 100);
  txn(5, 400);
  return a;
}

// Reopens the store through the normal stack and checks it.
void check_after_crash(const std::string& path, const Acked& a) {
  Result<Store> s = Store::open(path, Secret::passphrase(testing::kAlicePass));
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  store::Connection& c = testing::conn(*s);
  CHECK(*c.query_text("PRAGMA ehr_status") == "ok");
  CHECK(*c.query_text("PRAGMA integrity_check") == "ok");
  Result<CheckReport> report = s->check();
  REQUIRE(report.ok());
  if (a.cut_slot_change) {
    // The header copy being written may be torn; the other one is intact
    // (the secrets are checked below).
    CHECK(report->problems.size() <= 1);
    for (const std::string& problem : report->problems) {
      CHECK_MESSAGE(problem.starts_with("header copy "), problem);
    }
  } else {
    CHECK_MESSAGE(report->ok(), (report->ok() ? "" : report->problems.front()));
  }
  std::int64_t last = std::stoll(*c.query_text("SELECT max(k) FROM ledger"));
  CHECK(last >= a.k);
  CHECK(last <= a.k + 1);  // at most the one transaction that was cut
  CHECK(*c.query_text("SELECT count(*) FROM ledger l WHERE l.rows <> "
                      "(SELECT count(*) FROM t WHERE t.k = l.k)") == "0");
  CHECK(*c.query_text("SELECT count(*) FROM t WHERE k NOT IN (SELECT k FROM ledger)") == "0");
  // The update of k = 1 rows is all or nothing, and there iff ledger has 3.
  std::string updated = *c.query_text("SELECT count(*) FROM t WHERE k = 1 AND payload LIKE 'upd%'");
  std::string has3 = *c.query_text("SELECT count(*) FROM ledger WHERE k = 3");
  CHECK(updated == (has3 == "1" ? "3" : "0"));
  // The slot change: bob opens iff it was acknowledged or it reached disk.
  Result<Store> bob = Store::open(path, Secret::passphrase(kBobPass));
  if (a.bob_added) CHECK(bob.ok());
  if (!bob.ok()) CHECK(bob.error().code() == ErrorCode::kAuthFailed);
}

// Puts the store at `path` back to `base`, with no WAL, -shm or journal beside it.
void restore_base(const std::string& path, const std::vector<std::uint8_t>& base) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix);
  testing::write_bytes(path, base);
}

// The fate of each pending write at a power loss, drawn from `seed`: 90%
// applied, 4% lost, 3% torn, 3% garbage.
auto mostly_applied(std::uint32_t seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [rng](const testing::PendingWrite&) {
    std::uint32_t r = (*rng)() % 100;
    return r < 90 ? Fate::kApply : r < 94 ? Fate::kLose : r < 97 ? Fate::kTear : Fate::kGarbage;
  };
}

TEST_SUITE("fault") {

TEST_CASE("a power loss at any sync keeps every acknowledged commit and nothing partial") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  const std::vector<std::uint8_t> base = base_store(dir);
  const std::string path = dir.file("pl.ehr");
  auto fresh = [&] { restore_base(path, base); };

  // Dry run: how many syncs the workload makes.
  fresh();
  fv.reset_pass_through();
  std::uint64_t total_syncs = 0;
  Acked all;
  {
    Result<store::Connection> c = store::open_store_for_testing(
        path, Secret::passphrase(testing::kAlicePass), {}, FaultVfs::kShimName);
    REQUIRE(c.ok());
    all = run_workload(*c);
    REQUIRE_FALSE(all.stopped);
    REQUIRE(all.bob_added);
    total_syncs = fv.syncs();
  }
  CHECK_FALSE(fv.lower_saw(kCanary));
  REQUIRE(total_syncs >= 15);
  check_after_crash(path, all);

  int iterations = 0;
  int cut_txns = 0;  // crashes after which the cut transaction was present
  for (int seed = 1; seed <= seeds(); ++seed) {
    for (std::uint64_t k = 1; k <= total_syncs; ++k) {
      CAPTURE(seed);
      CAPTURE(k);
      fresh();
      PowerLoss p{k, static_cast<std::uint32_t>(seed * 7919 + k), {}};
      // Mostly applied on even seeds: the cut transaction often reaches disk whole.
      if (seed % 2 == 0) p.fate = mostly_applied(p.seed);
      fv.reset(p);
      Acked a;
      {
        Result<store::Connection> c = store::open_store_for_testing(
            path, Secret::passphrase(testing::kAlicePass), {}, FaultVfs::kShimName);
        REQUIRE(c.ok());
        a = run_workload(*c);
      }
      REQUIRE(fv.open_files() == 0);
      CHECK(fv.crashed());
      CHECK(a.stopped);
      CHECK_FALSE(fv.lower_saw(kCanary));
      check_after_crash(path, a);
      {
        Store s = testing::open_test_store(path);
        if (std::stoll(*testing::conn(s).query_text("SELECT max(k) FROM ledger")) > a.k) ++cut_txns;
      }
      ++iterations;
    }
  }
  MESSAGE("power loss: ", iterations, " crashes over ", total_syncs, " syncs; ", cut_txns,
          " times the unacknowledged transaction survived");
}

// Sessions as ehr runs them, one process each: open, one transaction,
// close. A close keeps a WAL of at most kKeepWalBytes as it is (no
// checkpoint), so each session appends to the WAL the last one left; one
// session writes more than that, so its close checkpoints the WAL and voids
// its header (kReuseWalBytes), and the next one starts a new WAL generation
// over the old one's frames. `wal_sizes` gets the
// WAL's size after each session that ran to its end.
Acked run_sessions(const std::string& path, std::vector<std::uintmax_t>* wal_sizes) {
  Acked a;
  // Rows and payload length of each session's transaction; 0 rows: the
  // in-place update of k = 1 (it must be k = 3).
  const std::vector<std::pair<int, int>> sessions = {{3, 100},    {2, 9000}, {0, 0},   {1, 50},
                                                     {100, 3000}, {1, 20},   {4, 700}, {1, 30}};
  for (const auto& [rows, len] : sessions) {
    {
      Result<store::Connection> c = store::open_store_for_testing(
          path, Secret::passphrase(testing::kAlicePass), {}, FaultVfs::kShimName);
      if (!c.ok()) {
        a.stopped = true;
        break;
      }
      bool ok = rows == 0 ? update_txn(*c, a.k + 1) : insert_txn(*c, a.k + 1, rows, len);
      if (!ok) {
        a.stopped = true;
        break;
      }
      ++a.k;
    }
    if (wal_sizes != nullptr) {
      wal_sizes->push_back(
          testing::file_exists(path + "-wal") ? std::filesystem::file_size(path + "-wal") : 0);
    }
  }
  return a;
}

TEST_CASE(
    "a power loss across sessions that keep the WAL between them loses no acknowledged commit") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  const std::vector<std::uint8_t> base = base_store(dir);
  const std::string path = dir.file("sessions.ehr");
  auto fresh = [&] { restore_base(path, base); };

  fresh();
  fv.reset_pass_through();
  std::vector<std::uintmax_t> wal_sizes;
  Acked all = run_sessions(path, &wal_sizes);
  const std::uint64_t total_syncs = fv.syncs();
  REQUIRE_FALSE(all.stopped);
  REQUIRE(wal_sizes.size() == 8);
  // The WAL grows across the first four sessions and the fifth; the fifth's
  // close checkpoints it and keeps the file, which the next sessions
  // overwrite from its start.
  for (std::size_t i = 1; i < 5; ++i) CHECK(wal_sizes[i] > wal_sizes[i - 1]);
  CHECK(wal_sizes[3] <= static_cast<std::uintmax_t>(store::kKeepWalBytes));
  CHECK(wal_sizes[4] > static_cast<std::uintmax_t>(store::kKeepWalBytes));
  for (std::size_t i = 5; i < 8; ++i) CHECK(wal_sizes[i] == wal_sizes[4]);
  CHECK_FALSE(testing::file_exists(path + "-shm"));
  CHECK_FALSE(fv.lower_saw(kCanary));
  check_after_crash(path, all);

  int iterations = 0;
  int headers_lost = 0;
  for (int seed = 1; seed <= seeds(); ++seed) {
    for (std::uint64_t k = 1; k <= total_syncs; ++k) {
      CAPTURE(seed);
      CAPTURE(k);
      fresh();
      PowerLoss p{k, static_cast<std::uint32_t>(seed * 104729 + k), {}};
      if (seed % 2 == 0) p.fate = mostly_applied(p.seed);
      if (seed % 3 == 0) {
        // Every WAL header write still pending is lost: the void the fifth
        // session's close writes unsynced (kReuseWalBytes), and the next
        // generation's header before its sync; the rest mostly applied.
        auto rest = mostly_applied(p.seed);
        p.fate = [rest, &headers_lost](const testing::PendingWrite& w) {
          if (w.path.ends_with("-wal") && w.offset == 0 && w.length == 32) {
            ++headers_lost;
            return Fate::kLose;
          }
          return rest(w);
        };
      }
      fv.reset(p);
      Acked a = run_sessions(path, nullptr);
      REQUIRE(fv.open_files() == 0);
      CHECK(fv.crashed());
      CHECK(a.stopped);
      CHECK_FALSE(fv.lower_saw(kCanary));
      check_after_crash(path, a);
      ++iterations;
    }
  }
  CHECK(headers_lost > 0);
  MESSAGE("power loss across sessions: ", iterations, " crashes over ", total_syncs, " syncs; ", headers_lost,
          " WAL header writes lost");
}

TEST_CASE("a power loss inside a key-slot change leaves the old or the new secrets, never neither") {
  FaultVfs& fv = FaultVfs::get();
  TempDir dir;
  const std::vector<std::uint8_t> base = base_store(dir);
  const std::string path = dir.file("slot.ehr");
  auto fresh = [&] {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    testing::write_bytes(path, base);
  };
  // Which syncs belong to the header update (inactive copy, then mirror).
  fresh();
  fv.reset_pass_through();
  std::uint64_t first = 0, last = 0;
  {
    Result<store::Connection> c = store::open_store_for_testing(
        path, Secret::passphrase(testing::kAlicePass), {}, FaultVfs::kShimName);
    REQUIRE(c.ok());
    first = fv.syncs() + 1;
    REQUIRE(store::change_secret(*c, Secret::passphrase("pw-new"), testing::kFast).ok());
    last = fv.syncs();
  }
  REQUIRE(last - first + 1 == 2);  // one sync after each copy

  const Fate fates[] = {Fate::kApply, Fate::kLose, Fate::kTear, Fate::kGarbage};
  int old_opens = 0, new_opens = 0;
  for (std::uint64_t k = first; k <= last; ++k) {
    for (int variant = 0; variant < 4 + seeds(); ++variant) {
      CAPTURE(k);
      CAPTURE(variant);
      fresh();
      PowerLoss p{k, static_cast<std::uint32_t>(variant), {}};
      if (variant < 4) {
        Fate fixed = fates[variant];
        p.fate = [fixed](const testing::PendingWrite&) { return fixed; };
      }
      fv.reset(p);
      {
        Result<store::Connection> c = store::open_store_for_testing(
            path, Secret::passphrase(testing::kAlicePass), {}, FaultVfs::kShimName);
        REQUIRE(c.ok());
        CHECK_FALSE(store::change_secret(*c, Secret::passphrase("pw-new"), testing::kFast).ok());
      }
      CHECK(fv.crashed());
      Result<Store> old_s = Store::open(path, Secret::passphrase(testing::kAlicePass));
      Result<Store> new_s = Store::open(path, Secret::passphrase("pw-new"));
      CHECK(old_s.ok() != new_s.ok());  // exactly one secret set
      Store& s = old_s.ok() ? *old_s : *new_s;
      if (!old_s.ok() && !new_s.ok()) continue;
      (old_s.ok() ? old_opens : new_opens)++;
      CHECK(testing::query(s, "SELECT count(*) FROM t") == "40");
      Result<CheckReport> r = s.check();
      REQUIRE(r.ok());
      // The copy that was being written may be torn: the other one is intact.
      for (const std::string& problem : r->problems) {
        CHECK_MESSAGE(problem.starts_with("header copy "), problem);
      }
      CHECK(r->problems.size() <= 1);
    }
  }
  // A crash at the first sync with the write applied, or at the second,
  // leaves the new secret; losing the first write leaves the old one.
  CHECK(old_opens > 0);
  CHECK(new_opens > 0);
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
