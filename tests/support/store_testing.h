// Test helpers for the encrypted store: cheap KDF parameters, stores and
// raw ehrcrypt databases with a known key, and one-line SQL helpers.

#ifndef EHR_TESTS_SUPPORT_STORE_TESTING_H_
#define EHR_TESTS_SUPPORT_STORE_TESTING_H_

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "ehr/store.h"
#include "sqlite_store.h"
#include "sqlite_vfs.h"
#include "store_header.h"

namespace ehr::testing {

// libsodium's minimum Argon2id cost: keeps every test fast.
inline const KdfParams kFast = KdfParams::min_for_testing();

inline constexpr const char* kAlicePass = "pw-alice";

// A new store at `path` with one passphrase slot (user alice, kAlicePass).
inline Store create_test_store(const std::string& path) {
  Result<Store> s = Store::create(path, {"alice", "laptop", kFast},
                                  Secret::passphrase(kAlicePass));
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  return std::move(s).value();
}

inline Store open_test_store(const std::string& path, const OpenOptions& o = {}) {
  Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass), o);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  return std::move(s).value();
}

inline store::Connection& conn(Store& s) { return StoreInternal::connection(s); }

// Runs SQL that must succeed.
inline void exec_ok(Store& s, const std::string& sql) {
  Status st = conn(s).exec(sql);
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().message()));
}

// Column 0 of the first row; "<error: message>" on failure.
inline std::string query(Store& s, const std::string& sql) {
  Result<std::string> r = conn(s).query_text(sql);
  return r.ok() ? *r : "<error: " + r.error().message() + ">";
}

inline std::string absolute(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

// --- raw ehrcrypt databases (no ehr pragmas), for VFS-level tests ----------

// A header-only ehr file plus its registered key context.
struct RawDb {
  std::string path;
  std::string handle;
  std::shared_ptr<vfs::KeyContext> ctx;
  store::FileId file_id{};
};

inline RawDb make_raw_db(const std::string& path) {
  REQUIRE(vfs::register_vfs() == SQLITE_OK);
  Result<store::NewHeader> nh = store::new_header({"alice", "", kFast},
                                                  Secret::passphrase("pw"));
  REQUIRE(nh.ok());
  store::Subkeys keys = store::derive_subkeys(nh->dek.span());
  store::CopyBytes copy = store::encode_copy(nh->header, keys.hdr.span());
  store::HeaderBytes bytes{};
  std::memcpy(bytes.data(), copy.data(), store::kCopySize);
  std::memcpy(bytes.data() + store::kCopySize, copy.data(), store::kCopySize);
  { std::ofstream create(path); }
  REQUIRE(vfs::write_header_at(path, bytes) == SQLITE_OK);
  RawDb db;
  db.path = path;
  db.file_id = nh->header.file_id;
  db.ctx = std::make_shared<vfs::KeyContext>(nh->header.file_id, nh->dek.span());
  db.handle = vfs::register_key(db.ctx);
  return db;
}

// An SQLite connection on a RawDb through the shim (rollback mode by default).
inline sqlite3* open_raw(const RawDb& db) {
  sqlite3* h = nullptr;
  std::string uri = "file:" + db.path + "?ehrkey=" + db.handle;
  int rc = sqlite3_open_v2(uri.c_str(), &h,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE,
                           vfs::kVfsName);
  REQUIRE(rc == SQLITE_OK);
  int reserve = vfs::kReserve;
  sqlite3_file_control(h, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
  return h;
}

inline int raw_exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_STORE_TESTING_H_
