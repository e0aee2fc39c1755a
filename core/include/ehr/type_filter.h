// Type filters (ehr export --type-filter, Bulk Data's _typeFilter): a FHIR
// search query per resource type, "Type?param=value[&param=value...]", that
// the exported records of that type must match. Parsing and matching only;
// pure functions over text and Json, no database.
//
// Semantics (FHIR R4 search, as _typeFilter uses it):
//  - within one filter the parameters are ANDed (date=ge2020&date=lt2021 is
//    a range); the comma-separated values of one parameter are ORed;
//  - several filters for the same type are ORed; each type is filtered
//    independently, and a type no filter names is not filtered at all;
//  - a record that lacks the element a parameter searches never matches it
//    (whatever the prefix: ne too);
//  - names and values are URL-decoded first (%XX, and '+' is a space), then
//    values are split at commas; "\," "\|" "\$" and "\\" escape a literal
//    character.
//
// The supported parameters (others, modifiers such as code:text, and chains
// are unsupported), per type as kTypeFilterParams lists them:
//   status    token on the status element (a code); on Condition and
//             AllergyIntolerance on clinicalStatus (a CodeableConcept), on
//             Goal on lifecycleStatus; every R4 type with a status element
//   code      token on the type's main code: Observation.code, Condition.code,
//             Procedure.code, AllergyIntolerance.code, DiagnosticReport.code,
//             ServiceRequest.code, Medication.code, Immunization.vaccineCode,
//             MedicationRequest/-Statement/-Administration/-Dispense
//             .medicationCodeableConcept, Encounter.type, DocumentReference.type
//   date      date on the type's clinical date (see kTypeFilterParams)
//   category  token on category
// Some of R4's own names for the same search are accepted too
// (clinical-status, vaccine-code, type, onset-date, authoredon, ...); they
// mean exactly the parameter above and are written in the canonical form as
// it.
//
// Tokens: "code" (any system), "system|code", "|code" (a coding without a
// system), "system|" (any code of the system). On a CodeableConcept every
// coding counts, not only the first. On a plain code element (status of most
// types) only "code" and "|code" are meaningful: a system there is a
// malformed value. Codes and systems compare exactly (case-sensitive).
//
// Dates: an optional prefix eq (the default), ne, lt, le, gt, ge, sa, eb
// and a value YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.s...]] with
// Z or +hh:mm/-hh:mm (write '+' as %2B: a literal '+' decodes to a space).
// Both the value and the record's element are ranges: a partial date covers
// its whole year, month or day, a time its last given digit, a Period its
// start to its end (an open end is unbounded); a date without a time is a
// UTC day. With S the value's range and T the element's (R4 3.1.1.5.1):
//   eq  S contains T             ne  S does not contain T
//   gt  T extends after S        lt  T extends before S
//   ge  gt or eq                 le  lt or eq
//   sa  T starts after S ends    eb  T ends before S starts
// so a Period that straddles a bound matches both lt and gt of it.
//
// Thread safety: parsed filters are plain values; const use from several
// threads is safe.

#ifndef EHR_TYPE_FILTER_H_
#define EHR_TYPE_FILTER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"
#include "ehr/status.h"

namespace ehr {

enum class DatePrefix { kEq, kNe, kLt, kLe, kGt, kGe, kSa, kEb };

// One value of a parameter.
struct TypeFilterValue {
  // Tokens (status, code, category).
  bool has_system = false;  // written with a '|'
  std::string system;       // with has_system: "" = no system ("|code")
  std::string code;         // with has_system: "" = any code ("system|")
  // Dates: the prefix and the value's range [low, high), microseconds since
  // 1970-01-01T00:00:00Z.
  DatePrefix prefix = DatePrefix::kEq;
  std::int64_t low = 0;
  std::int64_t high = 0;
  // The value in the canonical form (escaped and encoded as a filter needs).
  std::string canonical;
};

// One parameter: its values ORed.
struct TypeFilterParam {
  std::string name;                     // status, code, date or category
  std::vector<TypeFilterValue> values;  // sorted by canonical, unique
};

// One filter: its parameters ANDed.
struct TypeFilter {
  std::string type;
  std::vector<TypeFilterParam> params;  // sorted by canonical; empty = every record of the type
  std::string text;                     // as given
  // "Type?name=value,value&name=value": the parameters and their values
  // sorted, escaped and encoded, so that filters meaning the same (but for
  // the order of values and parameters, escaping, aliases) are equal text.
  // It has no space and no ';'.
  std::string canonical;

  // Whether `resource` (a resource of `type`) matches every parameter.
  bool matches(const Json& resource) const;
};

// Parses one filter. Errors (kInvalidArgument, the message starting
// "--type-filter 'TEXT': "): not "Type?param=value..."; the type is not an R4
// resource type; _sort, _include, _revinclude or _elements (which Bulk Data
// forbids in a type filter, lenient or not); and, unless `lenient`, a
// parameter this type does not support (an unknown name, a modifier, a
// chain) or a malformed value (no value, a bad date, a bad %-escape, a
// system on a plain code, a prefix on a token). With `lenient` each of the
// latter drops the parameter and appends one line to `warnings` (same
// prefix, "ignoring NAME: ..."). REQUIRES: warnings != nullptr when lenient.
Result<TypeFilter> parse_type_filter(std::string_view text, bool lenient,
                                     std::vector<std::string>* warnings);

// The filters of one export, by type.
class TypeFilterSet {
 public:
  TypeFilterSet() = default;  // no filter: every record matches

  // Parses every filter (parse_type_filter; the first error is returned);
  // filters with the same canonical form count once.
  static Result<TypeFilterSet> parse(const std::vector<std::string>& texts, bool lenient,
                                     std::vector<std::string>* warnings);

  bool empty() const { return filters_.empty(); }
  // Every filter, sorted by canonical form.
  const std::vector<TypeFilter>& filters() const { return filters_; }
  // The types the filters name, sorted, unique.
  std::vector<std::string> types() const;
  // Whether some filter names `type` (its records must then match one).
  bool filters(std::string_view type) const;
  // Whether `resource`, a resource of `type`, is exported: true when no
  // filter names the type, else whether one of its filters matches.
  bool matches(std::string_view type, const Json& resource) const;
  // The canonical forms of every filter joined by single spaces ("" for
  // none): equal for sets that mean the same.
  std::string canonical() const;
  // With `types` (--type, sorted) non-empty: kInvalidArgument
  // "--type-filter 'TEXT': T is not one of the exported types (--type A,B)"
  // for the first filter whose type is not among them.
  Status check_types(const std::vector<std::string>& types) const;

 private:
  std::vector<TypeFilter> filters_;
  std::map<std::string, std::vector<std::size_t>, std::less<>> by_type_;
};

// The supported parameters of one type, as documented in ehr-export(1):
// each parameter's name and what it searches ("status (clinicalStatus)",
// "date (effective[x])"). Types with none are not listed.
struct TypeFilterParamsOfType {
  std::string type;
  std::vector<std::string> params;  // "name (element)"
};
std::vector<TypeFilterParamsOfType> type_filter_params();

}  // namespace ehr

#endif  // EHR_TYPE_FILTER_H_
