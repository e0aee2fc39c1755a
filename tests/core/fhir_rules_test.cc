// Tests of the FHIR rule loader (core/src/fhir_rules.cc): ehr's own embedded
// rule files load (a failure is a build defect) and broken ones are refused
// with the file and line.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "ehr/validate.h"
#include "fhir_rules.h"
#include "schemas.h"

using ehr::detail::load_fhir_rules;

namespace {

const char* kLegacy = "schema: ehr-loinc-legacy\nversion: 1\ncodes: [11491-6]\n";

std::string minimal(const std::string& resources, const std::string& invariants = "{}") {
  return "schema: ehr-fhir-rules\nversion: 1\n"
         "resource_types: [Patient, Observation]\n"
         "check_digits:\n"
         "  - {system: http://loinc.org, algorithm: loinc, rule: loinc-check-digit,"
         " label: LOINC code, coding: error, identifier: error}\n"
         "dates:\n  names: {birthDate: date}\n  suffixes: {DateTime: dateTime}\n"
         "  period_members: [start, end]\n"
         "security: {confidentiality_system: http://x, confidentiality_codes: [N]}\n"
         "invariants: " + invariants + "\n"
         "resources:\n" + resources;
}

std::string error_of(const std::string& resources_yaml, const std::string& legacy = kLegacy) {
  auto r = load_fhir_rules(resources_yaml, legacy);
  return r.ok() ? "ok" : r.error().message();
}

}  // namespace

TEST_SUITE("validate") {

TEST_CASE("the build's compiled type list is the rule file's, and is_r4_resource_type uses it") {
  const auto& rules = ehr::detail::embedded_fhir_rules();
  REQUIRE(rules.ok());
  auto compiled = ehr::detail::compiled_resource_types();
  std::vector<std::string> from_build(compiled.begin(), compiled.end());
  std::vector<std::string> from_file(rules->resource_types.begin(), rules->resource_types.end());
  CHECK(from_build == from_file);  // both sorted
  for (const char* t : {"Patient", "ExplanationOfBenefit", "Account", "VisionPrescription"})
    CHECK(ehr::is_r4_resource_type(t));
  for (const char* t : {"", "patient", "Resource", "DomainResource", "Patients", "Patien"})
    CHECK_FALSE(ehr::is_r4_resource_type(t));
}

TEST_CASE("the embedded FHIR rules load") {
  const auto& rules = ehr::detail::embedded_fhir_rules();
  REQUIRE_MESSAGE(rules.ok(), (rules.ok() ? "" : rules.error().message()));
  CHECK(rules->resource_types.size() == 146);
  CHECK(rules->loinc_legacy.size() == 14);
  CHECK(rules->check_digits.size() == 3);
  std::vector<std::string> first;
  for (const auto& [type, r] : rules->resources) first.push_back(type);
  CHECK(first == std::vector<std::string>{
                     "AllergyIntolerance", "AuditEvent", "CarePlan", "Condition", "Consent",
                     "DiagnosticReport", "DocumentReference", "Encounter", "Immunization",
                     "MedicationRequest", "MedicationStatement", "Observation", "Organization",
                     "Patient", "Practitioner", "Procedure", "Provenance"});
  for (const auto& t : first) CHECK(ehr::is_first_class_type(t));
  CHECK_FALSE(ehr::is_first_class_type("Claim"));
  CHECK_FALSE(ehr::is_first_class_type("patient"));
  CHECK(ehr::is_r4_resource_type("ExplanationOfBenefit"));
  CHECK_FALSE(ehr::is_r4_resource_type("Resource"));
  CHECK_FALSE(ehr::is_r4_resource_type("DomainResource"));
}

TEST_CASE("every invariant the YAML names is implemented, and every implemented one is named") {
  const auto& rules = ehr::detail::embedded_fhir_rules();
  REQUIRE(rules.ok());
  auto implemented = ehr::detail::implemented_invariants_for_testing();
  for (const auto& [name, info] : rules->invariants) {
    CAPTURE(name);
    CHECK(std::find(implemented.begin(), implemented.end(), name) != implemented.end());
  }
  for (std::string_view name : implemented) {
    CAPTURE(name);
    CHECK(rules->invariants.contains(name));
    bool used = false;
    for (const auto& [type, r] : rules->resources)
      used = used || std::find(r.invariants.begin(), r.invariants.end(), name) != r.invariants.end();
    CHECK(used);
  }
}

TEST_CASE("a minimal rule file loads") {
  auto r = load_fhir_rules(minimal("  Patient: {required: [link.other, \"deceased[x]\"]}\n"), kLegacy);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  REQUIRE(r->resources.contains("Patient"));
  CHECK(r->resources.find("Patient")->second.required.size() == 2);
  CHECK(r->loinc_legacy.contains("11491-6"));
}

TEST_CASE("broken rule files are refused with the file and line") {
  struct Case {
    std::string yaml;
    std::string legacy;
    std::string error;
  };
  const Case cases[] = {
      {"schema: [", kLegacy, "fhir/resources.yaml: line 1, column 1: "},
      {minimal("  Patient: {required: [\"a..b\"]}\n"), kLegacy,
       "fhir/resources.yaml: line 13, column 24: bad element path \"a..b\""},
      {minimal("  Patient: {required: [\"a[x].b\"]}\n"), kLegacy,
       "fhir/resources.yaml: line 13, column 24: bad element path \"a[x].b\""},
      {minimal("  Patients: {}\n"), kLegacy,
       "fhir/resources.yaml: line 13, column 3: \"Patients\" is not an R4 resource type"},
      {minimal("  Patient: {invariants: [pat-9]}\n"), kLegacy,
       "fhir/resources.yaml: line 13, column 26: invariant \"pat-9\" is not described under "
       "\"invariants\""},
      {minimal("  Patient: {}\n", "{pat-9: {severity: fatal, message: m}}"), kLegacy,
       "fhir/resources.yaml: line 11, column 32: severity \"fatal\" is neither error nor warning"},
      {minimal("  Patient: {bindings: [{path: gender}]}\n"), kLegacy,
       "fhir/resources.yaml: line 13, column 24: missing key \"codes\""},
      {minimal("  Patient: {dates: {birthDate: time}}\n"), kLegacy,
       "fhir/resources.yaml: line 13, column 32: expected date, dateTime or instant"},
      {"schema: ehr-fhir-rules\nversion: 2\n", kLegacy,
       "fhir/resources.yaml: line 2, column 10: unsupported version 2"},
      {"schema: ehr-config\nversion: 1\n", kLegacy,
       "fhir/resources.yaml: line 1, column 9: schema is \"ehr-config\", not ehr-fhir-rules"},
      {minimal("  Patient: {}\n"), "schema: ehr-loinc-legacy\nversion: 1\n",
       "fhir/loinc-legacy.yaml: line 1, column 1: missing key \"codes\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.yaml);
    std::string got = error_of(c.yaml, c.legacy);
    CHECK(got.substr(0, c.error.size()) == c.error);
  }
}

}
