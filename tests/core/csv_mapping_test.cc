// CSV to FHIR mappings (core/src/csv_mapping.cc): the template language,
// filters, conditions, ids, and the errors a mapping author or a bad row
// gets.
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "csv_mapping.h"
#include "ehr/json.h"

namespace {

using ehr::detail::BoundMapping;
using ehr::detail::CsvMapping;

const char* kLabs = R"(schema: ehr-csv-mapping
version: 1
name: labs
required: [MRN, CODE, WHEN]
aliases: {WHEN: [DATE, TAKEN]}
nulls: ["", "NA"]
maps:
  flag: {H: H, L: L, N: N, "*": ""}
resources:
  - id: {hash: [MRN, CODE, WHEN]}
    resource:
      resourceType: Observation
      status: final
      code:
        coding: [{system: http://loinc.org, code: "{CODE}"}]
        text: "{NAME|trim}"
      subject: {reference: "Patient/{MRN|lower}"}
      effectiveDateTime: "{WHEN|datetime}"
      valueQuantity:
        $if: VALUE
        value: "{VALUE|decimal}"
        unit: "{UNIT}"
      interpretation:
        - $if: "FLAG ~ ^[HL]$"
          coding: [{system: http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation, code: "{FLAG|map:flag}"}]
      note:
        - $if: [NOTE, "FLAG != N"]
          text: "{NOTE}"
      valueBoolean: {$if: "POSITIVE", $value: "{POSITIVE|boolean}"}
      status2: "{STATUS|or:registered}"
)";

CsvMapping parse(const char* yaml) {
  auto m = CsvMapping::parse(yaml, "labs.yaml");
  REQUIRE_MESSAGE(m.ok(), m.error().message());
  return std::move(*m);
}

std::string config_error(const std::string& yaml) {
  auto m = CsvMapping::parse(yaml, "m.yaml");
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code() == ehr::ErrorCode::kConfig);
  return m.error().message();
}

const std::string kHead = "schema: ehr-csv-mapping\nversion: 1\nname: t\n";

}  // namespace

TEST_SUITE("csv_mapping") {

TEST_CASE("a row becomes the template's resource; absent and null columns leave elements out") {
  CsvMapping m = parse(kLabs);
  std::vector<std::string> header = {"MRN", "CODE", "NAME", "TAKEN", "VALUE", "UNIT", "FLAG", "NOTE"};
  auto b = BoundMapping::bind(m, header);
  REQUIRE(b.ok());
  auto r = b->map_row({"A17", "2345-7", "  Glucose ", "2026-11-30 08:15:00Z", "5.4", "mmol/L", "H", "fasting"});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK(ehr::to_json((*r)[0].resource) ==
        R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}],"text":"Glucose"},)"
        R"("subject":{"reference":"Patient/a17"},"effectiveDateTime":"2026-11-30T08:15:00Z","valueQuantity":{"value":5.4,"unit":"mmol/L"},)"
        R"("interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"H"}]}],)"
        R"("note":[{"text":"fasting"}],"status2":"registered"})");
  CHECK((*r)[0].hash_key.find("A17") != std::string::npos);

  // NA is null: no valueQuantity; N fails the regex and the != condition.
  auto r2 = b->map_row({"A17", "2345-7", "", "2026-11-30", "NA", "mmol/L", "N", "x"});
  REQUIRE(r2.ok());
  CHECK(ehr::to_json((*r2)[0].resource) ==
        R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},)"
        R"("subject":{"reference":"Patient/a17"},"effectiveDateTime":"2026-11-30","status2":"registered"})");
}

TEST_CASE("the same key columns give the same id; another key another") {
  CsvMapping m = parse(kLabs);
  auto b = BoundMapping::bind(m, {"MRN", "CODE", "WHEN", "VALUE"});
  REQUIRE(b.ok());
  auto a1 = b->map_row({"A1", "2345-7", "2026-01-01", "1"});
  auto a2 = b->map_row({"A1", "2345-7", "2026-01-01", "2"});
  auto a3 = b->map_row({"A1", "2345-7", "2026-01-02", "1"});
  REQUIRE((a1.ok() && a2.ok() && a3.ok()));
  std::string id1 = ehr::detail::hashed_id((*a1)[0].hash_key);
  CHECK(id1 == ehr::detail::hashed_id((*a2)[0].hash_key));
  CHECK(id1 != ehr::detail::hashed_id((*a3)[0].hash_key));
  CHECK(id1.size() == 36);
  CHECK(id1[8] == '-');
}

