// Exclusive atomic file creation (core/src/files.cc).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ehr/files.h"
#include "support/temp_dir.h"

TEST_SUITE("files") {

TEST_CASE("creates a file with the requested mode and content") {
  ehr::testing::TempDir dir;
  std::string p = dir.file("key");
  REQUIRE(ehr::write_new_file(p, "secret\n", 0600).ok());
  struct stat st;
  REQUIRE(stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  CHECK(ss.str() == "secret\n");
  // Only the file itself is left: no temporary sibling.
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n;
  CHECK(n == 1);
}

TEST_CASE("never replaces an existing file") {
  ehr::testing::TempDir dir;
  std::string p = dir.write("key", "old");
  auto s = ehr::write_new_file(p, "new");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == ehr::ErrorCode::kAlreadyExists);
  CHECK(s.error().message() == p + " already exists");
}

TEST_CASE("a missing directory is cannot-create and leaves nothing") {
  ehr::testing::TempDir dir;
  std::string p = dir.file("no/such/dir/key");
  auto s = ehr::write_new_file(p, "x");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == ehr::ErrorCode::kCantCreate);
  CHECK(s.error().message() == "cannot create " + p + ": No such file or directory");
}

TEST_CASE("an atomic file over a directory, or in a missing one, is cannot-create at once") {
  // (ehr import --report DIR: found only at commit, after the import had
  // committed its records.)
  ehr::testing::TempDir dir;
  std::filesystem::create_directory(dir.file("out"));
  auto f = ehr::AtomicFile::create(dir.file("out"));
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code() == ehr::ErrorCode::kCantCreate);
  CHECK(f.error().message() == "cannot create " + dir.file("out") + ": Is a directory");
  auto g = ehr::AtomicFile::create(dir.file("no/such/r.json"));
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().message() == "cannot create " + dir.file("no/such/r.json") + ": No such file or directory");
  // Nothing left beside them.
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++n;
  CHECK(n == 1);
}


// Names in `dir`, sorted.
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : std::filesystem::directory_iterator(dir)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

TEST_CASE("an atomic file removes a killed run's temporary, never a running writer's") {
  // (QA finding: an import killed with SIGKILL left rejects.ndjson.tmp-*,
  // plaintext patient rows, that no later run removed.)
  ehr::testing::TempDir dir;
  std::string p = dir.file("rejects.ndjson");
  { std::ofstream(p + ".tmp-0badc0de") << "left by a killed run\n"; }
  { std::ofstream(p + ".tmp-not-hex!") << "not ours\n"; }
  auto running = ehr::AtomicFile::create(p);  // holds its temporary locked
  REQUIRE(running.ok());
  CHECK(running->removed_stale() == std::vector<std::string>{p + ".tmp-0badc0de"});
  std::vector<std::string> before = names_in(dir.path());
  REQUIRE(before.size() == 2);
  CHECK(before[1] == "rejects.ndjson.tmp-not-hex!");
  auto second = ehr::AtomicFile::create(p);
  REQUIRE(second.ok());
  CHECK(second->removed_stale().empty());
  CHECK(names_in(dir.path()).size() == 3);  // both writers' temporaries and the stranger
  REQUIRE(second->write("b\n").ok());
  REQUIRE(second->commit().ok());
  // write_new_file cleans up the same way.
  std::string key = dir.file("key");
  { std::ofstream(key + ".tmp-12345678") << "x"; }
  REQUIRE(ehr::write_new_file(key, "k").ok());
  CHECK_FALSE(std::filesystem::exists(key + ".tmp-12345678"));
}

}
