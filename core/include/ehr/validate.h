// FHIR R4 resource validation: what R4 makes mandatory, plus ehr's local rules.
//
// The rules are data: schemas/fhir/resources.yaml (required elements, required
// bindings, invariant names, check-digit systems, date fields, the R4 resource
// types) and schemas/fhir/loinc-legacy.yaml, embedded in the binary and read
// once. Invariants that need code (con-5, org-1, ppc-1, ...) are implemented in
// core/src/validate.cc and named from the YAML.
//
// What is checked:
//  - every resource, any R4 type: a JSON object; resourceType names an R4
//    resource type; id syntax; every `reference` string; meta.security
//    codings; no empty strings, objects or arrays, no nulls; the syntax of
//    known date, dateTime and instant elements; check digits of LOINC, SNOMED
//    CT and NPI codes and identifiers, wherever they occur; the structure of
//    every R4 resource, backbone element and data type
//    (schemas/fhir/elements.txt): an object where R4 has a primitive or the
//    reverse, and an array where the element does not repeat or a single
//    value where it does, and two variants of one choice element
//    (valueString and valueBoolean), are errors, a member R4 does not define a warning
//    (unknown-element; record writes in records.cc refuse new ones, imports
//    keep them);
//  - every resource: a top-level resource tagged SUBSETTED
//    (v3-ObservationValue; a _summary or _elements search result) is an
//    error ("subsetted": an incomplete copy must not replace a complete
//    one); every modifierExtension a warning ("modifier-extension": ehr
//    knows none, and one may change what the record means); every
//    Narrative.div must be one well-formed XHTML <div> in the XHTML
//    namespace of R4's basic formatting elements and attributes, no script,
//    event handler or javascript: URL ("txt-1"), with some content other
//    than white space ("txt-2");
//  - the first-class types (is_first_class_type): required elements,
//    required bindings and invariants, also for contained resources and for
//    resources nested in a Bundle or Parameters.
// What is never an error: unknown elements (a warning), extensions, code systems ehr does
// not know, codes from other systems in extensible or preferred bindings.
// Codes are not looked up in any terminology: a LOINC code with a good check
// digit passes whether or not LOINC ever issued it.
//
// Thread safety: all functions may be called from several threads at once.

#ifndef EHR_VALIDATE_H_
#define EHR_VALIDATE_H_

#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"

namespace ehr {

// One finding about a resource.
struct ValidationIssue {
  // Where, as a FHIR path from the resource type, with array indices:
  // "Observation.code.coding[0].code", "Patient.identifier[1].system". A nested
  // resource adds its place: "Bundle.entry[3].resource.status". When the
  // input has no usable resourceType the root is "Resource".
  std::string path;
  // A stable rule id: "required", "binding", "loinc-check-digit",
  // "snomed-check-digit", "npi-check-digit", "id-syntax", "reference-syntax",
  // "reference-contained", "date-syntax", "empty-value", "null-value",
  // "resource-type", "json-type", "string-chars", "security-label",
  // "unknown-element" (a member R4 does not define: a warning), "choice-type"
  // (two variants of one value[x]), "subsetted", "modifier-extension" (a
  // warning), "txt-1", "txt-2", or an invariant name
  // ("con-5", "org-1", "ppc-1", "ehr-pat-1", ...).
  std::string rule;
  // Lower case, no final period: "LOINC code fails its check digit". Never
  // quotes a value of the resource (a code, a date, a reference, an id): the
  // message goes to terminals and cron logs, which must not hold health data.
  // Only an unknown resourceType is named, and the allowed codes are listed.
  std::string message;
  // True for a violation of R4 or of an ehr rule; false for a warning about
  // what R4 only recommends (kept and reported, never a reason to refuse).
  bool is_error = true;

  friend bool operator==(const ValidationIssue&, const ValidationIssue&) = default;
};

// Returns every issue found in `resource`: all errors first, then all warnings,
// each group in document order. An empty result means valid and clean.
// `resource` may be any JSON value; a non-object gives one "json-type" error.
// Never fails: if ehr's own rule files did not load (a build defect, which
// the validate tests catch) it returns one "internal" error, so nothing passes
// unvalidated.
std::vector<ValidationIssue> validate_resource(const Json& resource);

// Returns whether `issues` holds at least one error (warnings do not count).
bool has_errors(const std::vector<ValidationIssue>& issues);

// A warning's message as printed when the record is written anyway: an
// unknown element's says it was kept ("element not defined in R4 (kept)").
std::string warning_message(const ValidationIssue& issue);

// Renders an issue as "<path>: <message>", e.g.
// "Observation.code.coding[0].code: LOINC code fails its check digit",
// or only the message when the path is empty.
std::string format_issue(const ValidationIssue& issue);

// Returns whether `type` is one of the resource types ehr validates in depth
// (Patient, Encounter, Condition, Observation, MedicationRequest,
// MedicationStatement, AllergyIntolerance, Immunization, Procedure,
// DiagnosticReport, DocumentReference, CarePlan, Practitioner, Organization,
// Provenance, Consent, AuditEvent): those with a section in resources.yaml.
bool is_first_class_type(std::string_view type);

// Returns whether `type` is an R4 (4.0.1) resource type name ("Patient",
// "ExplanationOfBenefit"; not "Resource", not "patient").
bool is_r4_resource_type(std::string_view type);

// --- check digits -----------------------------------------------------------
// Pure functions of their argument; none trims or normalises it.

// Luhn (mod 10): true when `digits` is non-empty, all ASCII digits, and its
// last digit is the Luhn check digit of the rest.
bool luhn_valid(std::string_view digits);

// Verhoeff (dihedral group D5): true when `digits` is non-empty, all ASCII
// digits, and the Verhoeff checksum over all of them is 0.
bool verhoeff_valid(std::string_view digits);

// LOINC: "<base>-<check digit>". A numeric base (1 to 7 digits, e.g. 2345-7)
// uses LOINC's mod 10 (= Luhn); a base with an upper-case letter prefix (Part
// LP..., Answer LA..., Group LG..., answer list LL..., local X...) uses the
// OpenMRS variant LOINC documents for them. The 14 deprecated codes that LOINC
// publishes with wrong check digits (11491-6, 5895-7, ...;
// schemas/fhir/loinc-legacy.yaml) are valid.
bool loinc_code_valid(std::string_view code);

// NPI: 10 ASCII digits, first digit 1 or 2, last digit the Luhn check digit
// computed with the card-issuer prefix 80840 (1234567893 is valid).
bool npi_valid(std::string_view npi);

// SNOMED CT identifier (SCTID): 6 to 18 ASCII digits, no leading zero, a known
// partition id in the two digits before the check digit (00-05, 10-15), and a
// Verhoeff check digit (22298006 is valid, 22298007 is not). Says nothing about
// whether the identifier names a concept, a description or a relationship.
bool snomed_sctid_valid(std::string_view sctid);

}  // namespace ehr

#endif  // EHR_VALIDATE_H_
