// A Session: one open database, one authenticated user with roles, the
// access decision point and the audit writer. Every record operation takes a
// Session; there is no way to read or write records around it.
//
// Opening a session opens the encrypted store with the user's secret (which
// authenticates the user: a slot belongs to one user), applies pending schema
// migrations, and loads the user's roles. A database written by a newer ehr
// (schema version above this binary's) is refused.
//
// Thread safety: a Session is used by one thread at a time.

#ifndef EHR_SESSION_H_
#define EHR_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ehr/status.h"
#include "ehr/store.h"

namespace ehr {

// The record schema version this binary writes (PRAGMA user_version).
std::int64_t current_schema_version();

struct SessionOptions {
  // The ehr user; only this user's key slots are tried. REQUIRES: non-empty.
  std::string user;
  // Why the data is accessed (recorded in the audit trail): a purpose name
  // or HL7 v3 code of ehr/audit.h purposes(). Default "treatment".
  std::string purpose = "treatment";
  // Who receives the data read in this session outside the organisation
  // (a person or body, as the accounting of disclosures names it); "" when
  // nobody does. Entries of such a session are disclosures.
  std::string recipient;
  // Break the glass (--emergency --reason): when non-empty, reads of a
  // patient whose care team lacks the user are allowed for roles the policy
  // makes eligible, start a time-limited grant with this reason, and are
  // flagged in the audit trail. Empty: no emergency access is requested
  // (grants already active still apply). One of only blanks is refused by
  // open() (kInvalidArgument). Each grant's audit entry seals a keyed hash
  // of it (ehr/audit.h EmergencyAccess::reason_intact).
  std::string emergency_reason;
  // create() only: roles of the first user besides admin (e.g. physician in
  // a one-doctor practice). REQUIRES: roles of the built-in policy.
  std::vector<std::string> first_user_roles;
  // create() only: when set, a second key slot of the first user for this
  // recovery code (Secret::Kind::kRecoveryCode), added before the database
  // reaches its path, so that an init killed after it printed nothing
  // leaves no database without the code it was asked for.
  const Secret* recovery_code = nullptr;
  // Store options (busy timeout, ...). `open.user` is set from `user`.
  OpenOptions open;
  // The clock, as a UTC instant "YYYY-MM-DDTHH:MM:SS.mmmZ". Default: the
  // system clock. Tests pass a fixed clock.
  std::function<std::string()> now;
};

// The journal of failed opens beside a database (`<db_path>.failed-opens`):
// an open refused for a wrong secret cannot write the encrypted audit trail,
// so it appends "<instant> <user> wrong-secret" there (0600, user names
// %-escaped; no health data); so does open_store_as_user for a disabled user
// ("<instant> <user> user-disabled"). The next Session::open moves each line
// into the trail as a login-failed entry and empties the file.
std::string failed_opens_path(const std::string& db_path);

// Opens the store at `path` as `options.user` without a Session, for the
// commands that work on the file itself (ehr db info, db check, key list)
// and must work where a Session would refuse or write (a schema newer than
// this ehr, a damaged file): nothing is migrated and nothing is written to
// the database. The secret authenticates the user as in Session::open, and
// a refusal is recorded as there, but in failed_opens_path(path), since no
// trail is written here: a wrong secret, and a user the users table marks
// disabled whose old secret still opens the file (when the table cannot be
// read, as in a damaged file, the slot alone authenticates). `now` stamps
// the journal line; empty: the system clock.
// Errors: those of Store::open; kAuthFailed "user U is disabled".
Result<Store> open_store_as_user(const std::string& path, const Secret& secret,
                                 const OpenOptions& options,
                                 const std::function<std::string()>& now = {});

// recover_store (ehr/store.h) as `options.user` (ehr db recover): first the
// user is authenticated as by open_store_as_user, past a WAL anomaly; a
// refusal is journalled and nothing is saved or changed.
// Errors: those of open_store_as_user and recover_store.
Result<RecoverReport> recover_store_as_user(const std::string& path, const Secret& secret,
                                            const OpenOptions& options,
                                            const std::function<std::string()>& now = {});

class SessionImpl;

class Session {
 public:
  // Opens `path` with `secret` as options.user, migrating the schema.
  // Errors: kInvalidArgument "unknown purpose P (known: ...)"; those of Store::open; kConflict "database schema version N is
  // newer than this ehr (which knows M); upgrade ehr"; kAuthFailed "user U
  // is disabled"; kIoError, kBusy.
  static Result<Session> open(const std::string& path, const Secret& secret,
                              const SessionOptions& options);

  // Creates a new database at `path` whose first user `admin` (with the
  // admin role and options.first_user_roles) opens it with `secret` (ehr
  // init). Errors: kInvalidArgument for a bad admin name (check_user_name
  // in ehr/users.h) or "unknown role R", before anything is written; those
  // of Store::create. The file appears at `path` complete (schema, first
  // user, first audit entry) or not at all; store().removed_stale() names
  // the temporaries of killed runs it removed.
  static Result<Session> create(const std::string& path, const SlotOptions& admin,
                                const Secret& secret, const SessionOptions& options);

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  const std::string& user() const;
  const std::vector<std::string>& roles() const;
  const std::string& purpose() const;
  // The underlying store (key slots, info, check).
  Store& store();
  // The current instant from the session's clock.
  std::string now() const;
  // How many records the last patient record read, list or patient search
  // left out because the policy withholds them from this user (those
  // results are filtered, never refused as a whole for one record).
  std::int64_t withheld() const;
  // Patients this session read under break-the-glass, sorted.
  std::vector<std::string> emergency_patients() const;
  // The version of the policy in force; 0 = the built-in default.
  std::int64_t policy_version() const;

 private:
  friend class SessionImpl;
  explicit Session(std::unique_ptr<SessionImpl> impl);
  std::unique_ptr<SessionImpl> impl_;
};

}  // namespace ehr

#endif  // EHR_SESSION_H_
