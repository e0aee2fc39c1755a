// The inside of a Session, shared by the core units that work on records
// (records.cc, access.cc, audit_log.cc). Not part of the public API.

#ifndef EHR_CORE_SESSION_IMPL_H_
#define EHR_CORE_SESSION_IMPL_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ehr/session.h"
#include "sqlite_store.h"

namespace ehr {

class SessionImpl {
 public:
  SessionImpl(Store store, std::string user, std::string purpose, std::function<std::string()> now)
      : store_(std::move(store)), user_(std::move(user)), purpose_(std::move(purpose)),
        now_(std::move(now)) {}

  static SessionImpl& of(Session& s) { return *s.impl_; }

  Store& store() { return store_; }
  store::Connection& db() { return StoreInternal::connection(store_); }
  const std::string& user() const { return user_; }
  const std::vector<std::string>& roles() const { return roles_; }
  const std::string& purpose() const { return purpose_; }
  std::string now() const { return now_(); }
  void set_roles(std::vector<std::string> roles) { roles_ = std::move(roles); }

  // A prepared statement for `sql`, reset and cached for reuse.
  Result<store::Statement*> statement(const std::string& sql);

  // Runs `body` in BEGIN IMMEDIATE ... COMMIT; rolls back on failure.
  Status transaction(const std::function<Status()>& body);

 private:
  Store store_;
  std::string user_;
  std::vector<std::string> roles_;
  std::string purpose_;
  std::function<std::string()> now_;
  std::map<std::string, std::unique_ptr<store::Statement>> cache_;
};

// Applies the record schema's migrations to `db` (inside one transaction).
// Errors: kConflict when the database is newer than this binary.
Status migrate_schema(store::Connection& db);

}  // namespace ehr

#endif  // EHR_CORE_SESSION_IMPL_H_
