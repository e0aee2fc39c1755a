// The record model: FHIR R4 resources stored as JSON, every write a new
// version, nothing silently overwritten.
//
// Each resource is kept as its JSON (the truth: unknown elements and
// extensions survive) with lookup columns beside it: type, id, version,
// change sequence, last-updated, patient, status, main code, clinical date and
// security labels, plus identifier, reference and name-token tables. ehr owns
// meta.versionId and meta.lastUpdated. Every create, update, retraction and
// purge writes a history row (author, time, reason) and advances a
// database-wide change sequence, which incremental export follows.
//
// Every function checks the session's access decision first and writes an
// audit entry in the same transaction; a denied operation returns
// kAccessDenied and writes nothing but its audit entry.

#ifndef EHR_RECORDS_H_
#define EHR_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"
#include "ehr/session.h"
#include "ehr/status.h"

namespace ehr {

// The patient column (StoredResource::patient) of a record that belongs to no
// single patient it can name: it references several different patients
// (Group.member, a merge's or an import's Provenance), or a patient given
// only by identifier that matches no stored patient or several. Neither is a
// FHIR id (ids hold no '*' nor '?'), so neither ever names a care team, a
// grant or a stored Patient: rules limited to the care team never allow
// them, break the glass never covers them, and no patient's record, export
// or care check includes them (ehr-policy(1), "Records of a patient").
inline constexpr std::string_view kSeveralPatients = "*";
inline constexpr std::string_view kUnknownPatient = "?";

// What import and record add say of a record stored with kUnknownPatient
// because the identifier by which it names its patient is held by no one
// stored patient (or by several).
inline constexpr std::string_view kUnresolvedPatientWarning =
    "names its patient only by an identifier that no one stored patient holds: it is in no chart until "
    "a Patient holding that identifier is imported (ehr-policy(1), RECORDS OF A PATIENT)";

// Whether `patient` (a patient column) names one stored patient: not empty,
// and neither kSeveralPatients nor kUnknownPatient.
inline bool is_single_patient(std::string_view patient) {
  return !patient.empty() && patient != kSeveralPatients && patient != kUnknownPatient;
}

// A resource as stored.
struct StoredResource {
  std::string type;
  std::string id;
  std::int64_t version = 0;
  std::int64_t seq = 0;          // change sequence of this version
  std::string last_updated;      // instant, UTC
  std::string patient;           // patient id this resource belongs to ("" if none;
                                 // kSeveralPatients, kUnknownPatient: see above)
  bool retracted = false;        // entered-in-error: hidden from default views
  Json resource;                 // the JSON, meta.versionId/lastUpdated set
  std::string security;          // meta.security codes, space-separated
  std::string code;              // main code as SYSTEM|CODE, "" when none
};

// A resource as a read returns it, its JSON left as text: what to_json wrote
// (compact; parse_json gives the resource back), as stored or, when the
// access decision filters fields, as filtered. For callers that only pass
// resources on, printing them for instance (append_json_text), and so need
// not parse them.
struct StoredJson {
  std::string type;
  std::string id;
  std::int64_t version = 0;
  std::int64_t seq = 0;
  std::string last_updated;
  std::string patient;
  bool retracted = false;
  std::string security;  // as in StoredResource
  std::string code;
  std::string json;      // as stored, or as the access decision filtered it
};

// `r` with its JSON parsed. A text that is not JSON (never written by ehr)
// gives a null resource, as every read returns it.
StoredResource parse_stored(StoredJson r);

// One version in a resource's history.
struct HistoryEntry {
  std::int64_t version = 0;
  std::string action;   // "create", "update", "retract", "purge"
  std::string author;   // ehr user
  std::string time;     // instant, UTC
  std::string reason;   // "" when none was given
  std::optional<Json> resource;  // absent for a purge tombstone
};

// Creates a resource. A missing id is assigned (a UUID); an id that exists
// already is kAlreadyExists. The resource is validated first.
// Errors: kInvalidData "<Path>: <rule message>" (the first validation error);
// kAlreadyExists; kAccessDenied; kIoError, kBusy.
Result<StoredResource> create_resource(Session& s, Json resource, const std::string& reason = "");

// Registers a patient as create_resource does, and first refuses one that
// carries an identifier of `mrn_system` (the medical record number) that a
// stored patient holds already: an MRN names one patient, and a second one
// would make every lookup by that MRN ambiguous for everyone. Imports are not
// held to this (two sources' copies of a person are matching's work).
// Errors: kAlreadyExists "a stored patient holds this MRN ..." (the value is
// not quoted); those of create_resource.
Result<StoredResource> register_patient(Session& s, Json patient, const std::string& mrn_system);

// Creates many resources in one transaction (all or nothing): each as
// create_resource would, but with one commit and one audit entry for the
// batch (its patients, the count per type), so bulk loads are fast.
// Errors: as create_resource, for the first resource that fails, with its
// index prefixed ("resource 12: ...").
Result<std::vector<StoredResource>> create_resources(Session& s, std::vector<Json> resources,
                                                     const std::string& reason = "");

// Writes a new version of an existing resource (same type and id). When the
// content equals the current version (ignoring meta.versionId/lastUpdated)
// no version is written and the current one is returned.
// Errors: kNotFound "<Type>/<id> not found"; those of create_resource.
Result<StoredResource> update_resource(Session& s, Json resource, const std::string& reason);

// Updates a patient as update_resource does, and refuses (kAlreadyExists,
// as register_patient) an MRN of `mrn_system` that another stored patient
// holds; keeping its own MRN is fine.
Result<StoredResource> update_patient(Session& s, Json patient, const std::string& mrn_system,
                                      const std::string& reason);

// Reads the current version. Retracted resources are returned (flagged);
// purged ones are kNotFound.
Result<StoredResource> read_resource(Session& s, const std::string& type, const std::string& id);

// Every version the user may see, oldest first. Reading the history needs
// read on the newest version with content (its patient, labels and code;
// kAccessDenied otherwise); each earlier version is then decided on its own
// content, and one the user may not see (a label or code a later version
// dropped, another patient's) is left out and counted in Session::withheld().
// A purge entry (no content) is always listed. One audit entry counts the
// versions returned and the withheld. Errors: kNotFound, kAccessDenied.
Result<std::vector<HistoryEntry>> resource_history(Session& s, const std::string& type,
                                                   const std::string& id);

// Marks the resource entered-in-error (a new version whose status, or
// verificationStatus for Condition/AllergyIntolerance, is entered-in-error)
// and hides it from default views. Earlier versions stay readable.
// REQUIRES: reason non-empty. Errors: kNotFound, kConflict "already retracted",
// kAccessDenied.
Result<StoredResource> retract_resource(Session& s, const std::string& type,
                                        const std::string& id, const std::string& reason);

// Removes every version's content and leaves a tombstone (type, id, time,
// author, reason) that export reports as a deletion. Needs the purge
// permission. Errors: kNotFound, kAccessDenied.
Status purge_resource(Session& s, const std::string& type, const std::string& id,
                      const std::string& reason);

// Resolves a patient given by id or by MRN (the identifier value of the
// configured MRN system, or any identifier value when unique).
// Errors: kNotFound "no patient P"; kConflict when an MRN matches several.
// Either failure writes an audit entry (read, outcome not-found, the key
// only as a hash in query_hash, count the patients that hold it) that stands
// even when the caller's transaction rolls back.
Result<StoredResource> find_patient(Session& s, const std::string& id_or_mrn,
                                    const std::string& mrn_system);

struct PatientQuery {
  std::string name;               // prefix of any name token, case- and accent-insensitive
  std::string birth_date;         // YYYY, YYYY-MM or YYYY-MM-DD (prefix match)
  std::string identifier_system;  // with identifier_value: exact match
  std::string identifier_value;
  std::string phone;              // digits compared, punctuation ignored
  bool include_inactive = true;
  int limit = 0;                  // 0 = no limit
};

// Patients matching every given criterion, ordered by family name, given
// name, id. Errors: kInvalidArgument when no criterion is given; kAccessDenied.
Result<std::vector<StoredResource>> search_patients(Session& s, const PatientQuery& q);

// search_patients with each patient's JSON as text (StoredJson),
// unparsed unless a field filter applies: the same patients in the same order,
// after the same access decisions, with the same audit entry and withheld
// count. Errors: as search_patients.
Result<std::vector<StoredJson>> search_patients_json(Session& s, const PatientQuery& q);

struct RecordQuery {
  std::string patient;             // patient id (required for patient_records)
  std::vector<std::string> types;  // empty = all types
  std::string since;               // lower bound: YYYY, YYYY-MM, YYYY-MM-DD (prefix compare) or an
                                   // instant (normalised to UTC); "" = none
  bool include_retracted = false;
  int limit = 0;                   // 0 = no limit
};

// The patient's whole record: the Patient first, then every resource whose
// patient is P, by type then clinical date (newest first), complete and
// unpaged. Errors: kInvalidArgument "--type T: not a FHIR R4 resource type"
// or "--since V: not a date or instant (...)"; kNotFound "no patient P";
// kAccessDenied.
Result<std::vector<StoredResource>> patient_records(Session& s, const RecordQuery& q);

// patient_records with each resource's JSON as text (StoredJson),
// unparsed unless a field filter applies: the same resources in the same order,
// after the same access decisions, with the same audit entry and withheld
// count. Errors: as patient_records.
Result<std::vector<StoredJson>> patient_records_json(Session& s, const RecordQuery& q);

// Resources of the given types (all when empty) across patients, newest
// change first. Errors: kInvalidArgument "--type T: not a FHIR R4 resource
// type" or "--since V: not a date or instant (...)"; kAccessDenied.
Result<std::vector<StoredResource>> list_resources(Session& s, const RecordQuery& q);

// Resolves "Type/id" or a bare id (unique across types) to (type, id).
// Errors: kNotFound "no record X"; kConflict when a bare id names several.
Result<std::pair<std::string, std::string>> resolve_record_ref(Session& s, const std::string& ref);

// Lower-cases and strips Latin diacritics ("Zoë Ñúñez" -> "zoe nunez"):
// the key patient name search compares.
std::string fold_name(std::string_view text);

}  // namespace ehr

#endif  // EHR_RECORDS_H_
