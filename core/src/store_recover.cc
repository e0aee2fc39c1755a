// recover_store (ehr/store.h): save the evidence, then reopen past a WAL
// anomaly and fold the good part of the log into the database.

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "ehr/files.h"
#include "ehr/store.h"
#include "sqlite_store.h"

namespace ehr {

namespace {

std::string utc_stamp() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Copies the files of the store, as they are, into a new directory.
Result<std::string> save_copies(const std::string& path) {
  namespace fs = std::filesystem;
  std::string dir = fmt::format("{}.recover-{}", path, utc_stamp());
  std::error_code ec;
  if (!fs::create_directory(dir, ec) || ec)
    return Error::cant_create(fmt::format("cannot create {}: {}", dir,
                                          ec ? ec.message() : "it already exists"));
  fs::permissions(dir, fs::perms::owner_all, ec);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string from = path + suffix;
    if (!path_exists(from)) continue;
    std::string to = (fs::path(dir) / fs::path(from).filename()).string();
    fs::copy_file(from, to, ec);
    if (ec) return Error::io_error(fmt::format("cannot copy {} to {}: {}", from, to, ec.message()));
    ::chmod(to.c_str(), 0600);
  }
  return dir;
}

}  // namespace

Result<RecoverReport> recover_store(const std::string& path, const Secret& secret,
                                    const OpenOptions& options) {
  if (!path_exists(path)) return Error::no_input(fmt::format("{}: no such file", path));
  // Authenticate before touching anything: a wrong secret saves nothing.
  OpenOptions probe = options;
  probe.allow_wal_anomaly = true;
  {
    auto check_secret = Store::open(path, secret, probe);
    if (!check_secret.ok() && check_secret.error().is(ErrorCode::kAuthFailed))
      return check_secret.error();
  }
  auto saved = save_copies(path);
  if (!saved.ok()) return saved.error();
  RecoverReport report;
  report.saved_to = *saved;
  auto store = Store::open(path, secret, probe);
  if (!store.ok()) return store.error();
  store::Connection& c = StoreInternal::connection(*store);
  auto status = c.query_text("PRAGMA ehr_status");
  if (!status.ok()) return status.error();
  if (*status != "ok") report.anomaly = *status;
  // Fold what SQLite accepted of the log into the database and empty the
  // log, so the damaged frames are gone and the next open is clean.
  auto ck = c.query_text("PRAGMA wal_checkpoint(TRUNCATE)");
  if (!ck.ok()) return ck.error();
  auto check = store->check();
  if (!check.ok()) return check.error();
  report.check = std::move(*check);
  return report;
}

}  // namespace ehr
