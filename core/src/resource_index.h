// What ehr extracts from a FHIR resource for lookup: the columns beside the
// JSON (patient, status, main code, clinical date, security labels), the
// identifiers, the references, the name tokens and a patient's matching keys. Pure functions over Json.

#ifndef EHR_CORE_RESOURCE_INDEX_H_
#define EHR_CORE_RESOURCE_INDEX_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "ehr/json.h"

namespace ehr {

struct IndexEntry {
  // The patient the record belongs to: the one patient it references, ""
  // when none, kSeveralPatients or kUnknownPatient (ehr/records.h). Until
  // resolve_patient_keys has looked up `patient_keys`, a record with any is
  // kUnknownPatient (or kSeveralPatients beside a literal reference).
  std::string patient;
  // The distinct ids of the patients it references literally (Patient/ID,
  // anywhere, contained resources too); a Patient's own id for a Patient.
  std::vector<std::string> patients;
  // Patients it gives only by identifier (a logical reference without
  // `reference`): (system, value), system "" when none. See index_resource.
  std::vector<std::pair<std::string, std::string>> patient_keys;
  std::string status;
  std::string code_system;
  std::string code;
  std::string clinical_date;  // the date the care happened: clinical_date_key
  std::string security;       // meta.security codes, space-separated
  std::vector<std::pair<std::string, std::string>> identifiers;  // (system, value)
  std::vector<std::pair<std::string, std::string>> references;   // (type, id)
  std::vector<std::string> name_tokens;                           // folded
  std::string sort_name;      // Patient: patient_sort_name; "" for other types
  std::vector<std::string> match_keys;  // Patient: blocking_keys (ehr/matching.h); a merged
                                        // source has none
};

// The lookup columns and tokens of `resource`. Its patient (IndexEntry::patient)
// follows the FHIR R4 Patient compartment and goes beyond it: every literal
// reference to a Patient, in any element, counts (Appointment.participant.actor,
// Task.for, ResearchSubject.individual, Group.member.entity, Provenance.target,
// Device.patient, ...), and so does a logical reference (identifier, no
// reference) typed Patient, or untyped in an element named subject, patient,
// beneficiary, for or individual. One patient: that patient; several:
// kSeveralPatients; logical references: kUnknownPatient until resolved.
IndexEntry index_resource(const Json& resource);

// The date the care a record describes happened, as written: the first
// present of effective[x], onset[x], occurrenceDateTime, performed[x],
// authoredOn, recordedDate, period.start, issued, dateAsserted, date,
// created, recorded, birthDate, whenHandedOver, whenPrepared, started,
// authored, createdDateTime, collection.collectedDateTime, sent, dateTime,
// timingDateTime, recordedOn, identifiedDateTime, startDate and
// occurrencePeriod.start (a Period by its start); "" for none.
std::string clinical_date_text(const Json& resource);

// The clinical_date column of a FHIR date, dateTime or instant `value`: a
// time with a zone is converted to UTC (normalised_instant in instant.h),
// so that records sort and --since selects by the instant on the timeline
// (a feed writing 20:00-05:00 is later than one writing 23:00Z the same
// day); a date, a partial date or anything else is kept as written.
std::string clinical_date_key(std::string_view value);

// The first and last instant (stored form, UTC) a clinical_date key may
// stand for: a date is its UTC day, a partial date its month or year, an
// instant itself; anything else is {key, key}. The two compare as text with
// stored instants: a result dated 2026-01-15 may be later than one at
// 2026-01-15T08:00:00.000Z, and falls within --since 2026-01-15T06:00Z.
std::pair<std::string, std::string> clinical_date_span(std::string_view key);

// Sets entry.patient from entry.patients and the stored patients that the
// identifiers of entry.patient_keys name: a key naming exactly one patient
// counts as a reference to it; any other key (no match, several) leaves the
// record with an unknown patient. `lookup` returns the ids of the stored
// patients holding identifier (system, value) (system "" = any system).
template <typename Lookup>
void resolve_patient_keys(IndexEntry& e, Lookup&& lookup);

// The patient of a record referencing `patients` (distinct) and
// `unresolved` patients given by identifier that name no one stored patient.
std::string patient_of_links(const std::vector<std::string>& patients, bool unresolved);

// The order of patients in lists and searches, before the id: the folded
// family and first given name of the first name, joined by '\x01'
// ("" parts when absent).
std::string patient_sort_name(const Json& patient);

// Parses a literal reference "Type/id" or "Type/id/_history/n" into (type,
// id); returns false for urn:, #contained and conditional references, and
// for absolute URLs (scheme://...): those name a resource on another server
// (FHIR references.html), never a record stored here. ehr has no base URL of
// its own; an import rewrites the absolute references that name an entry of
// its Bundle (the entry's fullUrl) before anything parses them.
bool parse_reference(std::string_view ref, std::string& type, std::string& id);

// The display text of a CodeableConcept (text, else the first coding's
// display, else its code).
std::string concept_text(const Json* codeable);

// The string `j` holds; "" when it is null or not a string.
std::string text_of(const Json* j);

template <typename Lookup>
void resolve_patient_keys(IndexEntry& e, Lookup&& lookup) {
  if (e.patient_keys.empty()) return;
  bool unresolved = false;
  for (const auto& [system, value] : e.patient_keys) {
    std::vector<std::string> ids = lookup(system, value);
    if (ids.size() != 1) {
      unresolved = true;
      continue;
    }
    if (std::find(e.patients.begin(), e.patients.end(), ids.front()) == e.patients.end())
      e.patients.push_back(ids.front());
  }
  e.patient = patient_of_links(e.patients, unresolved);
}

}  // namespace ehr

#endif  // EHR_CORE_RESOURCE_INDEX_H_
