// ehr_bench: the storage benchmark behind `scripts/bench store`.
//
// Runs the same SQL workloads through plain SQLite (the "unix" VFS) and
// through an ehr Store (the "ehrcrypt" shim) in one run, and prints for each
// the wall time of both, the ratio ehr/plain and the peak RSS of both:
//
//   insert      200k inserts of ~350-byte rows (with a unique index on a random
//               id) in 200 transactions, into a new database
//   lookup      100k point lookups through that index on those 200k rows, from
//               a fresh connection (a cold page cache, as every ehr command has)
//   scan        5 full scans of a table 1.5 times the size of the page cache
//   autocommit  3000 single-row transactions into a new database
//               (synchronous=FULL: one WAL fsync each)
//
// Fairness:
//  - Both engines use the connection settings ehr's store applies. They are
//    read back from a probe ehr store, not copied here, so tuning
//    core/src/sqlite_store.cc moves both sides.
//  - Both get the same rows from a fixed seed and run the same statements on
//    the raw sqlite3 handle (StoreInternal::connection), so what differs is
//    the VFS and its 48 reserved bytes per page.
//  - An ehr store uses KdfParams::min_for_testing(): key derivation is not
//    what is measured.
//  - Each (engine, workload) gets a fresh database in its own directory and
//    runs in a forked child; populating runs in an earlier child. So the peak
//    RSS that wait4() reports is that run's alone.
//  - Time excludes opening and includes closing (so the final checkpoint).
//    The files stay in the OS page cache, so reads are CPU-bound; fsync is
//    real, and the parent calls sync() before each timed run so that earlier
//    runs' writeback does not land in it. --json adds each run's CPU time
//    (user + system, from wait4), which other load disturbs far less.
//  - The two sides run alternately, --repeat times each (default 3); each
//    side reports its best (lowest) time and its highest peak. The best run
//    is the one least disturbed by other load and by fsync latency spikes,
//    which only ever add time.
//
// With the `sqlcipher` CLI installed, the same workloads also run as
// generated SQL scripts through it (raw key, so no PBKDF2; 4096-byte pages)
// and, as its baseline, through the `sqlite3` CLI with the same script.
//
// Usage: ehr_bench [--scale X] [--repeat N] [--json] [--dir DIR] [--only WORKLOAD]
//   --scale X  multiplies the workload sizes, except the scan table's (0.1: a
//              quick run); --dir DIR holds the temporary files (default
//              $TMPDIR or /tmp); --only runs one workload.
// Exits 0 after printing the report (whatever the ratios), 64 on a usage
// error, 1 when a run fails.

#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ehr/json.h"
#include "ehr/store.h"
#include "sqlite_store.h"
#include "../support/rng.h"

namespace ehr::bench {
namespace {

constexpr std::uint64_t kSeed = 20240611;
constexpr int kBodyLen = 300;        // + 32-byte id + two integers: ~350-byte rows
constexpr std::int64_t kPerTxn = 1000;
constexpr std::int64_t kPopulatePerTxn = 10000;
constexpr double kScanCacheFactor = 1.5;  // scan table size / page cache size
constexpr double kRowBytes = 350;         // approximate size of a row in the table
constexpr const char* kPassphrase = "bench";
constexpr const char* kSchema =
    "CREATE TABLE rec(id INTEGER PRIMARY KEY, rid TEXT NOT NULL, patient INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE UNIQUE INDEX rec_rid ON rec(rid);";
constexpr const char* kInsertSql = "INSERT INTO rec(rid, patient, ts, body) VALUES(?1, ?2, ?3, ?4)";
constexpr const char* kLookupSql = "SELECT patient, ts, length(body) FROM rec WHERE rid = ?1";
constexpr const char* kScanSql = "SELECT sum(length(body)) FROM rec";

// --- 1. rows ------------------------------------------------------------------

using ehr::testing::mix;

struct Row {
  std::array<char, 32> rid;  // 32 hex digits, unique per row index
  std::int64_t patient;
  std::int64_t ts;
  std::string_view body;     // kBodyLen characters, no quotes
};

// Row i of every database, the same on every engine and in every run.
class RowGen {
 public:
  explicit RowGen(std::uint64_t seed) : seed_(seed) {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789 ,.-:";
    pool_.resize(64 * 1024);
    std::uint64_t s = seed;
    for (char& c : pool_) {
      s = mix(s);
      c = kAlphabet[s % (sizeof(kAlphabet) - 1)];
    }
  }

