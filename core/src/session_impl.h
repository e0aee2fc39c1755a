// The inside of a Session, shared by the core units that work on records
// (records.cc, access.cc, audit_log.cc). Not part of the public API.

#ifndef EHR_CORE_SESSION_IMPL_H_
#define EHR_CORE_SESSION_IMPL_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <set>

#include "audit_chain.h"
#include "audit_record.h"
#include "ehr/access.h"
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
  // The time of what this session writes: the clock, but never before the
  // newest time the database holds when a write transaction began (nor
  // before the last time it gave): after the clock steps back (an NTP
  // correction, a restored VM) it is the millisecond after that, so that
  // meta.lastUpdated and audit times follow the change sequence and an
  // export window (--since a transactionTime) misses no later change (QA
  // finding dates 07).
  std::string now() const;
  void set_roles(std::vector<std::string> roles) { roles_ = std::move(roles); }

  // The policy in force (loaded on open; replaced by apply_policy).
  const Policy& policy() const { return policy_; }
  void set_policy(Policy p) { policy_ = std::move(p); }
  std::int64_t policy_version() const { return policy_version_; }
  void set_policy_version(std::int64_t v) { policy_version_ = v; }

  // --emergency: the reason given, "" when break-the-glass is not requested.
  const std::string& emergency_reason() const { return emergency_reason_; }
  void set_emergency_reason(std::string r) { emergency_reason_ = std::move(r); }

  // Whether the user is on `patient`'s care team (cached for the session;
  // forget_care_team drops the cache after a change).
  Result<bool> on_care_team(const std::string& patient);
  void forget_care_team() { team_cache_.clear(); }
  // Records what a row read in this transaction says of the care team, so
  // on_care_team need not look it up.
  void note_care_team(const std::string& patient, bool member) { team_cache_.emplace(patient, member); }
  // The id of the user's active emergency grant for `patient`, 0 if none
  // (a grant cached for the session still ends at its expiry).
  Result<std::int64_t> emergency_grant(const std::string& patient);
  void note_grant(const std::string& patient, std::int64_t id, const std::string& expires) {
    grants_[patient] = {id, expires};
  }
  // Patients read under break-the-glass in this session: their audit
  // entries carry the emergency flag.
  void note_emergency(const std::string& patient) { emergency_patients_.insert(patient); }
  bool emergency_for(const std::string& patients) const;
  const std::set<std::string>& emergency_patients() const { return emergency_patients_; }

  // Records the last read or search left out under the policy (Session::withheld()).
  void reset_withheld() { withheld_ = 0; }
  void add_withheld(std::int64_t n) { withheld_ += n; }
  std::int64_t withheld() const { return withheld_; }

  // Records a denied attempt: written now outside a transaction, or after
  // the rollback of the enclosing one (a denial is never lost with it).
  void record_denial(const AuditRecord& r);

  // A prepared statement for `sql`, reset and cached for reuse.
  Result<store::Statement*> statement(const std::string& sql);

  // Runs `sql` (cached) with text parameters and returns its rows as text.
  Result<std::vector<std::vector<std::string>>> rows(const std::string& sql,
                                                     const std::vector<std::string>& binds = {});
  // Runs `sql` (cached) with text parameters, discarding rows.
  Status exec(const std::string& sql, const std::vector<std::string>& binds = {});

  // Resets every cached statement (so none holds a read open, e.g. before
  // VACUUM INTO of a backup).
  void reset_statements() { cache_.reset_all(); }

  // Finalizes every cached statement (before Store::publish closes the
  // connection they were prepared on).
  void drop_statements() { cache_.clear(); }

  // Runs `body` in BEGIN IMMEDIATE ... COMMIT; rolls back on failure.
  Status transaction(const std::function<Status()>& body);

  // Runs `body` in one read transaction (BEGIN DEFERRED: one consistent
  // snapshot that never blocks writers, as an export's). First `pin` runs
  // under the write lock, when no write is under way (an export takes its
  // transactionTime there: every later write's time is after it); the
  // snapshot then starts as the lock is released and is checked to hold
  // exactly what `pin` saw (the change sequence unchanged), else both are
  // taken again (a write slipped in between; kBusy after 100 tries). With
  // no `pin` (nullptr) the snapshot starts at once, without the lock. The
  // audit entries `body` writes are held and appended, with its denials, in
  // one write transaction right after the snapshot ends; when they cannot
  // be written the call fails (fail closed) even though `body` succeeded.
  // REQUIRES: `body` writes nothing but audit entries and denials.
  Status snapshot(const std::function<Status()>& pin, const std::function<Status()>& body);
  // BEGIN DEFERRED and the read that starts its snapshot: the change
  // sequence it sees (rolled back when that read fails).
  Result<std::string> begin_read();
  // True inside snapshot(): write_audit holds its entry (hold_audit).
  bool in_snapshot() const { return in_snapshot_; }
  void hold_audit(const AuditRecord& r) { held_audit_.push_back(r); }
  // The sequence numbers of the first and last entry the last snapshot()
  // appended ({0, 0} when it appended none).
  std::pair<std::int64_t, std::int64_t> held_audit_seqs() const { return held_seqs_; }

  // The next change sequence number (counter 'seq'). Inside a transaction the
  // counter is read once, counted here and written back before COMMIT: one
  // row update per transaction, not per version written. A savepoint rolled
  // back leaves a gap in the numbers (they stay increasing).
  Result<std::int64_t> next_seq();
  bool in_transaction() const { return in_transaction_; }

  // Who receives what this session reads, outside the organisation ("" =
  // nobody): such reads are disclosures.
  const std::string& recipient() const { return recipient_; }
  void set_recipient(std::string r) { recipient_ = std::move(r); }

  // The audit chain (audit_chain.h): loaded by ensure_audit_chain at open.
  AuditChain& chain() { return chain_; }

 private:
  // After a failed transaction: resets the statements, rolls back and drops
  // what the rollback took back from the caches (grants, care teams).
  void roll_back();
  // Writes the denials recorded during a transaction, each on its own.
  void write_pending_denials();
  // Writes a denial's entry now, or defers it (deferred_audit.h) when it
  // cannot be written.
  void write_or_defer(const AuditRecord& r);

  Store store_;
  std::string user_;
  std::vector<std::string> roles_;
  std::string purpose_;
  std::function<std::string()> now_;
  mutable std::string time_floor_;  // now() gives nothing before it
  store::StatementCache cache_;
  Policy policy_ = Policy::builtin();
  std::int64_t policy_version_ = 0;
  std::string emergency_reason_;
  std::map<std::string, bool> team_cache_;
  std::map<std::string, std::pair<std::int64_t, std::string>> grants_;  // patient -> id, expires
  std::set<std::string> emergency_patients_;
  bool in_transaction_ = false;
  bool in_snapshot_ = false;
  std::vector<AuditRecord> held_audit_;  // written when the snapshot ends
  std::pair<std::int64_t, std::int64_t> held_seqs_{0, 0};
  std::optional<std::int64_t> seq_;  // the last number given in this transaction
  std::int64_t withheld_ = 0;
  std::vector<AuditRecord> pending_denials_;
  std::string recipient_;
  AuditChain chain_;
};

// Applies the record schema's migrations to `db` (inside one transaction).
// Errors: kConflict when the database is newer than this binary.
Status migrate_schema(store::Connection& db);

}  // namespace ehr

#endif  // EHR_CORE_SESSION_IMPL_H_
