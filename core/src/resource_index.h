// What ehr extracts from a FHIR resource for lookup: the columns beside the
// JSON (patient, status, main code, clinical date, security labels), the
// identifiers, the references, the name tokens and a patient's matching keys. Pure functions over Json.

#ifndef EHR_CORE_RESOURCE_INDEX_H_
#define EHR_CORE_RESOURCE_INDEX_H_

#include <string>
#include <utility>
#include <vector>

#include "ehr/json.h"

namespace ehr {

struct IndexEntry {
  std::string patient;        // patient id ("" when none)
  std::string status;
  std::string code_system;
  std::string code;
  std::string clinical_date;  // the date the care happened
  std::string security;       // meta.security codes, space-separated
  std::vector<std::pair<std::string, std::string>> identifiers;  // (system, value)
  std::vector<std::pair<std::string, std::string>> references;   // (type, id)
  std::vector<std::string> name_tokens;                           // folded
  std::string sort_name;      // Patient: patient_sort_name; "" for other types
  std::vector<std::string> match_keys;  // Patient: blocking_keys (ehr/matching.h); a merged
                                        // source has none
};

IndexEntry index_resource(const Json& resource);

// The order of patients in lists and searches, before the id: the folded
// family and first given name of the first name, joined by '\x01'
// ("" parts when absent).
std::string patient_sort_name(const Json& patient);

// Parses a literal reference "Type/id", "Type/id/_history/n" or an absolute
// URL ending in Type/id into (type, id); returns false for urn:, #contained
// and conditional references.
bool parse_reference(std::string_view ref, std::string& type, std::string& id);

// The display text of a CodeableConcept (text, else the first coding's
// display, else its code).
std::string concept_text(const Json* codeable);

// The string `j` holds; "" when it is null or not a string.
std::string text_of(const Json* j);

}  // namespace ehr

#endif  // EHR_CORE_RESOURCE_INDEX_H_