  Row row(std::uint64_t i) const {
    // seed + 2i are distinct and mix is a bijection, so h1 (and rid) is unique.
    std::uint64_t h1 = mix(seed_ + 2 * i);
    std::uint64_t h2 = mix(seed_ + 2 * i + 1);
    static constexpr char kHex[] = "0123456789abcdef";
    Row r{};
    for (int k = 0; k < 16; ++k) {
      r.rid[k] = kHex[(h1 >> (4 * k)) & 15];
      r.rid[16 + k] = kHex[(h2 >> (4 * k)) & 15];
    }
    r.patient = static_cast<std::int64_t>(h2 % 5000);
    r.ts = 1'600'000'000 + static_cast<std::int64_t>(i) * 17 +
           static_cast<std::int64_t>((h2 >> 40) % 17);
    std::size_t off = (h2 >> 8) % (pool_.size() - kBodyLen);
    r.body = std::string_view(pool_).substr(off, kBodyLen);
    return r;
  }

  // The row index of lookup k among `rows` rows.
  std::uint64_t lookup_index(std::uint64_t k, std::uint64_t rows) const {
    return mix(~seed_ ^ (k * 0x2545f4914f6cdd1dull)) % rows;
  }

 private:
  std::uint64_t seed_;
  std::string pool_;
};

// --- 2. SQLite helpers ------------------------------------------------------------

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw std::runtime_error(msg);
}

void exec(sqlite3* db, const std::string& sql) {
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(db, rc, sql);
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) fail(db, rc, sql);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  void text(int i, std::string_view s) {
    check(sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC));
  }
  void integer(int i, std::int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  // True when a row is available.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, sqlite3_sql(stmt_));
  }
  void reset() { sqlite3_reset(stmt_); }
  std::int64_t column(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::string column_text(int i) const {
    const unsigned char* t = sqlite3_column_text(stmt_, i);
    return t == nullptr ? "" : reinterpret_cast<const char*>(t);
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "bind");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Column 0 of the first row of `sql` as text ("" when there is none).
std::string text_of(sqlite3* db, const std::string& sql) {
  Stmt st(db, sql.c_str());
  return st.step() ? st.column_text(0) : "";
}

std::int64_t int_of(sqlite3* db, const std::string& sql) {
  Stmt st(db, sql.c_str());
  return st.step() ? st.column(0) : 0;
}

// --- 3. settings and engines ------------------------------------------------------

// The connection settings ehr's store applies, as read back from one.
struct Settings {
  std::string journal_mode;
  std::int64_t synchronous = 0;
  std::int64_t temp_store = 0;
  std::int64_t cache_size = 0;
  std::int64_t cell_size_check = 0;
  std::int64_t trusted_schema = 0;
  std::int64_t wal_autocheckpoint = 0;
  std::int64_t journal_size_limit = 0;
  std::int64_t cache_spill = 0;
  std::int64_t mmap_size = 0;
  std::int64_t page_size = 0;

  // The page cache's budget in bytes (cache_size < 0 is KiB, > 0 pages).
  std::int64_t cache_bytes() const {
    return cache_size < 0 ? -cache_size * 1024 : cache_size * page_size;
  }

  // The pragmas that give a plain connection these settings.
  std::string pragmas() const {
    std::string s = "PRAGMA temp_store=" + std::to_string(temp_store) +
                    ";PRAGMA journal_mode=" + journal_mode +
                    ";PRAGMA synchronous=" + std::to_string(synchronous) +
                    ";PRAGMA cell_size_check=" + std::to_string(cell_size_check) +
                    ";PRAGMA trusted_schema=" + std::to_string(trusted_schema) +
                    ";PRAGMA cache_size=" + std::to_string(cache_size) +
                    ";PRAGMA wal_autocheckpoint=" + std::to_string(wal_autocheckpoint) +
                    ";PRAGMA journal_size_limit=" + std::to_string(journal_size_limit) +
                    ";PRAGMA cache_spill=" + std::to_string(cache_spill) +
                    ";PRAGMA mmap_size=" + std::to_string(mmap_size) + ";";
    return s;
  }

  std::string describe() const {
    return "journal_mode=" + journal_mode + " synchronous=" + std::to_string(synchronous) +
           " temp_store=" + std::to_string(temp_store) +
           " cache_size=" + std::to_string(cache_size) + " (" +
           std::to_string(cache_bytes() >> 20) + " MiB) wal_autocheckpoint=" +
           std::to_string(wal_autocheckpoint) + " cell_size_check=" +
           std::to_string(cell_size_check) + " mmap_size=" + std::to_string(mmap_size) +
           " page_size=" + std::to_string(page_size);
  }
};

enum class Engine { kPlain, kEhr };
const char* engine_name(Engine e) { return e == Engine::kPlain ? "plain" : "ehr"; }

// One open database of either engine. Closing is explicit (it is timed) and
// also happens on destruction.
class Db {
 public:
  // Creates `path` (create) or opens it. Plain connections get `settings`;
  // an ehr store applies its own.
  Db(Engine engine, const std::string& path, const Settings& settings, bool create) {
    if (engine == Engine::kEhr) {
      Secret secret = Secret::passphrase(kPassphrase);
      Result<Store> s =
          create ? Store::create(path, {"bench", "bench", KdfParams::min_for_testing()}, secret)
                 : Store::open(path, secret);
      if (!s.ok()) throw std::runtime_error(s.error().message());
      store_.emplace(std::move(s).value());
      db_ = StoreInternal::connection(*store_).handle();
      return;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, "unix");
    if (rc != SQLITE_OK) {
      std::string msg = path + ": " + sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw std::runtime_error(msg);
    }
    plain_ = true;
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    if (create) exec(db_, "PRAGMA page_size=" + std::to_string(settings.page_size));
    exec(db_, settings.pragmas());
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() {
    if (plain_ && db_ != nullptr) sqlite3_close_v2(db_);
  }

  sqlite3* handle() const { return db_; }

  void close() {
    sqlite3* db = std::exchange(db_, nullptr);
    if (plain_ && db != nullptr) {
      if (int rc = sqlite3_close_v2(db); rc != SQLITE_OK) fail(nullptr, rc, "close");
    }
    store_.reset();
  }

 private:
  bool plain_ = false;
  sqlite3* db_ = nullptr;
  std::optional<Store> store_;
};

// Reads the settings of an ehr store created at `path`.
Settings probe_settings(const std::string& path) {
  Db db(Engine::kEhr, path, Settings{}, true);
  sqlite3* h = db.handle();
  Settings s;
  s.journal_mode = text_of(h, "PRAGMA journal_mode");
  s.synchronous = int_of(h, "PRAGMA synchronous");
  s.temp_store = int_of(h, "PRAGMA temp_store");
  s.cache_size = int_of(h, "PRAGMA cache_size");
  s.cell_size_check = int_of(h, "PRAGMA cell_size_check");
  s.trusted_schema = int_of(h, "PRAGMA trusted_schema");
  s.wal_autocheckpoint = int_of(h, "PRAGMA wal_autocheckpoint");
  s.journal_size_limit = int_of(h, "PRAGMA journal_size_limit");
  s.cache_spill = int_of(h, "PRAGMA cache_spill");
  s.mmap_size = int_of(h, "PRAGMA mmap_size");
  s.page_size = int_of(h, "PRAGMA page_size");
  return s;
}

// --- 4. workloads ----------------------------------------------------------------

struct Sizes {
  std::int64_t rows = 0;         // insert and lookup table
  std::int64_t lookups = 0;
  std::int64_t scan_rows = 0;
  std::int64_t scan_passes = 0;
  std::int64_t autocommits = 0;
};

enum class Workload { kInsert, kLookup, kScan, kAutocommit };
constexpr std::array<Workload, 4> kWorkloads = {Workload::kInsert, Workload::kLookup,
                                                Workload::kScan, Workload::kAutocommit};

const char* workload_name(Workload w) {
  switch (w) {
    case Workload::kInsert: return "insert";
    case Workload::kLookup: return "lookup";
    case Workload::kScan: return "scan";
    case Workload::kAutocommit: return "autocommit";
  }
  return "?";
}

// What a child reports back through its pipe. Plain data only.
struct Outcome {
  bool ok = false;
  double seconds = 0;
  std::uint64_t ops = 0;
  std::uint64_t check = 0;      // result checksum: must agree across engines
  std::int64_t table_bytes = 0;  // size of table rec (setup of scan)
  char error[400] = {};
};

struct Context {
  Settings settings;
  Sizes sizes;
  const RowGen* gen = nullptr;
};

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Inserts rows [first, first + count); per_txn == 1 means autocommit.
void insert_rows(sqlite3* db, const RowGen& gen, std::int64_t first, std::int64_t count,
                 std::int64_t per_txn) {
  Stmt ins(db, kInsertSql);
  for (std::int64_t i = first; i < first + count;) {
    std::int64_t end = std::min(first + count, i + per_txn);
    if (per_txn > 1) exec(db, "BEGIN");
    for (; i < end; ++i) {
      Row r = gen.row(static_cast<std::uint64_t>(i));
      ins.text(1, std::string_view(r.rid.data(), r.rid.size()));
      ins.integer(2, r.patient);
      ins.integer(3, r.ts);
      ins.text(4, r.body);
      ins.step();
      ins.reset();
    }
    if (per_txn > 1) exec(db, "COMMIT");
  }
}

// Populates the database a measured run will open (not timed).
Outcome setup(Engine e, const std::string& path, Workload w, const Context& cx) {
  Outcome out;
  Db db(e, path, cx.settings, true);
  exec(db.handle(), kSchema);
  std::int64_t rows = w == Workload::kScan ? cx.sizes.scan_rows : cx.sizes.rows;
  insert_rows(db.handle(), *cx.gen, 0, rows, kPopulatePerTxn);
  if (w == Workload::kScan) {
    out.table_bytes =
        int_of(db.handle(), "SELECT sum(pgsize) FROM dbstat('main', 1) WHERE name = 'rec'");
  }
  db.close();
  out.ok = true;
  return out;
}

Outcome measure(Engine e, const std::string& path, Workload w, const Context& cx) {
  Outcome out;
  const bool fresh = w == Workload::kInsert || w == Workload::kAutocommit;
  Db db(e, path, cx.settings, fresh);
  if (fresh) exec(db.handle(), kSchema);
  Clock::time_point t0 = Clock::now();
  switch (w) {
    case Workload::kInsert:
      insert_rows(db.handle(), *cx.gen, 0, cx.sizes.rows, kPerTxn);
      out.ops = static_cast<std::uint64_t>(cx.sizes.rows);
      break;
    case Workload::kAutocommit:
      insert_rows(db.handle(), *cx.gen, 0, cx.sizes.autocommits, 1);
      out.ops = static_cast<std::uint64_t>(cx.sizes.autocommits);
      break;
    case Workload::kLookup: {
      Stmt q(db.handle(), kLookupSql);
      for (std::int64_t k = 0; k < cx.sizes.lookups; ++k) {
        std::uint64_t i = cx.gen->lookup_index(static_cast<std::uint64_t>(k),
                                               static_cast<std::uint64_t>(cx.sizes.rows));
        Row r = cx.gen->row(i);
        q.text(1, std::string_view(r.rid.data(), r.rid.size()));
        if (!q.step()) throw std::runtime_error("lookup found no row");
        out.check += static_cast<std::uint64_t>(q.column(0) + q.column(1) + q.column(2));
        q.reset();
      }
      out.ops = static_cast<std::uint64_t>(cx.sizes.lookups);
      break;
    }
    case Workload::kScan: {
      Stmt q(db.handle(), kScanSql);
      for (std::int64_t p = 0; p < cx.sizes.scan_passes; ++p) {
        if (!q.step()) throw std::runtime_error("scan returned no row");
        out.check += static_cast<std::uint64_t>(q.column(0));
        q.reset();
      }
      out.ops = static_cast<std::uint64_t>(cx.sizes.scan_passes);
      break;
    }
  }
  db.close();
  out.seconds = since(t0);
  out.ok = true;
  return out;
}

// --- 5. child processes --------------------------------------------------------------

struct Run {
  Outcome out;
  double peak_mib = 0;  // ru_maxrss of the child
  double cpu_s = 0;     // user + system time of the whole child, opening included
};

double cpu_seconds(const struct rusage& ru) {
  auto s = [](const struct timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// Runs `fn` in a forked child; its peak RSS comes from wait4.
Run run_in_child(const std::function<Outcome()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    Outcome o;
    try {
      o = fn();
    } catch (const std::exception& e) {
      o.ok = false;
      std::snprintf(o.error, sizeof(o.error), "%s", e.what());
    }
    const char* p = reinterpret_cast<const char*>(&o);
    std::size_t left = sizeof(o);
    while (left > 0) {
      ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) ::_exit(2);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  Run run;
  char* p = reinterpret_cast<char*>(&run.out);
  std::size_t got = 0;
  while (got < sizeof(run.out)) {
    ssize_t n = ::read(fds[0], p + got, sizeof(run.out) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  struct rusage ru {};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  run.peak_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  run.cpu_s = cpu_seconds(ru);
  if (got != sizeof(run.out) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    run.out = Outcome{};
    std::snprintf(run.out.error, sizeof(run.out.error), "child died (status %d)", status);
  }
  return run;
}

struct CommandRun {
  double seconds = 0;
  double peak_mib = 0;
  double cpu_s = 0;
  int status = 0;
};

// Runs argv with stdin from `in`, stdout to `out` and stderr to `err`.
CommandRun run_command(const std::vector<std::string>& argv, const std::string& in,
                       const std::string& out, const std::string& err) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);
  Clock::time_point t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int i = ::open(in.c_str(), O_RDONLY);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (i < 0 || o < 0 || e < 0) ::_exit(126);
    ::dup2(i, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  CommandRun r;
  struct rusage ru {};
  while (::wait4(pid, &r.status, 0, &ru) < 0 && errno == EINTR) {
  }
  r.seconds = since(t0);
  r.peak_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  r.cpu_s = cpu_seconds(ru);
  return r;
}

// --- 6. the sqlcipher peer -------------------------------------------------------

// The absolute path of `name` on $PATH, if it is there.
std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/bin:/bin";
  while (!rest.empty()) {
    std::size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string read_text(const std::string& path) {
  std::string out;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

// A command-line shell (sqlite3 or sqlcipher) fed generated SQL scripts.
struct Shell {
  std::string name;
  std::string path;
  bool cipher = false;
  std::string version;  // of its SQLite, from -version
};

// Writes SQL for a shell; throws on I/O errors.
class Script {
 public:
  explicit Script(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (f_ == nullptr) throw std::runtime_error(path + ": cannot create");
  }
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;
  ~Script() {
    if (f_ != nullptr) std::fclose(f_);
  }

  Script& operator<<(std::string_view s) {
    if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) throw std::runtime_error(path_ + ": write");
    return *this;
  }

  // The key (raw, so no PBKDF2: KDF cost is not what is measured), the page
  // size ehr uses, then ehr's connection settings.
  void prelude(const Shell& shell, const Settings& s) {
    if (shell.cipher) {
      *this << "PRAGMA key = \"x'" << std::string(64, 'a') << "'\";\n"
            << "PRAGMA cipher_page_size = " << std::to_string(s.page_size) << ";\n";
    } else {
      *this << "PRAGMA page_size = " << std::to_string(s.page_size) << ";\n";
    }
    *this << s.pragmas() << "\n";
  }

  void insert(const Row& r) {
    *this << "INSERT INTO rec(rid, patient, ts, body) VALUES('"
          << std::string_view(r.rid.data(), r.rid.size()) << "'," << std::to_string(r.patient)
          << "," << std::to_string(r.ts) << ",'" << r.body << "');\n";
  }

  void rows(const RowGen& gen, std::int64_t count, std::int64_t per_txn) {
    for (std::int64_t i = 0; i < count;) {
      std::int64_t end = std::min(count, i + per_txn);
      if (per_txn > 1) *this << "BEGIN;\n";
      for (; i < end; ++i) insert(gen.row(static_cast<std::uint64_t>(i)));
      if (per_txn > 1) *this << "COMMIT;\n";
    }
  }

  void close() {
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      throw std::runtime_error(path_ + ": write");
    }
    f_ = nullptr;
  }

 private:
  std::string path_;
  FILE* f_;
};

// Writes the scripts of one workload for `shell` into `dir`: setup.sql
// (schema, and the rows a lookup or scan reads) and measure.sql (timed).
void write_scripts(const Shell& shell, const std::string& dir, Workload w, const Context& cx) {
  Script setup(dir + "/setup.sql");
  setup.prelude(shell, cx.settings);
  setup << kSchema << "\n";
  if (w == Workload::kLookup) setup.rows(*cx.gen, cx.sizes.rows, kPopulatePerTxn);
  if (w == Workload::kScan) setup.rows(*cx.gen, cx.sizes.scan_rows, kPopulatePerTxn);
  setup.close();

  Script m(dir + "/measure.sql");
  m.prelude(shell, cx.settings);
  switch (w) {
    case Workload::kInsert:
      m.rows(*cx.gen, cx.sizes.rows, kPerTxn);
      break;
    case Workload::kAutocommit:
      m.rows(*cx.gen, cx.sizes.autocommits, 1);
      break;
    case Workload::kLookup:
      for (std::int64_t k = 0; k < cx.sizes.lookups; ++k) {
        Row r = cx.gen->row(cx.gen->lookup_index(static_cast<std::uint64_t>(k),
                                                 static_cast<std::uint64_t>(cx.sizes.rows)));
        m << "SELECT patient, ts, length(body) FROM rec WHERE rid = '"
          << std::string_view(r.rid.data(), r.rid.size()) << "';\n";
      }
      break;
    case Workload::kScan:
      for (std::int64_t p = 0; p < cx.sizes.scan_passes; ++p) m << kScanSql << ";\n";
      break;
  }
  m.close();
}

// Runs `script` through `shell` on dir/db; throws when the shell fails.
Run run_script(const Shell& shell, const std::string& dir, const std::string& script) {
  const std::string err = dir + "/stderr";
  CommandRun c = run_command({shell.path, "-bail", dir + "/db"}, dir + "/" + script, "/dev/null",
                             err);
  if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
    throw std::runtime_error(shell.name + " failed on " + script + ": " + read_text(err));
  }
  Run r;
  r.out.ok = true;
  r.out.seconds = c.seconds;
  r.peak_mib = c.peak_mib;
  r.cpu_s = c.cpu_s;
  return r;
}

std::string shell_version(const Shell& shell, const std::string& dir) {
  std::string out = dir + "/version";
  CommandRun r = run_command({shell.path, "-version"}, "/dev/null", out, "/dev/null");
  std::string v = read_text(out);
  std::filesystem::remove(out);
  if (r.status != 0 || v.empty()) return "unknown";
  return v.substr(0, v.find(' '));
}

// --- 7. comparisons --------------------------------------------------------------

struct Options {
  double scale = 1.0;
  int repeat = 3;
  bool json = false;
  std::string dir;
  std::optional<Workload> only;
};

// One side of a comparison: its name, how to get its database ready before
// a timed run (untimed; `first` on the first run), and the timed run.
struct Side {
  std::string name;
  std::function<void(bool first)> prepare;
  std::function<Run()> measure;
};

struct Comparison {
  Workload workload;
  std::string description;
  std::uint64_t ops = 0;
  Run a;  // plain, or the sqlite3 shell: the best run, with the highest peak
  Run b;  // ehr, or sqlcipher
  double ratio() const { return a.out.seconds > 0 ? b.out.seconds / a.out.seconds : 0; }
};

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

void progress(const std::string& line) { std::fprintf(stderr, "ehr_bench: %s\n", line.c_str()); }

// The fastest run, carrying the highest peak of all runs.
Run best(const std::vector<Run>& runs) {
  Run b = *std::min_element(runs.begin(), runs.end(), [](const Run& x, const Run& y) {
    return x.out.seconds < y.out.seconds;
  });
  for (const Run& r : runs) b.peak_mib = std::max(b.peak_mib, r.peak_mib);
  return b;
}

// Runs a and b alternately `repeat` times each; each side's result is its
// best run. Throws when a run fails or the sides disagree on the results.
Comparison compare(Workload w, Side& a, Side& b, int repeat) {
  std::vector<Run> runs[2];
  for (int rep = 0; rep < repeat; ++rep) {
    int k = 0;
    for (Side* side : {&a, &b}) {
      std::string label = std::string(workload_name(w)) + " " + side->name;
      if (rep == 0) progress(label + ": preparing");
      side->prepare(rep == 0);
      // Write back what earlier runs left dirty, so that their writeback
      // does not slow this run's fsyncs.
      ::sync();
      Run r = side->measure();
      if (!r.out.ok) throw std::runtime_error(label + ": " + r.out.error);
      progress(label + ": " + fixed(r.out.seconds, 3) + " s (cpu " + fixed(r.cpu_s, 3) +
               " s), peak " + fixed(r.peak_mib, 1) + " MiB");
      if (!runs[0].empty() && r.out.check != runs[0].front().out.check) {
        throw std::runtime_error(label + ": results differ from " + a.name + "'s");
      }
      runs[k++].push_back(r);
    }
  }
  Comparison c;
  c.workload = w;
  c.a = best(runs[0]);
  c.b = best(runs[1]);
  c.ops = c.a.out.ops;
  return c;
}

// Removes dir's database files, so the next run starts from nothing.
void clear_dir(const std::string& dir) {
  for (const char* f : {"/db", "/db-wal", "/db-shm", "/db-journal"}) {
    std::filesystem::remove(dir + f);
  }
}

bool is_fresh(Workload w) { return w == Workload::kInsert || w == Workload::kAutocommit; }

Side engine_side(Engine e, Workload w, const std::string& dir, const Context& cx,
                 std::int64_t* table_bytes) {
  std::filesystem::create_directory(dir);
  const std::string path = dir + "/db";
  Side s;
  s.name = engine_name(e);
  s.prepare = [=, &cx](bool first) {
    if (is_fresh(w)) {
      clear_dir(dir);
    } else if (first) {
      Run r = run_in_child([&] { return setup(e, path, w, cx); });
      if (!r.out.ok) {
        throw std::runtime_error(std::string(engine_name(e)) + " setup: " + r.out.error);
      }
      *table_bytes = std::max(*table_bytes, r.out.table_bytes);
    }
  };
  s.measure = [=, &cx] { return run_in_child([&] { return measure(e, path, w, cx); }); };
  return s;
}

Side shell_side(const Shell& shell, Workload w, const std::string& dir, const Context& cx) {
  std::filesystem::create_directory(dir);
  write_scripts(shell, dir, w, cx);
  Side s;
  s.name = shell.name;
  s.prepare = [=](bool first) {
    if (is_fresh(w) || first) {
      clear_dir(dir);
      run_script(shell, dir, "setup.sql");
    }
  };
  s.measure = [=] { return run_script(shell, dir, "measure.sql"); };
  return s;
}

// --- 8. the report ------------------------------------------------------------------

constexpr double kTargetRatio = 1.3;

double round_to(double v, int digits) {
  double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

void print_table(const std::vector<Comparison>& rows, const std::string& a, const std::string& b) {
  std::printf("%-11s %-38s %11s %11s %6s %13s %13s\n", "workload", "what", (a + " s").c_str(),
              (b + " s").c_str(), "ratio", (a + " MiB").c_str(), (b + " MiB").c_str());
  for (const Comparison& r : rows) {
    std::printf("%-11s %-38s %11.3f %11.3f %6.2f %13.1f %13.1f\n", workload_name(r.workload),
                r.description.c_str(), r.a.out.seconds, r.b.out.seconds, r.ratio(), r.a.peak_mib,
                r.b.peak_mib);
  }
}

Json rows_json(const std::vector<Comparison>& rows, const std::string& a, const std::string& b) {
  Json list = Json::array();
  for (const Comparison& r : rows) {
    Json o = Json::object();
    o.set("name", Json::string(workload_name(r.workload)));
    o.set("description", Json::string(r.description));
    o.set("ops", Json::number(static_cast<std::int64_t>(r.ops)));
    o.set(a + "_s", Json::number(round_to(r.a.out.seconds, 4)));
    o.set(b + "_s", Json::number(round_to(r.b.out.seconds, 4)));
    o.set("ratio", Json::number(round_to(r.ratio(), 3)));
    o.set(a + "_peak_mib", Json::number(round_to(r.a.peak_mib, 1)));
    o.set(b + "_peak_mib", Json::number(round_to(r.b.peak_mib, 1)));
    o.set(a + "_cpu_s", Json::number(round_to(r.a.cpu_s, 3)));
    o.set(b + "_cpu_s", Json::number(round_to(r.b.cpu_s, 3)));
    list.push_back(std::move(o));
  }
  return list;
}

std::string describe(Workload w, const Sizes& z, std::int64_t table_bytes) {
  switch (w) {
    case Workload::kInsert:
      return std::to_string(z.rows) + " inserts in " + std::to_string(z.rows / kPerTxn) + " txns";
    case Workload::kLookup:
      return std::to_string(z.lookups) + " lookups among " + std::to_string(z.rows) + " rows";
    case Workload::kScan:
      return std::to_string(z.scan_passes) + (z.scan_passes == 1 ? " scan of " : " scans of ") +
             std::to_string(z.scan_rows) + " rows (" + std::to_string(table_bytes >> 20) +
             " MiB)";
    case Workload::kAutocommit:
      return std::to_string(z.autocommits) + " autocommit inserts";
  }
  return "";
}

struct Report {
  Options options;
  Settings settings;
  std::vector<Comparison> engines;
  std::string peer_note;  // why there is no peer table, if there is none
  std::string peer_version, baseline_version;
  std::vector<Comparison> peer;

  // The highest ehr/plain ratio and its workload.
  std::pair<double, std::string> worst() const {
    std::pair<double, std::string> w{0, ""};
    for (const Comparison& c : engines) {
      if (c.ratio() > w.first) w = {c.ratio(), workload_name(c.workload)};
    }
    return w;
  }
};

void print_json(const Report& r) {
  Json doc = Json::object();
  doc.set("benchmark", Json::string("store"));
  doc.set("scale", Json::number(r.options.scale));
  doc.set("repeat", Json::number(static_cast<std::int64_t>(r.options.repeat)));
  doc.set("seed", Json::number(static_cast<std::int64_t>(kSeed)));
  doc.set("sqlite_version", Json::string(sqlite3_libversion()));
  Json settings = Json::object();
  settings.set("journal_mode", Json::string(r.settings.journal_mode));
  settings.set("synchronous", Json::number(r.settings.synchronous));
  settings.set("temp_store", Json::number(r.settings.temp_store));
  settings.set("cache_size", Json::number(r.settings.cache_size));
  settings.set("wal_autocheckpoint", Json::number(r.settings.wal_autocheckpoint));
  settings.set("cell_size_check", Json::number(r.settings.cell_size_check));
  settings.set("mmap_size", Json::number(r.settings.mmap_size));
  settings.set("page_size", Json::number(r.settings.page_size));
  doc.set("settings", std::move(settings));
  doc.set("workloads", rows_json(r.engines, "plain", "ehr"));
  doc.set("target_ratio", Json::number(kTargetRatio));
  doc.set("max_ratio", Json::number(round_to(r.worst().first, 3)));
  Json p = Json::object();
  p.set("name", Json::string("sqlcipher"));
  p.set("ran", Json::boolean(r.peer_note.empty()));
  if (!r.peer_note.empty()) p.set("note", Json::string(r.peer_note));
  if (!r.peer.empty()) {
    p.set("sqlite_version", Json::string(r.peer_version));
    p.set("baseline", Json::string("sqlite3 shell " + r.baseline_version));
    p.set("workloads", rows_json(r.peer, "sqlite3", "sqlcipher"));
  }
  doc.set("peer", std::move(p));
  std::printf("%s\n", to_json_pretty(doc).c_str());
}

void print_text(const Report& r) {
  std::printf("ehr store benchmark: scale %s, best of %d runs, seed %llu, SQLite %s\n",
              fixed(r.options.scale, 2).c_str(), r.options.repeat,
              static_cast<unsigned long long>(kSeed), sqlite3_libversion());
  std::printf("settings (both engines): %s\n\n", r.settings.describe().c_str());
  print_table(r.engines, "plain", "ehr");
  auto [ratio, name] = r.worst();
  std::printf("\ntarget: no ratio above %.2f; highest: %.2f (%s)\n", kTargetRatio, ratio,
              name.c_str());
  if (!r.peer_note.empty()) {
    std::printf("\n%s\n", r.peer_note.c_str());
  } else if (!r.peer.empty()) {
    std::printf("\npeer: the sqlcipher shell (SQLite %s) against the sqlite3 shell (SQLite %s),"
                " same SQL scripts:\n\n",
                r.peer_version.c_str(), r.baseline_version.c_str());
    print_table(r.peer, "sqlite3", "sqlcipher");
  }
}

// --- 9. main ---------------------------------------------------------------------

constexpr const char* kUsage =
    "usage: ehr_bench [--scale X] [--repeat N] [--json] [--dir DIR]\n"
    "                 [--only insert|lookup|scan|autocommit]\n";

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    std::string v = argv[++i];
    char* end = nullptr;
    if (arg == "--scale") {
      o.scale = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(o.scale > 0) || o.scale > 100) return std::nullopt;
    } else if (arg == "--repeat") {
      long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 1 || n > 100) return std::nullopt;
      o.repeat = static_cast<int>(n);
    } else if (arg == "--dir") {
      o.dir = v;
    } else if (arg == "--only") {
      for (Workload w : kWorkloads) {
        if (v == workload_name(w)) o.only = w;
      }
      if (!o.only) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  return o;
}

int run_benchmark(const Options& opt) {
  std::string base = opt.dir;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = t != nullptr && *t != '\0' ? t : "/tmp";
  }
  std::string pattern = base + "/ehr-bench-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error(pattern + ": cannot create a directory");
  }
  const std::string root = buf.data();
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{root};

  RowGen gen(kSeed);
  Context cx;
  cx.gen = &gen;
  cx.settings = probe_settings(root + "/probe.ehr");
  auto scaled = [&](double n) { return std::max<std::int64_t>(1, std::llround(n * opt.scale)); };
  cx.sizes.rows = scaled(200000.0 / kPerTxn) * kPerTxn;
  cx.sizes.lookups = scaled(100000);
  // Not scaled: the table must stay larger than the page cache.
  cx.sizes.scan_rows = static_cast<std::int64_t>(
      std::ceil(kScanCacheFactor * static_cast<double>(cx.settings.cache_bytes()) / kRowBytes));
  cx.sizes.scan_passes = scaled(5);
  cx.sizes.autocommits = scaled(3000);
  progress("settings (read from an ehr store, applied to plain): " + cx.settings.describe());
  progress("files in " + root);

  Report report;
  report.options = opt;
  report.settings = cx.settings;
  std::vector<std::int64_t> table_bytes(kWorkloads.size(), 0);
  for (std::size_t i = 0; i < kWorkloads.size(); ++i) {
    Workload w = kWorkloads[i];
    if (opt.only && *opt.only != w) continue;
    std::string stem = root + "/" + workload_name(w) + "-";
    Side plain = engine_side(Engine::kPlain, w, stem + "plain", cx, &table_bytes[i]);
    Side ehr = engine_side(Engine::kEhr, w, stem + "ehr", cx, &table_bytes[i]);
    Comparison c = compare(w, plain, ehr, opt.repeat);
    c.description = describe(w, cx.sizes, table_bytes[i]);
    report.engines.push_back(c);
    std::filesystem::remove_all(stem + "plain");
    std::filesystem::remove_all(stem + "ehr");
  }

  // The peer: sqlcipher against the sqlite3 shell, both fed the same scripts.
  std::optional<std::string> sqlcipher = find_program("sqlcipher");
  std::optional<std::string> sqlite3_shell = find_program("sqlite3");
  if (!sqlcipher) {
    report.peer_note = "sqlcipher: not installed (apt-get install sqlcipher)";
  } else if (!sqlite3_shell) {
    report.peer_note = "sqlcipher: skipped; its baseline, the sqlite3 shell, is not installed";
  } else {
    Shell base_shell{"sqlite3", *sqlite3_shell, false, ""};
    Shell cipher_shell{"sqlcipher", *sqlcipher, true, ""};
    report.baseline_version = shell_version(base_shell, root);
    report.peer_version = shell_version(cipher_shell, root);
    for (std::size_t i = 0; i < kWorkloads.size(); ++i) {
      Workload w = kWorkloads[i];
      if (opt.only && *opt.only != w) continue;
      std::string stem = root + "/" + workload_name(w) + "-";
      Side a = shell_side(base_shell, w, stem + "sqlite3", cx);
      Side b = shell_side(cipher_shell, w, stem + "sqlcipher", cx);
      Comparison c = compare(w, a, b, opt.repeat);
      c.description = describe(w, cx.sizes, table_bytes[i]);
      report.peer.push_back(c);
      std::filesystem::remove_all(stem + "sqlite3");
      std::filesystem::remove_all(stem + "sqlcipher");
    }
  }

  if (opt.json) {
    print_json(report);
  } else {
    print_text(report);
  }
  return 0;
}

}  // namespace
}  // namespace ehr::bench

int main(int argc, char** argv) {
  std::optional<ehr::bench::Options> opt = ehr::bench::parse_options(argc, argv);
  if (!opt) {
    std::fputs(ehr::bench::kUsage, stderr);
    return 64;
  }
  try {
    return ehr::bench::run_benchmark(*opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ehr_bench: %s\n", e.what());
    return 1;
  }
}
