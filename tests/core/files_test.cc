// Exclusive atomic file creation (core/src/files.cc).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

}
