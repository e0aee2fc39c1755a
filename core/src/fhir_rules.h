// The FHIR validation rules as loaded from schemas/fhir/resources.yaml and
// schemas/fhir/loinc-legacy.yaml (see the comment at the top of
// resources.yaml for their meaning). validate.cc applies them; check_digits.cc
// reads the LOINC legacy list.

#ifndef EHR_CORE_FHIR_RULES_H_
#define EHR_CORE_FHIR_RULES_H_

#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ehr/status.h"

namespace ehr::detail {

enum class DateKind { kDate, kDateTime, kInstant, kTime };

// "date", "dateTime", "instant" or "time".
std::string_view date_kind_name(DateKind kind);

// An element path split at ".": {"protocolApplied", "doseNumber[x]"}.
using ElementPath = std::vector<std::string>;

struct BindingRule {
  ElementPath path;
  std::string system;               // empty: binds a code; else a CodeableConcept
  std::vector<std::string> codes;   // the allowed codes, in the YAML's order
};

struct CheckDigitRule {
  std::string system;      // "http://loinc.org"
  std::string algorithm;   // "loinc", "snomed" or "npi"
  std::string rule;        // the rule id, "loinc-check-digit"
  std::string label;       // how a message names a value: "LOINC code"
  bool coding_error = true;      // severity for a Coding.code
  bool identifier_error = true;  // severity for an Identifier.value
};

struct InvariantInfo {
  bool is_error = true;
  std::string message;
};

struct ResourceRules {
  std::vector<ElementPath> required;
  std::vector<BindingRule> bindings;
  std::vector<std::string> invariants;                  // names, in YAML order
  std::vector<std::pair<ElementPath, DateKind>> dates;  // resource-specific
};

struct FhirRules {
  std::set<std::string, std::less<>> resource_types;
  std::vector<CheckDigitRule> check_digits;
  std::map<std::string, DateKind, std::less<>> date_names;
  std::vector<std::pair<std::string, DateKind>> date_suffixes;
  std::vector<std::string> period_members;
  std::string confidentiality_system;
  std::vector<std::string> confidentiality_codes;
  std::map<std::string, ResourceRules, std::less<>> resources;
  std::map<std::string, InvariantInfo, std::less<>> invariants;
  std::set<std::string, std::less<>> loinc_legacy;

  // The check-digit rule for `system`, or nullptr.
  const CheckDigitRule* check_digit_rule(std::string_view system) const;
};

// Builds the rules from the text of the two files. Errors are kInvalidData
// naming the file and the line: YAML syntax, a missing or malformed section,
// an unknown algorithm or severity, a resource naming an invariant that the
// `invariants` section does not describe, a resource type under `resources`
// that is not in `resource_types`.
Result<FhirRules> load_fhir_rules(std::string_view resources_yaml,
                                  std::string_view loinc_legacy_yaml);

// The rules from the embedded schema files, loaded on first use (thread-safe).
// Fails only if those files are missing or broken: a build defect.
const Result<FhirRules>& embedded_fhir_rules();

// The resource_types of the embedded resources.yaml, sorted, as the build
// compiled them (tools/schema_compile_gen.cc): for checking a type name
// without loading the rules.
std::span<const std::string_view> compiled_resource_types();

// One element of a FHIR R4 definition (schemas/fhir/elements.txt): its name
// and what it holds: the index in compiled_element_defs() of an object's
// definition, kPrimitive for a primitive, kAnyResource for a resource (by its
// resourceType).
struct FhirElement {
  static constexpr int kPrimitive = -1;
  static constexpr int kAnyResource = -2;
  // Primitives of a date type, whose syntax the validator checks.
  static constexpr int kDate = -4, kDateTime = -5, kInstant = -6, kTime = -7;
  static constexpr bool is_primitive(int target) { return target == kPrimitive || (target <= kDate && target >= kTime); }
  std::string_view name;
  int target;
  bool repeats;  // 0..*: a JSON array; else a single value
  std::string_view choice;  // a choice element's variant: its "value[x]"; else ""
};

// A resource, backbone element (Condition_Stage) or data type and its
// elements, sorted by name; _x, the extension of primitive x, is not listed.
struct FhirElementDef {
  std::string_view name;
  std::span<const FhirElement> elements;
};

// Every definition of schemas/fhir/elements.txt, sorted by name, as the
// build compiled them (tools/schema_compile_gen.cc).
std::span<const FhirElementDef> compiled_element_defs();

// The names of the invariants implemented in C++ (validate.cc), which the
// YAML may name; a test checks that it names no other.
std::vector<std::string_view> implemented_invariants_for_testing();

}  // namespace ehr::detail

#endif  // EHR_CORE_FHIR_RULES_H_
