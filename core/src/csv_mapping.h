// CSV to FHIR mappings: a YAML file says which FHIR resources each CSV row
// becomes, as a template of the resource's JSON whose strings name columns.
// The Synthea mappings ship in schemas/mappings/synthea/ and are the worked
// examples of man/ehr-import.1, which documents the format in full:
//
//   schema: ehr-csv-mapping            # and version: 1
//   name: synthea-immunizations        # for messages and deterministic ids
//   table: immunizations               # Synthea table (file stem); optional
//   required: [DATE, PATIENT, CODE]    # the header must have them, rows fill them
//   aliases: {START: [START_DATE]}     # other header names for a column
//   nulls: ["", "null", "NaN"]         # cell texts that mean "no value"
//   maps: {sex: {M: male, F: female}}  # value tables for the map: filter
//   resources:
//     - id: {hash: [DATE, PATIENT, CODE]}   # or a template: "{Id}"
//       resource:
//         resourceType: Immunization
//         status: completed
//         vaccineCode: {coding: [{system: "http://hl7.org/fhir/sid/cvx", code: "{CODE}"}]}
//         patient: {reference: "Patient/{PATIENT}"}
//         occurrenceDateTime: "{DATE|datetime}"
//
// Template strings hold literal text and {COLUMN|filter|filter:arg}
// placeholders. A string whose placeholder has no value (column absent from
// the header, or a null cell) is left out; so is an object or array left
// empty. Filters: map:NAME, or:TEXT (a value for a null), present:TEXT (a
// value for a non-null), decimal, integer, boolean (typed JSON values),
// date, datetime, instant (FHIR date syntax; "YYYY-MM-DD hh:mm:ss" becomes
// "YYYY-MM-DDThh:mm:ss"), lower, upper, trim, and sctid (a SNOMED CT id that
// went through a double: see repair_rounded_sctid). An object may carry
// `$if: COND` (or a list of them, all of which must hold): COLUMN (has a
// value), !COLUMN, COLUMN == text, COLUMN != text, COLUMN ~ regex,
// COLUMN !~ regex, and A || B (either); and `$value: NODE` to stand for a scalar or node under
// that condition. Unquoted YAML true/false and numbers are JSON booleans and
// numbers; quoted ones are strings.
//
// Thread safety: a parsed mapping is immutable and may be shared.

#ifndef EHR_CORE_CSV_MAPPING_H_
#define EHR_CORE_CSV_MAPPING_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"
#include "ehr/status.h"

namespace ehr::detail {

struct MappingData;

class CsvMapping {
 public:
  // Parses a mapping. `source` names it in errors, which are kConfig
  // "SOURCE:LINE:COLUMN: <what>".
  static Result<CsvMapping> parse(std::string_view yaml, const std::string& source);

  const std::string& name() const;
  const std::string& table() const;  // "" when not a Synthea table
  const std::string& source() const;
  const std::vector<std::string>& required() const;
  // The resource types the rows become, in output order.
  std::vector<std::string> resource_types() const;
  // How many of `header`'s names this mapping reads (aliases included).
  int columns_known(const std::vector<std::string>& header) const;

  std::shared_ptr<const MappingData> data() const { return data_; }

 private:
  std::shared_ptr<const MappingData> data_;
};

// The mappings of schemas/mappings/synthea/, parsed once. Never fails for a
// built binary (the schema tests load every file).
const std::vector<CsvMapping>& synthea_mappings();

// One resource made from a row.
struct MappedResource {
  Json resource;            // without "id" when the id is a hash
  std::string hash_key;     // for {hash: [...]} ids: the key the id derives from
};

// A mapping bound to one file's header.
class BoundMapping {
 public:
  // Errors: kInvalidData "missing column C (the mapping M needs A, B, C)".
  static Result<BoundMapping> bind(const CsvMapping& mapping, const std::vector<std::string>& header);

  // The resources of one row. Errors (the row's, the file goes on):
  // kInvalidData "column C: <what>" (a required column empty, a value the
  // filter refuses, a value missing from a map); messages never quote
  // cell values. REQUIRES: fields.size() equals the header's size.
  Result<std::vector<MappedResource>> map_row(const std::vector<std::string>& fields) const;

  const CsvMapping& mapping() const { return mapping_; }

 private:
  BoundMapping(CsvMapping m, std::vector<int> columns)
      : mapping_(std::move(m)), columns_(std::move(columns)) {}
  CsvMapping mapping_;
  std::vector<int> columns_;  // per mapping column slot: the header index, or -1
};

// A deterministic FHIR id (UUID-shaped) for `hash_key`: rows that agree on
// the columns of {hash: [...]} are the same record, so importing a file
// again finds the records it made (and a row whose other columns changed
// updates its record).
std::string hashed_id(std::string_view hash_key);

// Synthea's CSV writer passes codes through a double, so a SNOMED CT id
// above 2^53 (16+ digits, as extension ids are) can come out rounded:
// 10939881000119105 is written 10939881000119104, and fails its check
// digit. Returns the one integer that rounds to the same double and passes
// the Verhoeff check, or nullopt when `code` is not all digits, is valid
// already, is below 2^53 (nothing was lost), or no single candidate holds.
std::optional<std::string> repair_rounded_sctid(std::string_view code);

}  // namespace ehr::detail

#endif  // EHR_CORE_CSV_MAPPING_H_
