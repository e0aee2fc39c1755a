// Records that name their patient only by identifier (a logical reference:
// `identifier` without `reference`, resource_index.h) when no one stored
// patient holds it yet. A lab feed often runs ahead of registration: the
// result arrives, then the Patient. Such a record is stored with an unknown
// patient (kUnknownPatient, or kSeveralPatients beside a literal patient
// reference) and its unresolved keys wait in the patient_key_wait table
// (migration 14); writing a Patient that holds one of them computes the
// record's patient again and so puts it into that chart.
//
// Every function works on the statements `prepare` gives (SessionImpl's
// cache, or StatementCache over a bare connection in a migration).
// REQUIRES: inside a write transaction.

#ifndef EHR_CORE_PATIENT_KEYS_H_
#define EHR_CORE_PATIENT_KEYS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ehr/status.h"
#include "resource_index.h"
#include "sqlite_store.h"

namespace ehr::detail {

// A prepared statement for `sql`, reset, owned by whoever gives it.
using Prepare = std::function<Result<store::Statement*>(const std::string& sql)>;

// Prepare over a bare connection: each statement prepared once.
class StatementCache {
 public:
  explicit StatementCache(store::Connection& db) : db_(db) {}
  Result<store::Statement*> operator()(const std::string& sql);

 private:
  store::Connection& db_;
  std::map<std::string, std::unique_ptr<store::Statement>> cache_;
};

// The ids of the stored patients holding identifier (system, value); system
// "" matches any system.
Result<std::vector<std::string>> patients_holding(const Prepare& prepare, const std::string& system,
                                                  const std::string& value);

// resolve_patient_keys (resource_index.h) with patients_holding as lookup:
// sets e.patient and e.unresolved_keys.
Status resolve_keys(const Prepare& prepare, IndexEntry& e);

// Makes the waiting keys of record `rid` e.unresolved_keys. `fresh`: a row
// just inserted, which has none to replace.
Status write_waiting_keys(const Prepare& prepare, std::int64_t rid, const IndexEntry& e, bool fresh);

// Sets the patient column of record `rid` to e.patient and writes its
// reference rows (none to its own patient: migration 11) again.
Status rewrite_patient(const Prepare& prepare, std::int64_t rid, const IndexEntry& e);

struct LinkedRecord {
  std::string type;
  std::string id;
  std::string patient;  // its patient column now
};

// Computes again the patient of each record waiting on one of
// `identifiers` ((system, value) pairs: a Patient's, as index_resource
// lists them, after its own identifier rows were written) and rewrites
// those whose patient changed (rewrite_patient). Returns them, in rid
// order. The caller audits the change.
Result<std::vector<LinkedRecord>> link_waiting_records(
    const Prepare& prepare, const std::vector<std::pair<std::string, std::string>>& identifiers);

// Migration 14: every record whose patient is unknown or several has its
// patient computed again (a Patient stored after it may hold its key now)
// and its unresolved keys written to patient_key_wait.
Status wait_on_stored_keys(store::Connection& db);

}  // namespace ehr::detail

#endif  // EHR_CORE_PATIENT_KEYS_H_
