// Records that name their patient only by identifier (a logical reference:
// `identifier` without `reference`, resource_index.h). Such a record's
// patient is the one stored patient holding the identifier when the record
// is written; that can change after: a lab feed often runs ahead of
// registration (the result arrives, then the Patient), an MRN typo is
// corrected, a duplicate holding the same MRN is cleaned up. Every record's
// keys are kept in the patient_key table (migration 14), and each write of a
// Patient computes again the patient of the records keyed on an identifier
// it holds or held (link_keyed_records): they join, leave or change charts.
//
// Every function works on the statements `prepare` gives (SessionImpl's
// cache, or a store::StatementCache over a bare connection in a migration).
// REQUIRES: inside a write transaction.

#ifndef EHR_CORE_PATIENT_KEYS_H_
#define EHR_CORE_PATIENT_KEYS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ehr/status.h"
#include "resource_index.h"
#include "sqlite_store.h"

namespace ehr::detail {

// A prepared statement for `sql`, reset, owned by whoever gives it.
using Prepare = std::function<Result<store::Statement*>(const std::string& sql)>;

// The ids of the stored patients holding identifier (system, value); system
// "" matches any system. A retracted Patient (entered in error) holds none.
// With `follow_merges`, a patient merged into another counts as that one
// (the target of its merge): a result naming the source's MRN after the
// merge belongs on the surviving chart.
Result<std::vector<std::string>> patients_holding(const Prepare& prepare, const std::string& system,
                                                  const std::string& value, bool follow_merges = false);

// resolve_patient_keys (resource_index.h) with patients_holding (following
// merges) as lookup:
// sets e.patient. Retracted patients (entered in error) hold no identifier.
Status resolve_keys(const Prepare& prepare, IndexEntry& e);

// Makes the keys of record `rid` e.patient_keys. `fresh`: a row just
// inserted, which has none to replace.
Status write_record_keys(const Prepare& prepare, std::int64_t rid, const IndexEntry& e, bool fresh);

// Inserts the reference rows of record `rid` (e.references), none to its
// own patient e.patient (migration 11). REQUIRES: it has none.
Status insert_references(const Prepare& prepare, std::int64_t rid, const IndexEntry& e);

// Sets the patient column of record `rid` to e.patient (and its change
// sequence to `seq`, when given, in the same statement) and writes its
// reference rows (insert_references) again.
Status rewrite_patient(const Prepare& prepare, std::int64_t rid, const IndexEntry& e,
                       std::optional<std::int64_t> seq = std::nullopt);

struct LinkedRecord {
  std::string type;
  std::string id;
  std::string was;      // its patient column before
  std::string patient;  // its patient column now
};

// Whether the session may move record type/id from patient `was` (its
// security labels and main code given): the caller's access decision.
using MayMove = std::function<Result<bool>(const std::string& type, const std::string& was,
                                           const std::string& security, const std::string& code)>;

// Computes again the patient of each record keyed on one of `identifiers`
// ((system, value) pairs: what a Patient holds or held, its own identifier
// rows already written or deleted) and rewrites those whose patient
// changed and that `may_move` allows (rewrite_patient); the others stay
// where they are, to be computed again at a later write. A record moved
// takes a new change sequence from `next_seq` (its version stays), so that
// an incremental export of its new patient's records finds it. Returns the
// records moved, in rid order. The caller audits them.
Result<std::vector<LinkedRecord>> link_keyed_records(
    const Prepare& prepare, const std::vector<std::pair<std::string, std::string>>& identifiers,
    const MayMove& may_move, const std::function<Result<std::int64_t>()>& next_seq);

// Migration 14: the keys of every stored record that names its patient by
// identifier. Moves no record (a migration has no user to audit it as):
// a record whose patient is stored meanwhile joins the chart at the next
// write of that Patient.
Status index_stored_keys(store::Connection& db);

}  // namespace ehr::detail

#endif  // EHR_CORE_PATIENT_KEYS_H_
