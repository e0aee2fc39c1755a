// recover_store: a damaged WAL frame makes open refuse; recover saves the
// evidence and brings the store back with every transaction before the frame.
// recover_store_as_user (ehr/session.h, ehr db recover) does the same after
// authenticating the user.
#include <doctest/doctest.h>

#include <filesystem>

#include "ehr/session.h"
#include "ehr/store.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

// Copies a live store's files (a crash snapshot with a hot WAL).
void snapshot(const std::string& from, const std::string& to) {
  for (const char* s : {"", "-wal"})
    std::filesystem::copy_file(from + s, to + s);
}

void flip_byte(const std::string& path, std::int64_t offset) {
  auto bytes = testing::read_bytes(path);
  REQUIRE(offset < static_cast<std::int64_t>(bytes.size()));
  bytes[static_cast<size_t>(offset)] ^= 0x01;
  testing::write_bytes(path, bytes);
}

TEST_SUITE("store_recover") {

TEST_CASE("a damaged committed WAL frame is refused at open, then recovered with the evidence saved") {
  TempDir dir;
  std::string live = dir.file("live.ehr");
  std::string crashed = dir.file("crashed.ehr");
  Store s = testing::create_test_store(live);
  testing::exec_ok(s, "PRAGMA wal_autocheckpoint=0");
  testing::exec_ok(s, "CREATE TABLE t(x TEXT)");
  testing::exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  testing::exec_ok(s, "INSERT INTO t VALUES('first')");   // frame 1
  testing::exec_ok(s, "INSERT INTO t VALUES('second')");  // frame 2
  testing::exec_ok(s, "INSERT INTO t VALUES('third')");   // frame 3
  snapshot(live, crashed);
  // Damage the page body of frame 2.
  flip_byte(crashed + "-wal", 32 + (4096 + 24) + 24 + 100);

  auto refused = Store::open(crashed, Secret::passphrase(testing::kAlicePass));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == ErrorCode::kCorruption);
  CHECK(refused.error().message().find("the WAL was kept for recovery") != std::string::npos);

  auto wrong = recover_store(crashed, Secret::passphrase("nope"));
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code() == ErrorCode::kAuthFailed);

  auto report = recover_store(crashed, Secret::passphrase(testing::kAlicePass));
  REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message()));
  CHECK_FALSE(report->anomaly.empty());
  CHECK(report->check.ok());
  CHECK(std::filesystem::exists(report->saved_to + "/crashed.ehr"));
  CHECK(std::filesystem::exists(report->saved_to + "/crashed.ehr-wal"));

  Store again = testing::open_test_store(crashed);
  CHECK(testing::query(again, "SELECT group_concat(x) FROM t") == "first");
}

TEST_CASE(
    "recover_store_as_user authenticates past the anomaly first and saves the evidence unchanged") {
  TempDir dir;
  std::string live = dir.file("live.ehr");
  std::string crashed = dir.file("crashed.ehr");
  Store s = testing::create_test_store(live);
  testing::exec_ok(s, "PRAGMA wal_autocheckpoint=0");
  testing::exec_ok(s, "CREATE TABLE t(x TEXT)");
  testing::exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  testing::exec_ok(s, "INSERT INTO t VALUES('first')");
  testing::exec_ok(s, "INSERT INTO t VALUES('second')");  // frame 2, damaged below
  testing::exec_ok(s, "INSERT INTO t VALUES('third')");   // so an anomaly, not a torn tail
  snapshot(live, crashed);
  flip_byte(crashed + "-wal", 32 + (4096 + 24) + 24 + 100);
  const auto damaged_wal = testing::read_bytes(crashed + "-wal");
  OpenOptions o;
  o.user = "alice";

  auto wrong = recover_store_as_user(crashed, Secret::passphrase("nope"), o);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code() == ErrorCode::kAuthFailed);
  CHECK(testing::file_exists(failed_opens_path(crashed)));
  CHECK(testing::read_bytes(crashed + "-wal") == damaged_wal);

  auto report = recover_store_as_user(crashed, Secret::passphrase(testing::kAlicePass), o);
  REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message()));
  CHECK_FALSE(report->anomaly.empty());
  CHECK(report->check.ok());
  CHECK(testing::read_bytes(report->saved_to + "/crashed.ehr-wal") == damaged_wal);
  Store again = testing::open_test_store(crashed);
  CHECK(testing::query(again, "SELECT group_concat(x) FROM t") == "first");
}

TEST_CASE("recovering a healthy store keeps everything and only saves copies") {
  TempDir dir;
  std::string path = dir.file("ok.ehr");
  {
    Store s = testing::create_test_store(path);
    testing::exec_ok(s, "CREATE TABLE t(x TEXT); INSERT INTO t VALUES('a'),('b')");
  }
  auto report = recover_store(path, Secret::passphrase(testing::kAlicePass));
  REQUIRE(report.ok());
  CHECK(report->anomaly.empty());
  CHECK(report->check.ok());
  Store s = testing::open_test_store(path);
  CHECK(testing::query(s, "SELECT group_concat(x) FROM t") == "a,b");
}

}

}  // namespace
}  // namespace ehr