TEST_CASE("row errors name the column, never its value") {
  CsvMapping m = parse(kLabs);
  auto b = BoundMapping::bind(m, {"MRN", "CODE", "WHEN", "VALUE", "POSITIVE", "FLAG"});
  REQUIRE(b.ok());
  auto empty = b->map_row({"A1", "", "2026-01-01", "1", "", ""});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message() == "column CODE: empty, and the mapping requires a value");
  auto dec = b->map_row({"A1", "2345-7", "2026-01-01", "five", "", ""});
  REQUIRE_FALSE(dec.ok());
  CHECK(dec.error().message() == "column VALUE: not a decimal number");
  auto date = b->map_row({"A1", "2345-7", "30/11/2026", "1", "", ""});
  REQUIRE_FALSE(date.ok());
  CHECK(date.error().message() == "column WHEN: not a FHIR dateTime (a date, or a date and time with a time zone)");
  // As ehr-import(1) says: a time needs a zone (the page once promised
  // "YYYY-MM-DD hh:mm:ss" would do).
  auto zoneless = b->map_row({"A1", "2345-7", "2026-11-30 08:15:00", "1", "", ""});
  REQUIRE_FALSE(zoneless.ok());
  CHECK(zoneless.error().message() ==
        "column WHEN: not a FHIR dateTime (a date, or a date and time with a time zone)");
  auto boolean = b->map_row({"A1", "2345-7", "2026-01-01", "1", "maybe", ""});
  REQUIRE_FALSE(boolean.ok());
  CHECK(boolean.error().message() == "column POSITIVE: not a boolean (true/false, yes/no, 1/0)");
}

TEST_CASE("binding: aliases, and a missing required column") {
  CsvMapping m = parse(kLabs);
  CHECK(BoundMapping::bind(m, {"MRN", "CODE", "DATE"}).ok());
  auto missing = BoundMapping::bind(m, {"MRN", "NAME", "DATE"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == "missing column CODE (the mapping labs needs MRN, CODE, WHEN)");
  CHECK(m.columns_known({"MRN", "DATE", "OTHER"}) == 2);
}

TEST_CASE("mapping errors name the file, line and column") {
  CHECK(config_error(kHead + "resources:\n  - resource: {resourceType: X, a: \"{A|shout}\"}\n") ==
        "m.yaml:5:36: unknown filter \"shout\" (known: map, or, present, decimal, integer, boolean, date, "
        "datetime, instant, lower, upper, trim, sctid)");
  CHECK(config_error(kHead + "resources:\n  - resource: {resourceType: X, a: \"{A|map:nope}\"}\n") ==
        "m.yaml:5:36: no map \"nope\" in this mapping's maps");
  CHECK(config_error(kHead + "resources:\n  - resource: {resourceType: X, a: \"{A\"}\n") ==
        "m.yaml:5:36: a placeholder { is never closed");
  CHECK(config_error(kHead + "colour: red\n").find("m.yaml:4:1: unknown key") == 0);
}

TEST_CASE("the Synthea mappings parse and each names its table") {
  const auto& all = ehr::detail::synthea_mappings();
  CHECK(all.size() == 16);
  std::vector<std::string> tables;
  for (const auto& m : all) tables.push_back(m.table());
  std::sort(tables.begin(), tables.end());
  CHECK(tables == std::vector<std::string>{"allergies", "careplans", "conditions", "devices", "encounters",
                                           "imaging_studies", "immunizations", "medications", "observations",
                                           "organizations", "patients", "payer_transitions", "payers",
                                           "procedures", "providers", "supplies"});
}

TEST_CASE("SNOMED CT ids rounded through a double are repaired, others left alone") {
  using ehr::detail::repair_rounded_sctid;
  // Synthea v3 CSV writes 10939881000119105 as ...104.
  CHECK(repair_rounded_sctid("10939881000119104") == std::optional<std::string>("10939881000119105"));
  CHECK_FALSE(repair_rounded_sctid("10939881000119105"));  // valid already
  CHECK_FALSE(repair_rounded_sctid("422034002"));          // short ids lose nothing
  CHECK_FALSE(repair_rounded_sctid("422034003"));          // short and wrong: validation's to reject
  CHECK_FALSE(repair_rounded_sctid("E11.9"));
  CHECK_FALSE(repair_rounded_sctid(""));
}

}
