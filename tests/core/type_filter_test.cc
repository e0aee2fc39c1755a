// Type filters (core/src/type_filter.cc): parse errors and their exact text,
// --lenient warnings, the canonical form, and matching at the boundaries:
// tokens over several codings, code elements and missing elements, dates
// with prefixes on partial dates, periods that straddle a bound, open
// periods and time zones, AND within a filter and OR between values and
// filters.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "ehr/json.h"
#include "ehr/type_filter.h"

namespace ehr {
namespace {

Json doc(const std::string& text) {
  auto j = parse_json(text);
  REQUIRE_MESSAGE(j.ok(), text);
  return std::move(*j);
}

// Whether the one filter `filter` matches `resource`.
bool match(const std::string& filter, const std::string& resource) {
  auto f = parse_type_filter(filter, false, nullptr);
  REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.error().message()));
  return f->matches(doc(resource));
}

const std::string kObservation =
    R"({"resourceType":"Observation","id":"o1","status":"final",)"
    R"("category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],)"
    R"("code":{"coding":[{"system":"http://loinc.org","code":"2345-7"},{"system":"urn:local","code":"GLU"},{"code":"bare"}]},)"
    R"("effectiveDateTime":"2020-03-15T10:00:00Z"})";

TEST_SUITE("type_filter") {
  TEST_CASE(
      "a malformed filter or an unsupported parameter is refused with the filter and parameter "
      "named") {
    struct Case {
      const char* filter;
      const char* message;  // after "--type-filter 'FILTER': "
      bool lenient_helps;   // --lenient turns it into a warning
    };
    const Case cases[] = {
        {"status=final", "not Type?param=value[&param=value...]", false},
        {"?status=final", "not Type?param=value[&param=value...]", false},
        {"Foo?status=x", "Foo is not a FHIR R4 resource type", false},
        {"Observation?", "no parameter after '?'", false},
        {"Observation?&&", "no parameter after '?'", false},
        {"Observation?_sort=date",
         "_sort is not allowed in a type filter (Bulk Data forbids _sort, _include, _revinclude "
         "and _elements there)",
         false},
        {"Observation?status=final&_include=Observation:subject",
         "_include is not allowed in a type filter (Bulk Data forbids _sort, _include, _revinclude "
         "and _elements "
         "there)",
         false},
        {"Observation?_elements=id",
         "_elements is not allowed in a type filter (Bulk Data forbids _sort, _include, "
         "_revinclude and _elements "
         "there)",
         false},
        {"Observation?_revinclude:iterate=Provenance:target",
         "_revinclude is not allowed in a type filter (Bulk Data forbids _sort, _include, "
         "_revinclude and "
         "_elements there)",
         false},
        {"Observation?foo=bar",
         "foo: not a supported parameter for Observation (it supports category, code, date, "
         "status)",
         true},
        {"Observation?subject=Patient/p1",
         "subject: not a supported parameter for Observation (it supports category, code, date, "
         "status)",
         true},
        {"Observation?subject.name=Doe",
         "subject.name: not a supported parameter for Observation (it supports category, code, "
         "date, status)",
         true},
        {"Observation?_lastUpdated=gt2020",
         "_lastUpdated: not a supported parameter for Observation (it supports category, code, "
         "date, status); "
         "--since and --until select by last change",
         true},
        {"Patient?status=active", "status: Patient supports no type filter parameter", true},
        {"Encounter?category=x",
         "category: not a supported parameter for Encounter (it supports code, date, status)",
         true},
        {"Observation?code:text=glucose", "code:text: modifiers are not supported", true},
        {"Observation?status:not=final", "status:not: modifiers are not supported", true},
        {"Observation?=final", "=final: no parameter name", true},
        {"Observation?status", "status: no value (write status=VALUE)", true},
        {"Observation?status=", "status=: no value", true},
        {"Observation?status=final,,amended", "status=final,,amended: an empty value", true},
        {"Observation?code=%zz", "code=%zz: a bad %-escape in the value", true},
        {"Observation?co%2=x", "co%2=x: a bad %-escape in the name", true},
        {"Observation?code=a|b|c",
         "code=a|b|c: a|b|c has more than one '|' (escape a literal one as \\|)", true},
        {"Observation?code=|", "code=|: '|' alone names neither a system nor a code", true},
        {"Observation?status=http://hl7.org/fhir/observation-status|final",
         "status=http://hl7.org/fhir/observation-status|final: status of Observation is a plain "
         "code, without a "
         "system: give the code alone (final)",
         true},
        {"Observation?date=2020-13",
         "date=2020-13: 2020-13 is not a date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss] "
         "with Z or +hh:mm)",
         true},
        {"Observation?date=2021-02-29",
         "date=2021-02-29: 2021-02-29 is not a date (YYYY, YYYY-MM, YYYY-MM-DD or "
         "YYYY-MM-DDThh:mm[:ss] with Z or "
         "+hh:mm)",
         true},
        {"Observation?date=2020-03-15T10:00:00",
         "date=2020-03-15T10:00:00: 2020-03-15T10:00:00 is not a date (YYYY, YYYY-MM, YYYY-MM-DD "
         "or "
         "YYYY-MM-DDThh:mm[:ss] with Z or +hh:mm)",
         true},
        {"Observation?date=ge2020-03-15T10:00:00+01:00",
         "date=ge2020-03-15T10:00:00+01:00: 2020-03-15T10:00:00 01:00 is not a date (YYYY, "
         "YYYY-MM, YYYY-MM-DD or "
         "YYYY-MM-DDThh:mm[:ss] with Z or +hh:mm); a '+' in a filter is a space: write a +hh:mm "
         "offset as %2B",
         true},
        {"Observation?date=ap2020",
         "date=ap2020: ap2020: the prefix ap (approximately) is not supported (eq, ne, lt, le, gt, "
         "ge, sa, eb)",
         true},
        {"Observation?date=xx2020",
         "date=xx2020: xx2020 is not a date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss] "
         "with Z or +hh:mm, "
         "after an optional prefix eq, ne, lt, le, gt, ge, sa or eb)",
         true},
    };
    for (const auto& c : cases) {
      CAPTURE(c.filter);
      auto f = parse_type_filter(c.filter, false, nullptr);
      REQUIRE_FALSE(f.ok());
      CHECK(f.error().code() == ErrorCode::kInvalidArgument);
      CHECK(f.error().message() == std::string("--type-filter '") + c.filter + "': " + c.message);
      std::vector<std::string> warnings;
      auto lenient = parse_type_filter(c.filter, true, &warnings);
      CHECK(lenient.ok() == c.lenient_helps);
      if (c.lenient_helps) {
        CHECK(warnings == std::vector<std::string>{std::string("--type-filter '") + c.filter +
                                                   "': ignoring " + c.message});
      } else {
        CHECK(warnings.empty());
      }
    }
  }

  TEST_CASE("--lenient drops only the parameters it warns about") {
    std::vector<std::string> warnings;
    auto f = parse_type_filter("Observation?foo=1&status=final&code:text=x", true, &warnings);
    REQUIRE(f.ok());
    CHECK(f->canonical == "Observation?status=final");
    CHECK(warnings.size() == 2);
    CHECK(f->matches(doc(kObservation)));
    // Nothing left: every record of the type matches.
    auto none = parse_type_filter("Patient?active=true", true, &warnings);
    REQUIRE(none.ok());
    CHECK(none->params.empty());
    CHECK(none->canonical == "Patient?");
    CHECK(none->matches(doc(R"({"resourceType":"Patient","id":"p"})")));
  }

  TEST_CASE("the canonical form: sorted, unique, decoded then escaped, aliases by their name") {
    const std::pair<const char*, const char*> cases[] = {
        {"Observation?status=final,amended", "Observation?status=amended,final"},
        {"Observation?status=final&status=final", "Observation?status=final"},
        {"Observation?status=final,final", "Observation?status=final"},
        {"Observation?code=http%3A%2F%2Floinc.org%7C2345-7",
         "Observation?code=http://loinc.org|2345-7"},
        {"Observation?code=http://loinc.org|2345-7,http://loinc.org|",
         "Observation?code=http://loinc.org|,http://loinc.org|2345-7"},
        {"Observation?date=lt2021&date=ge2020", "Observation?date=ge2020&date=lt2021"},
        {"Observation?date=eq2020", "Observation?date=2020"},
        {"Observation?date=ge2020-01-01T10:00:00%2B01:00",
         "Observation?date=ge2020-01-01T10:00:00%2B01:00"},
        {"Observation?category=laboratory&code=GLU&status=final",
         "Observation?category=laboratory&code=GLU&status=final"},
        {"Observation?status=final&code=GLU&category=laboratory",
         "Observation?category=laboratory&code=GLU&status=final"},
        {"Condition?clinical-status=active", "Condition?status=active"},
        {"Immunization?vaccine-code=08", "Immunization?code=08"},
        {"Encounter?type=185349003", "Encounter?code=185349003"},
        {"MedicationRequest?authoredon=ge2020", "MedicationRequest?date=ge2020"},
        {"Observation?code=a\\,b", "Observation?code=a\\,b"},
        {"Observation?code=a%2Cb", "Observation?code=a,b"},
        {"Observation?code=two+words;x", "Observation?code=two%20words%3Bx"},
        {"Observation?code=it's", "Observation?code=it%27s"},
    };
    for (const auto& [text, canonical] : cases) {
      CAPTURE(text);
      auto f = parse_type_filter(text, false, nullptr);
      REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.error().message()));
      CHECK(f->canonical == canonical);
      CHECK(f->text == text);
    }
  }

  TEST_CASE(
      "tokens: every coding counts, with or without a system; a missing element never matches") {
    const std::pair<const char*, bool> cases[] = {
        {"Observation?code=2345-7", true},
        {"Observation?code=GLU", true},  // the second coding
        {"Observation?code=bare", true},
        {"Observation?code=http://loinc.org|2345-7", true},
        {"Observation?code=http://loinc.org|GLU", false},  // not in that system
        {"Observation?code=urn:local|GLU", true},
        {"Observation?code=http://loinc.org|", true},
        {"Observation?code=http://snomed.info/sct|", false},
        {"Observation?code=|bare", true},  // the coding without a system
        {"Observation?code=|GLU", false},  // GLU has a system
        {"Observation?code=2345", false},  // codes compare whole
        {"Observation?code=glu", false},   // and case-sensitively
        {"Observation?status=final", true},
        {"Observation?status=|final", true},
        {"Observation?status=amended", false},
        {"Observation?category=laboratory", true},
        {"Observation?category=http://terminology.hl7.org/CodeSystem/"
         "observation-category|laboratory",
         true},
        {"Observation?category=vital-signs", false},
        // OR within a parameter, AND between parameters.
        {"Observation?status=amended,final", true},
        {"Observation?status=amended,corrected", false},
        {"Observation?status=final&code=GLU", true},
        {"Observation?status=final&code=nope", false},
        {"Observation?code=nope,GLU&category=laboratory", true},
        {"Observation?code=nope,GLU&category=laboratory,vital-signs&status=preliminary", false},
    };
    for (const auto& [filter, expected] : cases) {
      CAPTURE(filter);
      CHECK(match(filter, kObservation) == expected);
    }
    // Missing elements: no category, no code, no status.
    const std::string bare = R"({"resourceType":"Observation","id":"o2"})";
    CHECK_FALSE(match("Observation?category=laboratory", bare));
    CHECK_FALSE(match("Observation?code=GLU", bare));
    CHECK_FALSE(match("Observation?status=final", bare));
    CHECK_FALSE(match("Observation?date=ne2020", bare));
    // A coding without code, an empty coding list.
    CHECK_FALSE(match(
        "Observation?code=http://loinc.org|x",
        R"({"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org"}]}})"));
    CHECK(match(
        "Observation?code=http://loinc.org|",
        R"({"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org"}]}})"));
    CHECK_FALSE(
        match("Observation?code=x", R"({"resourceType":"Observation","code":{"text":"x"}})"));
  }

  TEST_CASE(
      "status per type: clinicalStatus of Condition and AllergyIntolerance, lifecycleStatus of "
      "Goal") {
    const std::string condition =
        R"({"resourceType":"Condition","id":"c1","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},)"
        R"("category":[{"coding":[{"code":"problem-list-item"}]}],"onsetDateTime":"2019-06"})";
    CHECK(match("Condition?status=active", condition));
    CHECK(match("Condition?clinical-status=active", condition));
    CHECK(match("Condition?status=http://terminology.hl7.org/CodeSystem/condition-clinical|active",
                condition));
    CHECK_FALSE(match("Condition?status=resolved", condition));
    CHECK(match("Condition?category=problem-list-item", condition));
    CHECK(match("Condition?date=2019", condition));
    CHECK(match("Condition?onset-date=lt2019-06-15", condition));
    // Abated: no clinicalStatus in the record (entered-in-error) matches nothing.
    CHECK_FALSE(match("Condition?status=active", R"({"resourceType":"Condition","id":"c2"})"));

    const std::string allergy =
        R"({"resourceType":"AllergyIntolerance","id":"a1","clinicalStatus":{"coding":[{"code":"active"}]},)"
        R"("category":["food","medication"],"recordedDate":"2021-01-05"})";
    CHECK(match("AllergyIntolerance?status=active", allergy));
    CHECK(match("AllergyIntolerance?category=medication", allergy));
    CHECK(match("AllergyIntolerance?category=|food", allergy));
    CHECK_FALSE(match("AllergyIntolerance?category=environment", allergy));
    CHECK(match("AllergyIntolerance?date=2021-01", allergy));
    auto system = parse_type_filter(
        "AllergyIntolerance?category=http://hl7.org/fhir/allergy-intolerance-category|food", false,
        nullptr);
    REQUIRE_FALSE(system.ok());
    CHECK(system.error().message() ==
          "--type-filter "
          "'AllergyIntolerance?category=http://hl7.org/fhir/allergy-intolerance-category|food': "
          "category=http://hl7.org/fhir/allergy-intolerance-category|food: category of "
          "AllergyIntolerance is a "
          "plain code, without a system: give the code alone (food)");

    CHECK(match("Goal?status=active", R"({"resourceType":"Goal","lifecycleStatus":"active"})"));
    CHECK(match(
        "Encounter?status=finished&code=185349003",
        R"({"resourceType":"Encounter","status":"finished","type":[{"coding":[{"code":"1"}]},{"coding":[{"system":"http://snomed.info/sct","code":"185349003"}]}]})"));
    CHECK(match(
        "MedicationRequest?code=860975&status=active",
        R"({"resourceType":"MedicationRequest","status":"active","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"860975"}]}})"));
    CHECK_FALSE(match(
        "MedicationRequest?code=860975",
        R"({"resourceType":"MedicationRequest","status":"active","medicationReference":{"reference":"Medication/m"}})"));
    CHECK(match(
        "Immunization?code=http://hl7.org/fhir/sid/cvx|140&date=2020",
        R"({"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"140"}]},"occurrenceDateTime":"2020-10-01"})"));
    CHECK_FALSE(match(
        "Immunization?date=2020",
        R"({"resourceType":"Immunization","status":"completed","occurrenceString":"autumn 2020"})"));
  }

  TEST_CASE("dates: prefixes on partial dates, at the boundaries") {
    struct Case {
      const char* value;    // the date parameter's value
      const char* element;  // the record's effective[x], as a JSON member
      bool expected;
    };
    const char* at = R"("effectiveDateTime":"2020-03-15T10:00:00Z")";
    const char* month = R"("effectiveDateTime":"2020-03")";
    const char* straddle = R"("effectivePeriod":{"start":"2020-05-20","end":"2020-06-10"})";
    const char* open_end = R"("effectivePeriod":{"start":"2020-05-20T08:00:00Z"})";
    const char* open_start = R"("effectivePeriod":{"end":"2020-05-20"})";
    const char* zoned = R"("effectiveDateTime":"2020-03-15T23:30:00-05:00")";
    const char* fraction = R"("effectiveDateTime":"2020-03-15T10:00:00.5Z")";
    const char* instant = R"("effectiveInstant":"2020-03-15T10:00:00.000Z")";
    const Case cases[] = {
        // A time against days, months and years.
        {"2020", at, true},
        {"2020-03", at, true},
        {"2020-03-15", at, true},
        {"eq2020-03-15", at, true},
        {"2020-04", at, false},
        {"ne2020-04", at, true},
        {"ne2020-03-15", at, false},
        {"gt2020-03-14", at, true},
        {"gt2020-03-15", at, false},  // within that day, not after it
        {"ge2020-03-15", at, true},
        {"lt2020-03-15", at, false},
        {"le2020-03-15", at, true},
        {"lt2020-03-16", at, true},
        {"sa2020-03-14", at, true},
        {"sa2020-03-15", at, false},
        {"eb2020-03-16", at, true},
        {"eb2020-03-15", at, false},
        {"gt2020", at, false},
        {"lt2021", at, true},
        {"ge2021", at, false},
        {"le2019", at, false},
        // Times: to the minute, the second; zones.
        {"2020-03-15T10:00Z", at, true},
        {"2020-03-15T10:00:00Z", at, true},
        {"2020-03-15T11:00:00%2B01:00", at, true},
        {"gt2020-03-15T10:00:00Z", at, false},
        {"ge2020-03-15T10:00:00Z", at, true},
        {"lt2020-03-15T10:00:01Z", at, true},
        {"2020-03-15T10:00:01Z", at, false},
        // A record to the month: a day within it neither contains it nor is it.
        {"2020-03-15", month, false},
        {"ne2020-03-15", month, true},
        {"gt2020-03-15", month, true},
        {"lt2020-03-15", month, true},
        {"2020", month, true},
        {"sa2020-02", month, true},  // starts exactly where February ends
        {"sa2020-03-01", month, false},
        {"eb2020-04", month, true},  // ends exactly where April starts
        {"eb2020-03-31", month, false},
        {"ge2020-04", month, false},
        {"le2020-02", month, false},
        // A period straddling the bound matches both sides of it.
        {"lt2020-06-01", straddle, true},
        {"gt2020-06-01", straddle, true},
        {"2020-06-01", straddle, false},
        {"ne2020-06-01", straddle, true},
        {"ge2020-06-01", straddle, true},
        {"le2020-06-01", straddle, true},
        {"sa2020-06-01", straddle, false},
        {"eb2020-06-01", straddle, false},
        {"2020-06", straddle, false},
        {"2020", straddle, true},
        {"sa2020-05-19", straddle, true},
        {"eb2020-06-11", straddle, true},
        {"eb2020-06-10", straddle, false},  // its end is the whole of June 10
        // Open periods reach forever.
        {"gt2999", open_end, true},
        {"2020", open_end, false},
        {"lt2020-05-20", open_end, false},
        {"lt2020-05-21", open_end, true},
        {"sa2020-05-19", open_end, true},
        {"eb2999", open_end, false},
        {"lt1900", open_start, true},
        {"eb2020-05-21", open_start, true},
        {"gt2020-05-19", open_start, true},
        {"gt2020-05-20", open_start, false},
        // A zone moves the instant to another UTC day.
        {"2020-03-16", zoned, true},
        {"2020-03-15", zoned, false},
        // Fractions: their precision.
        {"2020-03-15T10:00:00Z", fraction, true},
        {"2020-03-15T10:00:00Z", instant, true},
    };
    for (const auto& c : cases) {
      CAPTURE(c.value);
      CAPTURE(c.element);
      std::string resource =
          std::string(R"({"resourceType":"Observation","id":"o",)") + c.element + "}";
      CHECK(match(std::string("Observation?date=") + c.value, resource) == c.expected);
    }
    // Malformed or unsearchable values in the record never match.
    for (const char* element :
         {R"("effectiveDateTime":"2020-02-30")", R"("effectiveDateTime":"yesterday")",
          R"("effectivePeriod":{})", R"("effectivePeriod":{"start":"x"})",
          R"("effectiveTiming":{"event":["2020-03-15"]})"}) {
      CAPTURE(element);
      std::string resource =
          std::string(R"({"resourceType":"Observation","id":"o",)") + element + "}";
      CHECK_FALSE(match("Observation?date=2020", resource));
      CHECK_FALSE(match("Observation?date=ne2020", resource));
    }
    // A range: two date parameters ANDed; two values ORed.
    const std::string r = std::string(R"({"resourceType":"Observation",)") + at + "}";
    CHECK(match("Observation?date=ge2020-03&date=lt2020-04", r));
    CHECK_FALSE(match("Observation?date=ge2020-04&date=lt2020-05", r));
    CHECK(match("Observation?date=2019,2020", r));
    CHECK_FALSE(match("Observation?date=2019,2021", r));
  }

  TEST_CASE("a set: filters of a type ORed, types filtered independently, others not at all") {
    std::vector<std::string> warnings;
    auto set = TypeFilterSet::parse({"Observation?status=amended", "Condition?status=active",
                                     "Observation?code=GLU", "Observation?code=GLU"},
                                    false, &warnings);
    REQUIRE(set.ok());
    CHECK(warnings.empty());
    CHECK(set->filters().size() == 3);
    CHECK(set->types() == std::vector<std::string>{"Condition", "Observation"});
    CHECK(set->canonical() ==
          "Condition?status=active Observation?code=GLU Observation?status=amended");
    CHECK(set->filters("Observation"));
    CHECK_FALSE(set->filters("Patient"));
    CHECK(set->matches("Observation", doc(kObservation)));  // code=GLU, though not amended
    CHECK_FALSE(
        set->matches("Observation", doc(R"({"resourceType":"Observation","status":"final"})")));
    CHECK_FALSE(set->matches("Condition", doc(R"({"resourceType":"Condition"})")));
    CHECK(set->matches("Patient", doc(R"({"resourceType":"Patient"})")));
    // The same filters in another order and spelling: the same canonical form.
    auto again = TypeFilterSet::parse(
        {"Observation?code=GLU", "Condition?clinical-status=active", "Observation?status=amended"},
        false, &warnings);
    REQUIRE(again.ok());
    CHECK(again->canonical() == set->canonical());
    // --type: every filter's type among the exported ones.
    CHECK(set->check_types({}).ok());
    CHECK(set->check_types({"Condition", "Observation", "Patient"}).ok());
    auto refused = set->check_types({"Observation", "Patient"});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message() ==
          "--type-filter 'Condition?status=active': Condition is not one of the exported types "
          "(--type "
          "Observation,Patient)");
    // The first error of a set is its error.
    auto bad =
        TypeFilterSet::parse({"Observation?status=final", "Observation?nope=1"}, false, &warnings);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message() ==
          "--type-filter 'Observation?nope=1': nope: not a supported parameter for Observation (it "
          "supports "
          "category, code, date, status)");
    CHECK(TypeFilterSet().empty());
    CHECK(TypeFilterSet().canonical().empty());
  }

  TEST_CASE("the documented table: the clinical types have their parameters") {
    std::map<std::string, std::vector<std::string>> table;
    for (const auto& t : type_filter_params()) table[t.type] = t.params;
    CHECK(table["Observation"] == std::vector<std::string>{"category (category)", "code (code)",
                                                           "date (effective[x])",
                                                           "status (status)"});
    CHECK(table["Condition"] == std::vector<std::string>{"category (category)", "code (code)",
                                                         "date (onset[x])",
                                                         "status (clinicalStatus)"});
    CHECK(table["MedicationRequest"] ==
          std::vector<std::string>{"category (category)", "code (medicationCodeableConcept)",
                                   "date (authoredOn)", "status (status)"});
    CHECK(table["Immunization"] == std::vector<std::string>{"code (vaccineCode)",
                                                            "date (occurrence[x])",
                                                            "status (status)"});
    CHECK(table["Encounter"] ==
          std::vector<std::string>{"code (type)", "date (period)", "status (status)"});
    CHECK(table.count("Patient") == 0);
    CHECK(table.count("Practitioner") == 0);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
