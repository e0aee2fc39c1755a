// Fault injection for one connection's key-slot changes, without a fault
// VFS under it (a Session always opens on the plain ehrcrypt stack):
//
//   FailHeaderWrites  the connection's main file object gets a copy of its
//                     I/O methods whose xWrite fails (SQLITE_IOERR_WRITE)
//                     for writes into the ehr header (the first 4096 bytes),
//                     which only key-slot changes write; SQLite's own pages
//                     lie behind it and are untouched.
//   FailNextCommit    a commit hook that turns the connection's next COMMIT
//                     into a rollback (SQLITE_CONSTRAINT_COMMITHOOK), as a
//                     failed commit leaves it.
//
// Both restore the connection on destruction. One of each at a time; not
// thread-safe.

#ifndef EHR_TESTS_SUPPORT_HEADER_FAULTS_H_
#define EHR_TESTS_SUPPORT_HEADER_FAULTS_H_

#include <doctest/doctest.h>
#include <sqlite3.h>

#include "sqlite_vfs.h"
#include "store_header.h"

namespace ehr::testing {

class FailHeaderWrites {
 public:
  // Fails the `nth` header write from now on (1-based; each header update
  // writes two copies, the inactive one first) and, when `persistent`,
  // every later one.
  explicit FailHeaderWrites(sqlite3* db, int nth = 1, bool persistent = true)
      : nth_(nth), persistent_(persistent) {
    REQUIRE(active_ == nullptr);
    file_ = vfs::underlying_main_file(db);
    REQUIRE(file_ != nullptr);
    original_ = file_->pMethods;
    methods_ = *original_;
    methods_.xWrite = &x_write;
    file_->pMethods = &methods_;
    active_ = this;
  }
  ~FailHeaderWrites() {
    file_->pMethods = original_;
    active_ = nullptr;
  }
  FailHeaderWrites(const FailHeaderWrites&) = delete;
  FailHeaderWrites& operator=(const FailHeaderWrites&) = delete;

  int header_writes() const { return seen_; }  // attempted, failed or not
  int failed() const { return failed_; }

 private:
  static int x_write(sqlite3_file* f, const void* data, int n, sqlite3_int64 offset) {
    FailHeaderWrites* self = active_;
    if (offset < static_cast<sqlite3_int64>(store::kHeaderSize)) {
      int k = ++self->seen_;
      if (k == self->nth_ || (self->persistent_ && k > self->nth_)) {
        ++self->failed_;
        return SQLITE_IOERR_WRITE;
      }
    }
    return self->original_->xWrite(f, data, n, offset);
  }

  static inline FailHeaderWrites* active_ = nullptr;
  sqlite3_file* file_ = nullptr;
  const sqlite3_io_methods* original_ = nullptr;
  sqlite3_io_methods methods_{};
  int nth_;
  bool persistent_;
  int seen_ = 0;
  int failed_ = 0;
};

class FailNextCommit {
 public:
  explicit FailNextCommit(sqlite3* db) : db_(db) { sqlite3_commit_hook(db_, &hook, this); }
  ~FailNextCommit() { sqlite3_commit_hook(db_, nullptr, nullptr); }
  FailNextCommit(const FailNextCommit&) = delete;
  FailNextCommit& operator=(const FailNextCommit&) = delete;

  int commits() const { return commits_; }  // commits attempted, the failed one included

 private:
  static int hook(void* arg) {
    auto* self = static_cast<FailNextCommit*>(arg);
    return ++self->commits_ == 1 ? 1 : 0;
  }

  sqlite3* db_;
  int commits_ = 0;
};

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_HEADER_FAULTS_H_
