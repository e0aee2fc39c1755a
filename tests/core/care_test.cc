// Decision support (core/src/care.cc, core/src/care_rules.cc): dates and
// ages, the shipped rules at every boundary, the allergy class relations and
// the lab flags, table-driven.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "ehr/summary.h"
#include "ehr/builders.h"
#include "ehr/care.h"
#include "ehr/json.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

CivilDate d(const char* text) {
  auto v = parse_civil_date(text);
  REQUIRE_MESSAGE(v.has_value(), text);
  return *v;
}

const CareRules& shipped() {
  static const CareRules rules = [] {
    auto r = CareRules::load("");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
    return *r;
  }();
  return rules;
}

const CareRule& rule(const char* name) {
  auto sel = shipped().select({name});
  REQUIRE_MESSAGE(sel.ok(), name);
  return *sel->front();
}

CarePatient patient(const char* birth, const char* sex = "female") {
  CarePatient p;
  p.id = "p1";
  p.birth = d(birth);
  p.sex = sex;
  return p;
}

CareEvidence ev(const char* type, const char* system, const char* code, const char* date,
                const char* status = "", const char* verification = "", std::optional<double> value = {}) {
  static int n = 0;
  CareEvidence e;
  e.patient = "p1";
  e.type = type;
  e.id = "e" + std::to_string(++n);
  e.system = code_system_uri(system);
  e.code = code;
  if (*date) e.date = d(date);
  e.status = status;
  e.verification = verification;
  e.value = value;
  return e;
}

std::string status_of(const char* rule_name, const CarePatient& p, const std::vector<CareEvidence>& evidence,
                      const char* as_of) {
  return care_status_name(evaluate_care_rule(rule(rule_name), p, evidence, d(as_of)).status);
}

}  // namespace

TEST_SUITE("care") {

TEST_CASE("dates: parsing, completed ages with a 29 February birthday, and periods clamp to the month's end") {
  CHECK(parse_civil_date("2024-02-29").has_value());
  CHECK(parse_civil_date("2024-02-29T10:00:00Z").has_value());
  CHECK_FALSE(parse_civil_date("2025-02-29").has_value());
  CHECK_FALSE(parse_civil_date("2024").has_value());
  CHECK_FALSE(parse_civil_date("2024-13-01").has_value());
  CHECK_FALSE(parse_civil_date("2024-02-29x").has_value());
  struct Age {
    const char* birth;
    const char* on;
    int years, months;
  };
  const Age ages[] = {
      {"2000-02-29", "2001-02-28", 0, 11}, {"2000-02-29", "2001-03-01", 1, 12},
      {"2000-02-29", "2004-02-29", 4, 48}, {"2000-02-28", "2001-02-28", 1, 12},
      {"1981-06-15", "2026-06-14", 44, 539}, {"1981-06-15", "2026-06-15", 45, 540},
      {"2025-01-31", "2025-02-28", 0, 0},   {"2025-01-31", "2025-03-01", 0, 1},
      {"2026-01-01", "2025-12-31", -1, -1},
  };
  for (const auto& a : ages) {
    CAPTURE(a.birth);
    CAPTURE(a.on);
    CHECK(age_in_years(d(a.birth), d(a.on)) == a.years);
    CHECK(age_in_months(d(a.birth), d(a.on)) == a.months);
  }
  struct Sub {
    const char* from;
    const char* period;
    const char* want;
  };
  const Sub subs[] = {{"2028-02-29", "1y", "2027-02-28"}, {"2025-03-31", "1m", "2025-02-28"},
                      {"2024-03-31", "1m", "2024-02-29"}, {"2026-06-01", "10y", "2016-06-01"},
                      {"2025-03-01", "1d", "2025-02-28"}, {"2025-01-07", "2w", "2024-12-24"},
                      {"2026-06-01", "6m", "2025-12-01"}};
  for (const auto& s : subs) {
    CAPTURE(s.from);
    CAPTURE(s.period);
    CHECK(format_civil_date(subtract_period(d(s.from), *parse_care_period(s.period))) == s.want);
  }
  CHECK(format_civil_date(add_period(d("2024-02-29"), *parse_care_period("1y"))) == "2025-02-28");
  for (const char* bad : {"10x", "y", "", "1.5y", "-1y"}) {
    auto p = parse_care_period(bad);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().message() == std::string("bad period ") + bad +
                                     " (expected N followed by d, w, m or y; ever; season)");
  }
  CHECK(parse_care_period("ever")->unit == CarePeriod::Unit::kEver);
  CHECK(parse_care_period("season")->unit == CarePeriod::Unit::kSeason);
}

TEST_CASE("the shipped rules load, each with its source, version and effective date") {
  const CareRules& r = shipped();
  std::vector<std::string> names;
  for (const auto& x : r.rules) {
    names.push_back(x.name());
    CHECK_FALSE(x.source.empty());
    CHECK(parse_civil_date(x.effective).has_value());
  }
  CHECK(names == std::vector<std::string>{"blood-pressure-screening@2021", "breast-cancer-screening@2016",
                                          "breast-cancer-screening@2024", "colorectal-cancer-screening@2021",
                                          "hba1c-monitoring@2025", "influenza-vaccine@2025-26",
                                          "pneumococcal-vaccine@2022"});
  auto def = r.select({});
  REQUIRE(def.ok());
  CHECK(def->size() == 6);
  CHECK(rule("breast-cancer-screening").version == "2024");
  CHECK(rule("breast-cancer-screening@2016").version == "2016");
  auto unknown = r.select({"mammogram"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message() ==
        "unknown care rule mammogram (known: blood-pressure-screening, breast-cancer-screening, "
        "colorectal-cancer-screening, hba1c-monitoring, influenza-vaccine, pneumococcal-vaccine)");
  auto version = r.select({"breast-cancer-screening@2009"});
  REQUIRE_FALSE(version.ok());
  CHECK(version.error().message() == "rule breast-cancer-screening has no version 2009 (known: 2016, 2024)");
  CHECK(r.drugs.drugs.size() > 30);
  CHECK(r.labs.rows.size() == 11);
}

TEST_CASE("a due list evaluates each rule with the version in effect on its as-of date") {
  struct Case {
    const char* as_of;
    std::vector<std::string> names;
    std::vector<std::string> chosen;
    std::vector<std::string> notes;
  };
  const std::vector<Case> cases = {
      // Every rule in effect: the defaults.
      {"2026-06-01", {}, {"blood-pressure-screening@2021", "breast-cancer-screening@2024",
                          "colorectal-cancer-screening@2021", "hba1c-monitoring@2025",
                          "influenza-vaccine@2025-26", "pneumococcal-vaccine@2022"}, {}},
      // The 2024 breast rule takes effect on 2024-04-30: the day before, 2016 applies.
      {"2024-04-29", {"breast-cancer-screening"}, {"breast-cancer-screening@2016"}, {}},
      {"2024-04-30", {"breast-cancer-screening"}, {"breast-cancer-screening@2024"}, {}},
      // A version named is evaluated as named, whatever its date.
      {"2020-05-01", {"breast-cancer-screening@2024"}, {"breast-cancer-screening@2024"}, {}},
      {"2025-08-01", {"influenza-vaccine"}, {"influenza-vaccine@2025-26"}, {}},
      // Of every rule, one before its first version is left out, with a note.
      {"2025-07-31", {}, {"blood-pressure-screening@2021", "breast-cancer-screening@2024",
                          "colorectal-cancer-screening@2021", "hba1c-monitoring@2025", "pneumococcal-vaccine@2022"},
       {"influenza-vaccine: no version in effect on 2025-07-31 (2025-26 is effective from 2025-08-01)"}},
      {"2016-01-11", {}, {},
       {"blood-pressure-screening: no version in effect on 2016-01-11 (2021 is effective from 2021-04-27)",
        "breast-cancer-screening: no version in effect on 2016-01-11 (2016 is effective from 2016-01-12)",
        "colorectal-cancer-screening: no version in effect on 2016-01-11 (2021 is effective from 2021-05-18)",
        "hba1c-monitoring: no version in effect on 2016-01-11 (2025 is effective from 2025-01-01)",
        "influenza-vaccine: no version in effect on 2016-01-11 (2025-26 is effective from 2025-08-01)",
        "pneumococcal-vaccine: no version in effect on 2016-01-11 (2022 is effective from 2022-01-28)"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.as_of);
    auto sel = shipped().select_on(c.names, d(c.as_of));
    REQUIRE(sel.ok());
    std::vector<std::string> chosen;
    for (const auto* r : sel->rules) chosen.push_back(r->name());
    CHECK(chosen == c.chosen);
    CHECK(sel->not_in_effect == c.notes);
  }
  // Named, a rule with no version in effect is an error: an empty list would read as "nobody is due".
  auto early = shipped().select_on({"colorectal-cancer-screening", "influenza-vaccine"}, d("2025-07-31"));
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code() == ErrorCode::kInvalidArgument);
  CHECK(early.error().message() ==
        "rule influenza-vaccine has no version in effect on 2025-07-31 (2025-26 is effective from 2025-08-01); "
        "name a version (influenza-vaccine@2025-26) to evaluate it anyway");
  auto unknown = shipped().select_on({"mammogram"}, d("2026-06-01"));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message().rfind("unknown care rule mammogram (known: ", 0) == 0);
}

TEST_CASE("rule files are checked: unknown keys, bad values, two defaults, none") {
  const std::string base =
      "schema: ehr-care-rule\nid: x\nversion: \"1\"\ntitle: X\nsource: S\neffective: 2026-01-01\n"
      "bands:\n  - {min_age: 18y, result: due}\n"
      "satisfied_by:\n  - {name: bp, within: 1y, codes: [{system: loinc, codes: [\"8480-6\"]}]}\n";
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {base + "colour: red\n", "x.yaml:11:1: unknown key colour in a care rule"},
      {"schema: ehr-care-rule\nid: x\nversion: \"1\"\ntitle: X\nsource: S\neffective: 2026-13-01\n",
       "x.yaml:6:12: effective must be a date YYYY-MM-DD, not 2026-13-01"},
      {std::string(base).replace(base.find("result: due"), 11, "result: soon"),
       "x.yaml:8:28: result must be due or consider, not soon"},
      {std::string(base).replace(base.find("within: 1y"), 10, "within: 1q"),
       "x.yaml:10:24: bad period 1q (expected N followed by d, w, m or y; ever; season)"},
      {std::string(base).replace(base.find("within: 1y"), 10, "within: season"),
       "x.yaml:1:1: an option within season needs season_start: MM-DD"},
      {"schema: ehr-care-rules\n",
       "x.yaml:1:9: unknown schema ehr-care-rules (expected ehr-care-rule, ehr-care-drug-classes or "
       "ehr-care-lab-ranges)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = CareRules::parse({{"x.yaml", c.text}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kConfig);
    CHECK(r.error().message() == c.error);
  }
  auto twice = CareRules::parse({{"a.yaml", base}, {"b.yaml", base}});
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message() == "b.yaml: rule x version 1 is defined twice");
  std::string no_default = base + "default: false\n";
  auto none = CareRules::parse({{"a.yaml", no_default}});
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message() == "rule x has no default version");
  auto ok = CareRules::parse({{"a.yaml", base}});
  REQUIRE(ok.ok());
  CHECK(ok->rules.front().is_default);
  auto missing = CareRules::load("/nonexistent/care");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == "care rules directory /nonexistent/care does not exist");
}

TEST_CASE("colorectal screening: age on the as-of date, look-back windows, exclusions") {
  struct Case {
    const char* birth;
    const char* as_of;
    std::vector<CareEvidence> evidence;
    const char* status;
  };
  const Case cases[] = {
      // Age bands: 45-75 due, 76-85 consider, completed years on the as-of date.
      {"1981-06-02", "2026-06-01", {}, "not-applicable"},  // 44
      {"1981-06-01", "2026-06-01", {}, "due"},             // 45 today
      {"1950-06-02", "2026-06-01", {}, "due"},             // 75
      {"1950-06-01", "2026-06-01", {}, "consider"},        // 76 today
      {"1940-06-02", "2026-06-01", {}, "consider"},        // 85
      {"1940-06-01", "2026-06-01", {}, "not-applicable"},  // 86
      // A 29 February birthday is reached on 1 March in a common year.
      {"1980-02-29", "2025-02-28", {}, "not-applicable"},
      {"1980-02-29", "2025-03-01", {}, "due"},
      // Colonoscopy within 10 years: the day exactly 10 years back counts.
      {"1960-01-01", "2026-06-01", {ev("Procedure", "snomed", "73761001", "2016-06-01", "completed")}, "satisfied"},
      {"1960-01-01", "2026-06-01", {ev("Procedure", "snomed", "73761001", "2016-05-31", "completed")}, "overdue"},
      // FIT within 1 year.
      {"1960-01-01", "2026-06-01", {ev("Observation", "loinc", "29771-3", "2025-06-01", "final")}, "satisfied"},
      {"1960-01-01", "2026-06-01", {ev("Observation", "loinc", "29771-3", "2025-05-31", "final")}, "overdue"},
      // Stool DNA-FIT within 3 years; CT colonography within 5.
      {"1960-01-01", "2026-06-01", {ev("Observation", "loinc", "77353-1", "2023-06-01", "final")}, "satisfied"},
      {"1960-01-01", "2026-06-01", {ev("Procedure", "snomed", "418714002", "2021-05-31", "completed")}, "overdue"},
      // A colonoscopy not done, or after the as-of date, does not count; nor one of another type.
      {"1960-01-01", "2026-06-01", {ev("Procedure", "snomed", "73761001", "2020-01-01", "not-done")}, "due"},
      {"1960-01-01", "2026-06-01", {ev("Procedure", "snomed", "73761001", "2026-06-02", "completed")}, "due"},
      {"1960-01-01", "2026-06-01", {ev("Observation", "snomed", "73761001", "2020-01-01", "final")}, "due"},
      // Exclusions: prior colorectal cancer (SNOMED or ICD-10 prefix), polyps; a refuted one does not exclude.
      {"1960-01-01", "2026-06-01", {ev("Condition", "snomed", "363406005", "2015-03-01", "resolved")}, "not-applicable"},
      {"1960-01-01", "2026-06-01", {ev("Condition", "icd10", "C18.9", "", "active")}, "not-applicable"},
      {"1960-01-01", "2026-06-01", {ev("Condition", "snomed", "68496003", "2019-01-01", "active")}, "not-applicable"},
      {"1960-01-01", "2026-06-01", {ev("Condition", "snomed", "363406005", "2015-03-01", "", "refuted")}, "due"},
      {"1960-01-01", "2026-06-01", {ev("Condition", "snomed", "363406005", "2027-01-01", "active")}, "due"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.birth);
    CAPTURE(c.as_of);
    CAPTURE(c.evidence.empty() ? std::string() : c.evidence.front().code + " " + format_civil_date(c.evidence.front().date.value_or(CivilDate{})));
    CHECK(status_of("colorectal-cancer-screening", patient(c.birth), c.evidence, c.as_of) == c.status);
  }
  // What an overdue result says.
  CareResult r = evaluate_care_rule(rule("colorectal-cancer-screening"), patient("1960-01-01"),
                                    {ev("Procedure", "snomed", "73761001", "2016-05-31", "completed")}, d("2026-06-01"));
  CHECK(r.status == CareStatus::kOverdue);
  CHECK(r.last_date == "2016-05-31");
  CHECK(r.last_what == "colonoscopy");
  CHECK(r.due_since == "2026-06-01");
  CHECK(r.detail == "last colonoscopy 2016-05-31 is outside the window");
  CHECK(*r.age == 66);
  CareResult due = evaluate_care_rule(rule("colorectal-cancer-screening"), patient("1960-01-01"), {}, d("2026-06-01"));
  CHECK(due.detail ==
        "none on record: colonoscopy, CT colonography, flexible sigmoidoscopy, FIT, high-sensitivity gFOBT, stool DNA-FIT");
  CHECK(due.last_ref.empty());
  CarePatient dead = patient("1960-01-01");
  dead.deceased = true;
  CHECK(status_of("colorectal-cancer-screening", dead, {}, "2026-06-01") == "not-applicable");
}

TEST_CASE("breast screening: the 2024 rule by default, 2016 selectable; sex from birth") {
  struct Case {
    const char* rule;
    const char* birth;
    const char* sex;
    const char* status;
  };
  const Case cases[] = {
      {"breast-cancer-screening", "1986-06-01", "female", "due"},            // 40 on the as-of date
      {"breast-cancer-screening", "1986-06-02", "female", "not-applicable"}, // 39
      {"breast-cancer-screening@2016", "1986-06-01", "female", "consider"},  // 40-49: individual decision
      {"breast-cancer-screening@2016", "1976-06-01", "female", "due"},       // 50
      {"breast-cancer-screening", "1951-06-02", "female", "due"},            // 74
      {"breast-cancer-screening", "1951-06-01", "female", "consider"},       // 75
      {"breast-cancer-screening", "1976-06-01", "male", "not-applicable"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.rule);
    CAPTURE(c.birth);
    CHECK(status_of(c.rule, patient(c.birth, c.sex), {}, "2026-06-01") == c.status);
  }
  auto mammogram = ev("Procedure", "snomed", "71651007", "2024-06-01", "completed");
  CHECK(status_of("breast-cancer-screening", patient("1970-01-01"), {mammogram}, "2026-06-01") == "satisfied");
  CHECK(status_of("breast-cancer-screening", patient("1970-01-01"), {mammogram}, "2026-06-02") == "overdue");
}

TEST_CASE("influenza: the season starts on 1 August; young children need two doses in their first season") {
  struct Case {
    const char* birth;
    const char* as_of;
    std::vector<const char*> doses;
    const char* status;
    const char* due_since;
  };
  const Case cases[] = {
      {"1970-01-01", "2026-07-31", {"2025-08-01"}, "satisfied", ""},
      {"1970-01-01", "2026-08-01", {"2025-08-01"}, "overdue", "2026-08-01"},
      {"1970-01-01", "2025-10-01", {"2025-07-31"}, "overdue", "2025-08-01"},
      {"1970-01-01", "2025-10-01", {}, "due", "2025-08-01"},
      {"1970-01-01", "2026-01-15", {"2025-09-10"}, "satisfied", ""},
      {"2025-04-02", "2025-10-01", {}, "not-applicable", ""},  // 5 months
      {"2025-04-01", "2025-10-01", {}, "due", "2025-08-01"},   // 6 months
      // First season, aged 4: two doses at least 28 days apart.
      {"2022-01-15", "2026-10-15", {"2026-09-01"}, "due", "2026-09-29"},
      {"2022-01-15", "2026-10-15", {"2026-09-01", "2026-09-28"}, "due", "2026-09-29"},
      {"2022-01-15", "2026-10-15", {"2026-09-01", "2026-09-29"}, "satisfied", ""},
      // Vaccinated in an earlier season: one dose is enough.
      {"2022-01-15", "2026-10-15", {"2025-10-01", "2026-09-01"}, "satisfied", ""},
      // Aged 9: one dose.
      {"2017-01-15", "2026-10-15", {"2026-09-01"}, "satisfied", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.birth);
    CAPTURE(c.as_of);
    std::vector<CareEvidence> evidence;
    for (const char* dose : c.doses) evidence.push_back(ev("Immunization", "cvx", "140", dose, "completed"));
    CareResult r = evaluate_care_rule(rule("influenza-vaccine"), patient(c.birth), evidence, d(c.as_of));
    CHECK(care_status_name(r.status) == c.status);
    CHECK(r.due_since == c.due_since);
  }
  CHECK(status_of("influenza-vaccine", patient("1970-01-01"),
                  {ev("Immunization", "cvx", "140", "2025-09-10", "not-done")}, "2026-01-15") == "due");
}

TEST_CASE("HbA1c: diabetics only; 6 months at goal, 3 months above goal or after a medication change") {
  auto diabetes = ev("Condition", "snomed", "44054006", "2015-01-01", "active");
  auto a1c = [](const char* date, double v) { return ev("Observation", "loinc", "4548-4", date, "final", "", v); };
  struct Case {
    std::vector<CareEvidence> evidence;
    const char* status;
  };
  const Case cases[] = {
      {{a1c("2025-12-01", 6.5)}, "not-applicable"},  // no diabetes on the problem list
      {{ev("Condition", "snomed", "15777000", "2015-01-01", "active")}, "not-applicable"},  // prediabetes
      {{ev("Condition", "snomed", "44054006", "2015-01-01", "resolved")}, "not-applicable"},
      {{ev("Condition", "snomed", "44054006", "2015-01-01", "", "entered-in-error")}, "not-applicable"},
      {{ev("Condition", "icd10", "E11.9", "2015-01-01", "active")}, "due"},
      {{diabetes}, "due"},
      {{diabetes, a1c("2025-12-01", 6.5)}, "satisfied"},   // exactly 6 months back
      {{diabetes, a1c("2025-11-30", 6.5)}, "overdue"},
      {{diabetes, a1c("2026-03-01", 7.0)}, "satisfied"},   // above goal: exactly 3 months back
      {{diabetes, a1c("2026-02-28", 7.0)}, "overdue"},
      {{diabetes, a1c("2026-02-28", 6.9)}, "satisfied"},
      {{diabetes, a1c("2026-01-15", 6.5), ev("MedicationRequest", "rxnorm", "860975", "2026-04-01", "active")}, "overdue"},
      {{diabetes, a1c("2026-01-15", 6.5), ev("MedicationRequest", "rxnorm", "860975", "2026-02-28", "active")}, "satisfied"},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    CAPTURE(i);
    CHECK(status_of("hba1c-monitoring", patient("1960-01-01"), cases[i].evidence, "2026-06-01") == cases[i].status);
  }
  CareResult r = evaluate_care_rule(rule("hba1c-monitoring"), patient("1960-01-01"), {diabetes, a1c("2026-02-28", 7.0)},
                                    d("2026-06-01"));
  CHECK(r.detail == "last HbA1c 2026-02-28 is outside the window; window shortened: last value 7 at or above 7");
  CHECK(r.due_since == "2026-05-29");
}

// Stop 28's list: the tightening compared a value's number and ignored its
// comparator, so ">6.5" (which may be 12) kept the 6-month window.
TEST_CASE("hba1c: a value with a comparator tightens the window unless its bound is below the goal") {
  auto diabetes = ev("Condition", "snomed", "44054006", "2015-01-01", "active");
  auto a1c = [](double v, const char* comparator) {
    CareEvidence e = ev("Observation", "loinc", "4548-4", "2026-01-15", "final", "", v);
    e.comparator = comparator;
    return e;
  };
  struct Case {
    double value;
    const char* comparator;
    const char* status;  // 2026-01-15 is within 6 months of the as-of date, not within 3
    const char* detail;
  };
  const Case cases[] = {
      {6.5, "", "satisfied", ""},
      {6.5, ">", "overdue", "last value >6.5 may be at or above 7"},
      {6.5, ">=", "overdue", "last value >=6.5 may be at or above 7"},
      {8.0, "<", "overdue", "last value <8 may be at or above 7"},
      {7.0, "<", "satisfied", ""},
      {7.0, "<=", "overdue", "last value <=7 may be at or above 7"},
      {6.0, "<=", "satisfied", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CAPTURE(c.comparator);
    CareResult r = evaluate_care_rule(rule("hba1c-monitoring"), patient("1960-01-01"), {diabetes, a1c(c.value, c.comparator)},
                                      d("2026-06-01"));
    CHECK(care_status_name(r.status) == c.status);
    if (*c.detail) CHECK(r.detail == fmt::format("last HbA1c 2026-01-15 is outside the window; window shortened: {}", c.detail));
  }
}

// QA finding care 13, second half: a patient neither female nor male was
// "not applicable" to a sex-specific rule without a word.
TEST_CASE("a sex-specific rule is not evaluated, within its ages, for a patient neither female nor male") {
  struct Case {
    const char* birth;
    const char* sex;
    bool not_evaluated;
    const char* detail;
  };
  const Case cases[] = {
      {"1970-01-01", "unknown", true, "sex unknown: the rule is for female patients"},
      {"1970-01-01", "other", true, "sex other: the rule is for female patients"},
      {"1970-01-01", "", true, "sex not recorded: the rule is for female patients"},
      {"2000-01-01", "unknown", false, "age"},  // 26: outside the rule's ages
      {"1970-01-01", "male", false, "sex"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.sex);
    CAPTURE(c.birth);
    CareResult r = evaluate_care_rule(rule("breast-cancer-screening"), patient(c.birth, c.sex), {}, d("2026-06-01"));
    CHECK(r.not_evaluated == c.not_evaluated);
    CHECK(care_status_name(r.status) == "not-applicable");
    CHECK(r.detail == c.detail);
  }
  // A rule for any sex is evaluated as usual.
  CHECK(status_of("colorectal-cancer-screening", patient("1960-01-01", "unknown"), {}, "2026-06-01") == "due");
}

// QA finding care 11: a positive FIT counted as screening done for a year,
// while a positive stool test calls for a follow-up colonoscopy.
TEST_CASE("colorectal screening: a positive stool test is due for a follow-up, never satisfied") {
  auto fit = [](const char* date, bool positive) {
    CareEvidence e = ev("Observation", "loinc", "29771-3", date, "final");
    e.positive = positive;
    return e;
  };
  auto colonoscopy = [](const char* date) { return ev("Procedure", "snomed", "73761001", date, "completed"); };
  CHECK(status_of("colorectal-cancer-screening", patient("1960-01-01"), {fit("2026-01-10", false)}, "2026-06-01") ==
        "satisfied");
  CareEvidence positive = fit("2026-01-10", true);
  CareResult r = evaluate_care_rule(rule("colorectal-cancer-screening"), patient("1960-01-01"), {positive}, d("2026-06-01"));
  CHECK(care_status_name(r.status) == "due");
  CHECK(r.last_ref == "Observation/" + positive.id);
  CHECK(r.last_what == "FIT (positive)");
  CHECK(r.due_since == "2026-01-10");
  CHECK(r.detail == "positive FIT 2026-01-10: a follow-up is due (a repeat does not count)");
  // An older negative test does not cover a newer positive one, nor a newer
  // negative repeat; nor does a colonoscopy before it, still within its 10 years.
  CHECK(status_of("colorectal-cancer-screening", patient("1960-01-01"), {fit("2025-09-01", false), positive},
                  "2026-06-01") == "due");
  CHECK(status_of("colorectal-cancer-screening", patient("1960-01-01"), {positive, fit("2026-03-01", false)},
                  "2026-06-01") == "due");
  CHECK(status_of("colorectal-cancer-screening", patient("1960-01-01"), {colonoscopy("2020-01-10"), positive},
                  "2026-06-01") == "due");
  // The follow-up colonoscopy satisfies the rule.
  CHECK(status_of("colorectal-cancer-screening", patient("1960-01-01"), {positive, colonoscopy("2026-02-20")},
                  "2026-06-01") == "satisfied");
  // At 80 (grade C) it is still to consider.
  CHECK(status_of("colorectal-cancer-screening", patient("1946-01-01"), {positive}, "2026-06-01") == "consider");
}

TEST_CASE("result_positive reads interpretations, coded values, conclusions and words") {
  struct Case {
    const char* json;
    bool positive;
  };
  const Case cases[] = {
      {R"({"resourceType":"Observation","valueQuantity":{"value":3.1,"unit":"ng/mL"}})", false},
      {R"({"resourceType":"Observation","interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"POS"}]}]})", true},
      {R"({"resourceType":"Observation","interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"NEG"}]}]})", false},
      {R"({"resourceType":"Observation","interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"A"}]}]})", true},
      {R"({"resourceType":"Observation","interpretation":[{"text":"Abnormal"}]})", true},
      {R"({"resourceType":"Observation","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"10828004"}]}})", true},
      {R"({"resourceType":"Observation","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009","display":"Negative"}]}})", false},
      {R"({"resourceType":"Observation","valueCodeableConcept":{"text":"Not detected"}})", false},
      {R"({"resourceType":"Observation","valueCodeableConcept":{"text":"Detected"}})", true},
      {R"({"resourceType":"Observation","valueString":"POSITIVE"})", true},
      {R"({"resourceType":"Observation","valueString":"non-reactive"})", false},
      {R"({"resourceType":"Observation","valueString":"normal"})", false},
      {R"({"resourceType":"DiagnosticReport","conclusionCode":[{"coding":[{"system":"http://snomed.info/sct","code":"260373001"}]}]})", true},
      {R"({"resourceType":"DiagnosticReport","conclusion":"Occult blood present."})", true},
      {R"({"resourceType":"DiagnosticReport","conclusion":"No occult blood; negative."})", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    auto j = parse_json(c.json);
    REQUIRE(j.ok());
    CHECK(result_positive(*j) == c.positive);
  }
}

TEST_CASE("pneumococcal at 65: PCV20 at any age, PPSV23 only at 65 or older; blood pressure by age") {
  auto pcv20 = [](const char* date) { return ev("Immunization", "cvx", "216", date, "completed"); };
  auto ppsv23 = [](const char* date) { return ev("Immunization", "cvx", "33", date, "completed"); };
  struct Case {
    const char* birth;
    std::vector<CareEvidence> evidence;
    const char* status;
  };
  const Case cases[] = {
      {"1961-06-01", {}, "due"},              // 65 on the as-of date
      {"1961-06-02", {}, "not-applicable"},   // 64
      {"1950-01-01", {pcv20("2000-01-01")}, "satisfied"},
      {"1950-01-01", {ppsv23("2014-12-31")}, "due"},   // at 64: does not count
      {"1950-01-01", {ppsv23("2015-01-01")}, "satisfied"},
      {"1950-01-01", {ev("Immunization", "cvx", "133", "2016-01-01", "completed")}, "due"},  // PCV13 alone
  };
  for (const auto& c : cases) {
    CAPTURE(c.birth);
    CHECK(status_of("pneumococcal-vaccine", patient(c.birth), c.evidence, "2026-06-01") == c.status);
  }
  auto bp = [](const char* date) { return ev("Observation", "loinc", "85354-9", date, "final"); };
  struct Bp {
    const char* birth;
    const char* last;
    const char* status;
  };
  const Bp bps[] = {
      {"2008-06-02", "", "not-applicable"},        // 17
      {"2008-06-01", "", "due"},                   // 18
      {"1990-01-01", "2023-06-01", "satisfied"},   // 36: every 3 years
      {"1990-01-01", "2023-05-31", "overdue"},
      {"1986-06-01", "2024-12-01", "overdue"},     // 40: every year
      {"1986-06-01", "2025-06-01", "satisfied"},
  };
  for (const auto& c : bps) {
    CAPTURE(c.birth);
    CAPTURE(c.last);
    std::vector<CareEvidence> e;
    if (*c.last) e.push_back(bp(c.last));
    CHECK(status_of("blood-pressure-screening", patient(c.birth), e, "2026-06-01") == c.status);
  }
}

namespace {

Json coded(const char* system, const char* code, const char* display) {
  Json coding = Json::object();
  coding.set("system", Json::string(code_system_uri(system)));
  coding.set("code", Json::string(code));
  coding.set("display", Json::string(display));
  Json codings = Json::array();
  codings.push_back(coding);
  Json c = Json::object();
  c.set("coding", codings);
  return c;
}

Json text_concept(const char* text) {
  Json c = Json::object();
  c.set("text", Json::string(text));
  return c;
}

Json allergy(Json code, const char* verification = "confirmed", const char* clinical = "active") {
  Json a = Json::object();
  a.set("resourceType", Json::string("AllergyIntolerance"));
  a.set("id", Json::string("a1"));
  a.set("clinicalStatus", coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", clinical, clinical));
  a.set("verificationStatus",
        coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", verification, verification));
  a.set("code", std::move(code));
  return a;
}

Json medication(Json code) {
  Json m = Json::object();
  m.set("resourceType", Json::string("MedicationRequest"));
  m.set("id", Json::string("m1"));
  m.set("status", Json::string("active"));
  m.set("medicationCodeableConcept", std::move(code));
  return m;
}

}  // namespace

TEST_CASE("medication-allergy: each class relation, and refuted or entered-in-error allergies never fire") {
  const DrugClassMap& map = shipped().drugs;
  Json penicillin = allergy(coded("snomed", "91936005", "Allergy to penicillin"));
  Json amoxicillin_allergy = allergy(text_concept("Amoxicillin"));
  Json ceftazidime_allergy = allergy(text_concept("ceftazidime"));
  Json sulfa = allergy(text_concept("Sulfa drugs"));
  struct Case {
    const char* what;
    Json allergy;
    Json med;
    const char* severity;  // "" = no conflict
    const char* basis;
  };
  const Case cases[] = {
      {"penicillin x amoxicillin (same class)", penicillin,
       coded("rxnorm", "308182", "Amoxicillin 250 MG Oral Capsule"), "high", "same class (penicillins)"},
      {"penicillin x amoxicillin by RxNorm ingredient", penicillin, coded("rxnorm", "723", "x"), "high",
       "same class (penicillins)"},
      {"amoxicillin x amoxicillin/clavulanate (same drug)", amoxicillin_allergy,
       coded("rxnorm", "562251", "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet"), "high", "same drug"},
      {"amoxicillin x penicillin V (same class)", amoxicillin_allergy,
       coded("rxnorm", "834061", "Penicillin V Potassium 250 MG Oral Tablet"), "high", "same class (penicillins)"},
      {"penicillin x cephalexin (side chain shared with the class)", penicillin,
       coded("rxnorm", "309114", "Cephalexin 500 MG Oral Capsule"), "moderate",
       "shared side chain (aminopenicillin R1) with penicillins"},
      {"amoxicillin x cephalexin (side chain shared with the allergen)", amoxicillin_allergy,
       coded("rxnorm", "309114", "Cephalexin 500 MG Oral Capsule"), "high",
       "shared side chain (aminopenicillin R1) with amoxicillin"},
      {"penicillin x cefazolin (raised rate)", penicillin, text_concept("cefazolin 1 g IV"), "moderate",
       "raised reaction rate with penicillins"},
      {"penicillin x ceftriaxone (other beta-lactam)", penicillin, coded("rxnorm", "2193", "ceftriaxone"), "info",
       "other beta-lactam (cephalosporins)"},
      {"penicillin x meropenem", penicillin, text_concept("Meropenem 1 G Injection"), "info",
       "other beta-lactam (carbapenems)"},
      {"penicillin x aztreonam", penicillin, text_concept("aztreonam"), "info", "other beta-lactam (monobactams)"},
      {"ceftazidime x aztreonam (shared side chain)", ceftazidime_allergy, text_concept("aztreonam"), "high",
       "shared side chain (ceftazidime-aztreonam R1) with ceftazidime"},
      {"sulfa x co-trimoxazole", sulfa, text_concept("Sulfamethoxazole 800 MG / Trimethoprim 160 MG Oral Tablet"),
       "high", "same class (sulfonamides)"},
      {"penicillin x azithromycin (unrelated)", penicillin, text_concept("Azithromycin 250 MG"), "", ""},
      {"penicillin x an unknown drug", penicillin, coded("rxnorm", "310798", "Hydrochlorothiazide 25 MG"), "", ""},
      {"refuted", allergy(coded("snomed", "91936005", "Allergy to penicillin"), "refuted"),
       text_concept("amoxicillin"), "", ""},
      {"entered in error", allergy(coded("snomed", "91936005", "Allergy to penicillin"), "entered-in-error"),
       text_concept("amoxicillin"), "", ""},
      {"resolved", allergy(coded("snomed", "91936005", "Allergy to penicillin"), "confirmed", "resolved"),
       text_concept("amoxicillin"), "", ""},
      {"a word inside another word does not match", allergy(text_concept("penicillinase")),
       text_concept("amoxicillin"), "", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto got = check_medication_allergies(map, medication(c.med), {c.allergy});
    if (*c.severity == '\0') {
      CHECK(got.empty());
      continue;
    }
    REQUIRE(got.size() == 1);
    CHECK(got[0].severity == c.severity);
    CHECK(got[0].basis == c.basis);
    CHECK(got[0].allergy_ref == "AllergyIntolerance/a1");
  }
  // A contained Medication is resolved through its reference.
  Json med = Json::object();
  med.set("resourceType", Json::string("MedicationStatement"));
  Json contained = Json::object();
  contained.set("resourceType", Json::string("Medication"));
  contained.set("id", Json::string("med"));
  contained.set("code", coded("rxnorm", "733", "Ampicillin"));
  Json list = Json::array();
  list.push_back(contained);
  med.set("contained", list);
  Json ref = Json::object();
  ref.set("reference", Json::string("#med"));
  med.set("medicationReference", ref);
  auto got = check_medication_allergies(map, med, {penicillin, amoxicillin_allergy});
  REQUIRE(got.size() == 2);
  CHECK(got[0].medication == "ampicillin");
  CHECK(got[1].basis == "same class (penicillins)");
  CHECK(got[1].allergy == "Amoxicillin");
  CHECK(got[0].allergy == "Allergy to penicillin");
}

TEST_CASE("medication-allergy: a product (SCD) code alone finds its drug, in every class that has one") {
  // An order carries the product's RxNorm code, not the ingredient's; the
  // display here names no drug, so only the code can match. (The class map
  // has no confirmed product code for a carbapenem: that class is reached
  // through ingredient codes and names only.)
  const DrugClassMap& map = shipped().drugs;
  struct Case {
    const char* allergen;  // the allergy's text: a class name
    const char* code;      // RxNorm product code of the medication
    const char* drug;      // the drug it must resolve to
    const char* cls;
  };
  const Case cases[] = {
      {"penicillin", "308182", "amoxicillin", "penicillins"},        // 250 MG Oral Capsule
      {"penicillin", "308191", "amoxicillin", "penicillins"},        // 500 MG Oral Capsule
      {"penicillin", "308192", "amoxicillin", "penicillins"},        // 500 MG Oral Tablet
      {"penicillin", "562251", "amoxicillin", "penicillins"},        // amoxicillin/clavulanate
      {"penicillin", "617296", "amoxicillin", "penicillins"},        // amoxicillin/clavulanate
      {"penicillin", "617993", "amoxicillin", "penicillins"},        // amoxicillin/clavulanate
      {"penicillin", "789980", "ampicillin", "penicillins"},         // 100 MG/ML Injectable Solution
      {"penicillin", "1659149", "piperacillin", "penicillins"},      // piperacillin/tazobactam
      {"penicillin", "105078", "penicillin G", "penicillins"},       // 375 MG/ML Injectable Solution
      {"penicillin", "834061", "penicillin V", "penicillins"},       // 250 MG Oral Tablet
      {"penicillin", "834102", "penicillin V", "penicillins"},       // 500 MG Oral Tablet
      {"penicillin", "197596", "dicloxacillin", "penicillins"},      // 500 MG Oral Capsule
      {"penicillin", "1743547", "oxacillin", "penicillins"},         // 1000 MG Injection
      {"penicillin", "1721458", "nafcillin", "penicillins"},         // 1000 MG Injection
      {"cephalosporins", "309114", "cephalexin", "cephalosporins"},  // 500 MG Oral Capsule
      {"cephalosporins", "309110", "cephalexin", "cephalosporins"},  // 25 MG/ML Oral Suspension
      {"cephalosporins", "309049", "cefadroxil", "cephalosporins"},
      {"cephalosporins", "1665050", "cefazolin", "cephalosporins"},
      {"cephalosporins", "309045", "cefaclor", "cephalosporins"},
      {"cephalosporins", "197452", "cefprozil", "cephalosporins"},
      {"cephalosporins", "309097", "cefuroxime", "cephalosporins"},
      {"cephalosporins", "1665102", "cefoxitin", "cephalosporins"},
      {"cephalosporins", "1656313", "cefotaxime", "cephalosporins"},
      {"cephalosporins", "1665021", "ceftriaxone", "cephalosporins"},
      {"cephalosporins", "309078", "cefpodoxime", "cephalosporins"},
      {"cephalosporins", "1665093", "cefepime", "cephalosporins"},
      {"cephalosporins", "1659283", "ceftazidime", "cephalosporins"},
      {"cephalosporins", "200346", "cefdinir", "cephalosporins"},
      {"cephalosporins", "197451", "cefixime", "cephalosporins"},
      {"monobactams", "1664981", "aztreonam", "monobactams"},
      {"sulfonamides", "198335", "sulfamethoxazole", "sulfonamides"},
      {"macrolides", "308460", "azithromycin", "macrolides"},
      {"macrolides", "197517", "clarithromycin", "macrolides"},
      {"macrolides", "197650", "erythromycin", "macrolides"},
      {"fluoroquinolones", "309309", "ciprofloxacin", "fluoroquinolones"},
      {"fluoroquinolones", "199885", "levofloxacin", "fluoroquinolones"},
      {"fluoroquinolones", "311787", "moxifloxacin", "fluoroquinolones"},
      {"tetracyclines", "1650142", "doxycycline", "tetracyclines"},
      {"tetracyclines", "197984", "minocycline", "tetracyclines"},
      {"tetracyclines", "198250", "tetracycline", "tetracyclines"},
      {"nsaids", "310965", "ibuprofen", "nsaids"},                   // 200 MG Oral Tablet
      {"nsaids", "849574", "naproxen", "nsaids"},                    // sodium 220 MG Oral Tablet
  };
  for (const auto& c : cases) {
    CAPTURE(c.code);
    auto got = check_medication_allergies(map, medication(coded("rxnorm", c.code, "x")),
                                          {allergy(text_concept(c.allergen))});
    REQUIRE(got.size() == 1);
    CHECK(got[0].medication == c.drug);
    CHECK(got[0].severity == "high");
    CHECK(got[0].basis == fmt::format("same class ({})", c.cls));
  }
  // The README's example: a penicillin allergy coded as RxNorm penicillin G
  // (7980) against the amoxicillin capsule's product code.
  auto got = check_medication_allergies(map, medication(coded("rxnorm", "308182", "x")),
                                        {allergy(coded("rxnorm", "7980", "Penicillin"))});
  REQUIRE(got.size() == 1);
  CHECK(got[0].medication == "amoxicillin");
  CHECK(got[0].basis == "same class (penicillins)");
}

namespace {

Json observation(const char* loinc, std::optional<double> value, const char* unit) {
  Json o = Json::object();
  o.set("resourceType", Json::string("Observation"));
  o.set("id", Json::string("o1"));
  o.set("status", Json::string("final"));
  o.set("code", coded("loinc", loinc, "test"));
  o.set("effectiveDateTime", Json::string("2026-05-01T08:00:00Z"));
  if (value) {
    Json q = Json::object();
    q.set("value", Json::number(*value));
    q.set("unit", Json::string(unit));
    q.set("system", Json::string("http://unitsofmeasure.org"));
    q.set("code", Json::string(unit));
    o.set("valueQuantity", q);
  }
  return o;
}

}  // namespace

namespace {

Json with_interpretation(Json o, const char* code) {
  Json interp = Json::array();
  interp.push_back(coded("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", code, code));
  o.set("interpretation", interp);
  return o;
}

Json with_lab_range(Json o, double lo, double hi, const char* unit = "mmol/L") {
  Json r = Json::object();
  for (auto [key, v] : {std::pair{"low", lo}, std::pair{"high", hi}}) {
    Json b = Json::object();
    b.set("value", Json::number(v));
    b.set("unit", Json::string(unit));
    r.set(key, b);
  }
  Json rr = Json::array();
  rr.push_back(r);
  o.set("referenceRange", rr);
  return o;
}

}  // namespace

TEST_CASE("lab flags: interpretation first, then the lab's range, then the table; 0, negatives, units") {
  const LabRanges& labs = shipped().labs;
  CarePatient p = patient("1986-01-01");
  struct Case {
    const char* loinc;
    double value;
    const char* unit;
    const char* flag;  // "" = not flagged
  };
  const Case cases[] = {
      {"2823-3", 3.5, "mmol/L", ""},  {"2823-3", 3.4, "mmol/L", "L"},   {"2823-3", 2.8, "mmol/L", "L"},
      {"2823-3", 2.7, "mmol/L", "LL"}, {"2823-3", 0, "mmol/L", "LL"},   {"2823-3", -1, "mmol/L", "LL"},
      {"2823-3", 5.1, "mmol/L", ""},  {"2823-3", 5.2, "mmol/L", "H"},   {"2823-3", 5.99, "mmol/L", "H"},
      {"2823-3", 6.0, "mmol/L", "HH"},
      {"2951-2", 120, "mmol/L", "L"},  {"2951-2", 119.9, "mmol/L", "LL"}, {"2951-2", 160, "mmol/L", "H"},
      {"2951-2", 160.1, "mmol/L", "HH"}, {"2951-2", 136, "mmol/L", ""},
      {"2028-9", 10, "mmol/L", "L"},   {"2028-9", 9.9, "mmol/L", "LL"},  {"2028-9", 40, "mmol/L", "H"},
      {"4548-4", 5.6, "%", ""},        {"4548-4", 5.7, "%", "H"},         {"4548-4", 0, "%", ""},
      {"1925-7", 0, "mmol/L", ""},     {"1925-7", -2, "mmol/L", ""},      {"1925-7", -2.1, "mmol/L", "L"},
      {"2823-3", 4.0, "mg/dL", "unit-mismatch"}, {"4548-4", 40, "mmol/mol", "unit-mismatch"},
      {"718-7", 20, "g/dL", ""},  // no row for hemoglobin: not judged
  };
  for (const auto& c : cases) {
    CAPTURE(c.loinc);
    CAPTURE(c.value);
    CAPTURE(c.unit);
    auto f = flag_lab_result(labs, observation(c.loinc, c.value, c.unit), p, d("2026-06-01"));
    if (*c.flag == '\0') {
      CHECK_FALSE(f.has_value());
      continue;
    }
    REQUIRE(f.has_value());
    CHECK(f->flag == c.flag);
    CHECK(f->severity == (std::string(c.flag) == "unit-mismatch" ? "unit-mismatch"
                          : std::string(c.flag).size() == 2     ? "critical"
                                                                : "abnormal"));
    CHECK(f->source == "table (care/lab-ranges.yaml 1)");
  }
  auto k = flag_lab_result(labs, observation("2823-3", 2.5, "mmol/L"), p, d("2026-06-01"));
  REQUIRE(k.has_value());
  CHECK(k->value == "2.5 mmol/L");
  CHECK(k->range == ">= 3.5 and <= 5.1 mmol/L");
  CHECK(k->date == "2026-05-01");
  CHECK(k->observation_ref == "Observation/o1");
  auto mismatch = flag_lab_result(labs, observation("2823-3", 4.0, "mg/dL"), p, d("2026-06-01"));
  CHECK(mismatch->range == ">= 3.5 and <= 5.1 mmol/L");

  // The lab's own interpretation wins over the table, both ways, short of
  // a critical value (next test case).
  Json normal = observation("2823-3", 5.5, "mmol/L");
  Json interp = Json::array();
  interp.push_back(coded("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "N", "Normal"));
  normal.set("interpretation", interp);
  CHECK_FALSE(flag_lab_result(labs, normal, p, d("2026-06-01")).has_value());
  Json hh = observation("2823-3", 4.0, "mmol/L");
  Json interp2 = Json::array();
  interp2.push_back(coded("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "HH", "Critical high"));
  hh.set("interpretation", interp2);
  auto f = flag_lab_result(labs, hh, p, d("2026-06-01"));
  REQUIRE(f.has_value());
  CHECK(f->flag == "HH");
  CHECK(f->severity == "critical");
  CHECK(f->source == "lab interpretation");

  // The lab's own range comes before the table; inclusive at both ends.
  auto with_range = [](double v, double lo, double hi) {
    Json o = observation("2823-3", v, "mmol/L");
    Json low = Json::object();
    low.set("value", Json::number(lo));
    low.set("code", Json::string("mmol/L"));
    Json high = Json::object();
    high.set("value", Json::number(hi));
    high.set("code", Json::string("mmol/L"));
    Json r = Json::object();
    r.set("low", low);
    r.set("high", high);
    Json rr = Json::array();
    rr.push_back(r);
    o.set("referenceRange", rr);
    return o;
  };
  CHECK_FALSE(flag_lab_result(labs, with_range(5.3, 3.0, 5.5), p, d("2026-06-01")).has_value());
  CHECK_FALSE(flag_lab_result(labs, with_range(3.0, 3.0, 5.5), p, d("2026-06-01")).has_value());
  auto lr = flag_lab_result(labs, with_range(2.9, 3.0, 5.5), p, d("2026-06-01"));
  REQUIRE(lr.has_value());
  CHECK(lr->flag == "L");
  CHECK(lr->source == "lab range");
  CHECK(lr->range == ">= 3 and <= 5.5 mmol/L");
  // A result of 0 against a lab range whose low is 0 is normal (base excess:
  // no critical bound in the table, which would flag 4 H and -3 L).
  CHECK_FALSE(flag_lab_result(labs, with_lab_range(observation("1925-7", 0, "mmol/L"), 0, 5), p, d("2026-06-01")));
  CHECK_FALSE(flag_lab_result(labs, with_lab_range(observation("1925-7", 4, "mmol/L"), 0, 5), p, d("2026-06-01")));
}


// QA finding care 01: potassium 7.4 mmol/L with the lab's own range was H,
// with the lab's interpretation N no finding at all.
TEST_CASE("lab flags: past the table's critical bound is critical whatever the lab's range or interpretation says") {
  const LabRanges& labs = shipped().labs;
  CarePatient p = patient("1986-01-01");
  struct Case {
    const char* what;
    Json obs;
    const char* flag;  // "" = not flagged
    const char* source;
    const char* range;
    const char* note;
  };
  const char* table = "table (care/lab-ranges.yaml 1)";
  const char* k_range = ">= 3.5 and <= 5.1 mmol/L";
  const Case cases[] = {
      {"7.4, the lab's range", with_lab_range(observation("2823-3", 7.4, "mmol/L"), 3.5, 5.1), "HH", table, k_range, ""},
      {"7.4, interpretation H", with_interpretation(observation("2823-3", 7.4, "mmol/L"), "H"), "HH", table, k_range,
       "the lab's interpretation: H"},
      {"7.4, interpretation N", with_interpretation(observation("2823-3", 7.4, "mmol/L"), "N"), "HH", table, k_range,
       "the lab's interpretation: N"},
      {"2.0, interpretation L", with_interpretation(observation("2823-3", 2.0, "mmol/L"), "L"), "LL", table, k_range,
       "the lab's interpretation: L"},
      {"4.0, interpretation HH", with_interpretation(observation("2823-3", 4.0, "mmol/L"), "HH"), "HH",
       "lab interpretation", "", ""},
      {"4.0, interpretation AA", with_interpretation(observation("2823-3", 4.0, "mmol/L"), "AA"), "AA",
       "lab interpretation", "", ""},
      {"4.0, interpretation A", with_interpretation(observation("2823-3", 4.0, "mmol/L"), "A"), "A",
       "lab interpretation", "", ""},
      {"5.5, interpretation N", with_interpretation(observation("2823-3", 5.5, "mmol/L"), "N"), "", "", "", ""},
      {"5.5, the lab's range to 6", with_lab_range(observation("2823-3", 5.5, "mmol/L"), 3.0, 6.0), "", "", "", ""},
      {"5.5, the lab's range to 5", with_lab_range(observation("2823-3", 5.5, "mmol/L"), 3.0, 5.0), "H", "lab range",
       ">= 3 and <= 5 mmol/L", ""},
      {"no value, interpretation H", with_interpretation(observation("2823-3", std::nullopt, ""), "H"), "H",
       "lab interpretation", "", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto f = flag_lab_result(labs, c.obs, p, d("2026-06-01"));
    if (*c.flag == '\0') {
      CHECK_FALSE(f.has_value());
      continue;
    }
    REQUIRE(f.has_value());
    CHECK(f->flag == c.flag);
    CHECK(f->severity == (std::string(c.flag).size() == 2 ? "critical" : "abnormal"));
    CHECK(f->source == c.source);
    CHECK(f->range == c.range);
    CHECK(f->note == c.note);
  }
}

// QA finding (interop sweep): a result of ">500 mg/dL" was judged as 500,
// and shown as 500: Quantity.comparator is a modifier.
TEST_CASE("lab flags: a comparator flags only what every value it stands for is") {
  const LabRanges& labs = shipped().labs;
  CarePatient p = patient("1986-01-01");
  struct Case {
    const char* comparator;
    double value;
    const char* flag;  // "" = not flagged
  };
  // Potassium: normal 3.5 to 5.1, LL at 2.7 and below, HH at 6.0 and above.
  const Case cases[] = {
      {">", 6.0, "HH"}, {">=", 6.0, "HH"}, {">", 5.9, "H"},  {">", 3.0, ""},  {">=", 5.1, ""},
      {"<", 2.8, "L"},  {"<", 2.7, "LL"},  {"<=", 2.7, "LL"}, {"<", 4.0, ""}, {"<", 9.0, ""},
      {"<", 3.5, "L"},  {"<=", 3.5, ""},   {"", 6.0, "HH"},   {"", 2.8, "L"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.comparator);
    CAPTURE(c.value);
    Json o = observation("2823-3", c.value, "mmol/L");
    if (*c.comparator != '\0') {
      Json q = *o.find("valueQuantity");
      q.set("comparator", Json::string(c.comparator));
      o.set("valueQuantity", q);
    }
    auto f = flag_lab_result(labs, o, p, d("2026-06-01"));
    if (*c.flag == '\0') {
      CHECK_FALSE(f.has_value());
      continue;
    }
    REQUIRE(f.has_value());
    CHECK(f->flag == c.flag);
  }
  Json o = observation("2823-3", 2.8, "mmol/L");
  Json q = *o.find("valueQuantity");
  q.set("comparator", Json::string("<"));
  o.set("valueQuantity", q);
  auto f = flag_lab_result(labs, o, p, d("2026-06-01"));
  REQUIRE(f.has_value());
  CHECK(f->value == "<2.8 mmol/L");
  CHECK(summarize_record(o).value == "<2.8");
}

TEST_CASE("lab ranges: the most specific row by sex and age applies") {
  auto rules = CareRules::parse({{"labs.yaml",
                                  "schema: ehr-care-lab-ranges\nversion: \"2\"\nsource: S\neffective: 2026-01-01\n"
                                  "ranges:\n"
                                  "  - {loinc: 718-7, test: Hb, unit: g/dL, low: 12, high: 17.5}\n"
                                  "  - {loinc: 718-7, test: Hb, unit: g/dL, sex: female, low: 12, high: 15.5}\n"
                                  "  - {loinc: 718-7, test: Hb, unit: g/dL, sex: female, max_age: 17y, low: 11.5, high: 15}\n"}});
  REQUIRE(rules.ok());
  const LabRanges& labs = rules->labs;
  struct Case {
    const char* birth;
    const char* sex;
    double value;
    const char* flag;
  };
  const Case cases[] = {
      {"1980-01-01", "male", 16, ""},     {"1980-01-01", "female", 16, "H"},
      {"2010-01-01", "female", 15.2, "H"}, {"2010-01-01", "female", 11.6, ""},
      {"2008-04-01", "female", 11.6, "L"},  // 18 when drawn (2026-05-01): the adult female row
      {"2008-06-01", "female", 11.6, ""},   // 17 when drawn, 18 on the as-of date: the girls' row
  };
  for (const auto& c : cases) {
    CAPTURE(c.birth);
    CAPTURE(c.sex);
    auto f = flag_lab_result(labs, observation("718-7", c.value, "g/dL"), patient(c.birth, c.sex), d("2026-06-01"));
    CHECK(f.has_value() == (*c.flag != '\0'));
    if (f) CHECK(f->flag == c.flag);
  }
  auto bad = CareRules::parse({{"labs.yaml",
                                "schema: ehr-care-lab-ranges\nversion: \"2\"\nsource: S\neffective: 2026-01-01\n"
                                "ranges:\n  - {loinc: 2823-3, test: K, unit: mmol/L, critical_low: 2.7}\n"}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == "labs.yaml:6:58: critical_low must be {value: V, inclusive: true|false}");
}

// --- one patient's check (care_check), on a store -----------------------------

namespace {

// A store with one physician (alice) and one patient born 1960-05-05.
struct CheckFixture {
  testing::TempDir dir;
  std::string path = dir.file("care.ehr");
  Session s = [this] {
    SessionOptions o;
    o.user = "alice";
    o.first_user_roles = {"physician"};
    o.now = [] { return std::string("2026-06-01T10:00:00.000Z"); };
    auto r = Session::create(path, {"alice", "", testing::kFast}, Secret::passphrase("pw"), o);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
    return std::move(*r);
  }();
  std::string patient = add(R"({"resourceType":"Patient","name":[{"family":"Test","given":["Pat"]}],)"
                            R"("gender":"female","birthDate":"1960-05-05"})")
                            .substr(8);  // "Patient/"

  // Stores `json` (with "$P" standing for the patient's id); returns Type/id.
  std::string add(std::string json) {
    for (size_t at = json.find("$P"); at != std::string::npos; at = json.find("$P"))
      json.replace(at, 2, patient);
    auto j = parse_json(json);
    REQUIRE_MESSAGE(j.ok(), json);
    auto r = create_resource(s, *j);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
    return r->type + "/" + r->id;
  }
  CareCheck check(const char* on = "2026-06-01") {
    auto c = care_check(s, shipped(), patient, d(on));
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message()));
    return *c;
  }
};

const char* kPenicillinAllergy =
    R"({"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/$P"},)"
    R"("clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},)"
    R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"764146007","display":"Penicillin"}]}})";

// A potassium result (LOINC 2823-3) in mmol/L; `extra` adds members.
std::string potassium(const char* value, const char* when, const char* extra = "") {
  return fmt::format(
      R"({{"resourceType":"Observation","status":"final","subject":{{"reference":"Patient/$P"}},)"
      R"("code":{{"coding":[{{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}}]}},{}{})"
      R"("valueQuantity":{{"value":{},"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}}})",
      *when ? fmt::format(R"("effectiveDateTime":"{}",)", when) : "", extra, value);
}


}  // namespace

// QA finding care 02: an order naming a stored Medication by reference (the
// usual shape from many feeds) was checked against no allergy.
TEST_CASE("care check and the record-add check read a medicationReference's stored Medication, else its display") {
  CheckFixture fx;
  fx.add(kPenicillinAllergy);
  std::string amoxicillin = fx.add(
      R"({"resourceType":"Medication","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm",)"
      R"("code":"308182","display":"amoxicillin 250 MG Oral Capsule"}]}})");
  const char* order = R"({"resourceType":"MedicationRequest","status":"active","intent":"order",)"
                      R"("subject":{"reference":"Patient/$P"},"medicationReference":{"reference":"%s"%s}})";
  auto request = [&](const std::string& ref, const std::string& display) {
    std::string j = order;
    j.replace(j.find("%s"), 2, ref);
    j.replace(j.find("%s"), 2, display.empty() ? "" : R"(,"display":")" + display + "\"");
    for (size_t at = j.find("$P"); at != std::string::npos; at = j.find("$P")) j.replace(at, 2, fx.patient);
    return *parse_json(j);
  };
  SUBCASE("a stored Medication: its code") {
    std::string ref = fx.add(to_json(request(amoxicillin, "")));
    CareCheck c = fx.check();
    REQUIRE(c.allergies.size() == 1);
    CHECK(c.allergies[0].medication_ref == ref);
    CHECK(c.allergies[0].medication == "amoxicillin 250 MG Oral Capsule");
    CHECK(c.allergies[0].conflict.medication == "amoxicillin");
    CHECK(c.allergies[0].conflict.severity == "high");
    CHECK(c.allergies[0].conflict.basis == "same class (penicillins)");
    auto alerts = medication_allergy_alerts(fx.s, shipped(), request(amoxicillin, ""));
    REQUIRE(alerts.ok());
    REQUIRE(alerts->size() == 1);
    CHECK((*alerts)[0].basis == "same class (penicillins)");
    // The pure check itself still reads only what the record holds.
    CHECK(check_medication_allergies(shipped().drugs, request(amoxicillin, ""), {}).empty());
  }
  SUBCASE("a Medication not stored: the reference's display") {
    fx.add(to_json(request("Medication/elsewhere", "Amoxicillin 500 MG")));
    CareCheck c = fx.check();
    REQUIRE(c.allergies.size() == 1);
    CHECK(c.allergies[0].medication == "Amoxicillin 500 MG");
    CHECK(c.allergies[0].conflict.medication == "amoxicillin");
    auto alerts = medication_allergy_alerts(fx.s, shipped(), request("Medication/elsewhere", "Amoxicillin 500 MG"));
    REQUIRE(alerts.ok());
    CHECK(alerts->size() == 1);
  }
  SUBCASE("neither: nothing to check it by, an unchecked row (with a drug allergy on record)") {
    fx.add(to_json(request("Medication/elsewhere", "")));
    CareCheck c = fx.check();
    REQUIRE(c.allergies.size() == 1);
    CHECK(c.allergies[0].conflict.severity == "unchecked");
  }
}


// QA finding care 05: a newer potassium without a value (dataAbsentReason:
// haemolysed) hid a critical 7.4, and the run said "no findings".
TEST_CASE("care check: a newer result without a value or interpretation does not hide an earlier one") {
  const char* kPotassiumCode =
      R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$P"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},"effectiveDateTime":"2026-01-02T08:00:00Z")";
  struct Case {
    const char* what;
    std::string newer;  // members after the code and date
    const char* flag;   // of the one lab row; "" = none
  };
  const Case cases[] = {
      {"dataAbsentReason",
       R"(,"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"error"}]}})",
       "HH"},
      {"neither value nor interpretation", "}", "HH"},
      // A result the lab interpreted, even without a value, is the latest.
      {"interpretation N, no value",
       R"(,"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N"}]}]})",
       ""},
      {"a value", R"(,"valueQuantity":{"value":4.0,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}})",
       ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    CheckFixture fx;
    std::string critical = fx.add(potassium("7.4", "2026-01-01T08:00:00Z"));
    fx.add(std::string(kPotassiumCode) + c.newer);
    CareCheck got = fx.check();
    if (*c.flag == '\0') {
      CHECK(got.labs.empty());
      continue;
    }
    REQUIRE(got.labs.size() == 1);
    CHECK(got.labs[0].observation_ref == critical);
    CHECK(got.labs[0].flag == c.flag);
    CHECK(got.labs[0].date == "2026-01-01");
  }
}


// QA finding care 03: of two potassium results at the same instant (a
// repeat on one specimen), the one with the smaller id was taken as the
// latest, so a critical 7.4 beside a 4.0 went unseen.
TEST_CASE("care check: every result at a code's latest instant is flagged") {
  CheckFixture fx;
  fx.add(potassium("3.0", "2026-01-01T07:00:00Z", R"("id":"aa-earlier",)"));
  fx.add(potassium("4.0", "2026-01-01T08:00:00Z", R"("id":"aa-norm",)"));
  fx.add(potassium("7.4", "2026-01-01T08:00:00Z", R"("id":"zz-crit",)"));
  // The same instant written in another time zone.
  fx.add(potassium("2.0", "2026-01-01T09:00:00+01:00", R"("id":"mm-low",)"));
  CareCheck got = fx.check();
  REQUIRE(got.labs.size() == 2);
  CHECK(got.labs[0].observation_ref == "Observation/mm-low");
  CHECK(got.labs[0].flag == "LL");
  CHECK(got.labs[1].observation_ref == "Observation/zz-crit");
  CHECK(got.labs[1].flag == "HH");
}


// QA finding care 15: a potassium coded [local K, LOINC 2823-3] (7.4) and a
// newer LOINC-only one (4.0) were grouped as two codes by their first
// coding, and the superseded 7.4 was reported as current.
TEST_CASE("care check: results are grouped by their LOINC coding, else their first coding") {
  CheckFixture fx;
  auto coded_as = [](const char* codings, const char* value, const char* when) {
    return fmt::format(
        R"({{"resourceType":"Observation","status":"final","subject":{{"reference":"Patient/$P"}},)"
        R"("code":{{"coding":[{}]}},"effectiveDateTime":"{}",)"
        R"("valueQuantity":{{"value":{},"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}}})",
        codings, when, value);
  };
  const char* local_k = R"({"system":"urn:lab:local","code":"K"})";
  const char* loinc_k = R"({"system":"http://loinc.org","code":"2823-3"})";
  fx.add(coded_as(fmt::format("{},{}", local_k, loinc_k).c_str(), "7.4", "2026-01-01"));
  fx.add(coded_as(loinc_k, "4.0", "2026-01-03"));
  CHECK(fx.check().labs.empty());
  // Without a LOINC coding, the first coding groups: a local-only result
  // is its own code (and has no table row).
  fx.add(coded_as(local_k, "7.4", "2026-01-04"));
  std::string newer = fx.add(coded_as(fmt::format("{},{}", local_k, loinc_k).c_str(), "2.0", "2026-01-05"));
  CareCheck got = fx.check();
  REQUIRE(got.labs.size() == 1);
  CHECK(got.labs[0].observation_ref == newer);
  CHECK(got.labs[0].flag == "LL");
}


// QA finding care 14: ALP 400 U/L drawn at 16 (normal for a teenager) was
// flagged H by the adult row once the patient was 18 on the as-of date.
TEST_CASE("lab ranges: age-specific rows take the age on the result's date, not after the as-of date") {
  auto rules = CareRules::parse({{"labs.yaml",
                                  "schema: ehr-care-lab-ranges\nversion: \"2\"\nsource: S\neffective: 2026-01-01\n"
                                  "ranges:\n"
                                  "  - {loinc: 6768-6, test: ALP, unit: U/L, max_age: 17y, low: 100, high: 500}\n"
                                  "  - {loinc: 6768-6, test: ALP, unit: U/L, min_age: 18y, low: 40, high: 130}\n"}});
  REQUIRE(rules.ok());
  CarePatient teen = patient("2008-03-01");
  struct Case {
    const char* what;
    const char* date;  // effectiveDateTime; "" = none
    const char* flag;
  };
  const Case cases[] = {
      {"drawn at 16", "2025-01-01", ""},
      {"drawn at 16, an instant", "2025-01-01T08:00:00Z", ""},
      {"drawn the day before 18", "2026-02-28", ""},
      {"drawn on the 18th birthday", "2026-03-01", "H"},
      {"undated: the age on the as-of date", "", "H"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    Json o = observation("6768-6", 400, "U/L");
    o.erase("effectiveDateTime");
    if (*c.date) o.set("effectiveDateTime", Json::string(c.date));
    auto f = flag_lab_result(rules->labs, o, teen, d("2026-06-01"));
    CHECK(f.has_value() == (*c.flag != '\0'));
    if (f) CHECK(f->flag == c.flag);
  }
  // Dated after the as-of date (18 then, 17 on the as-of date): the age on the as-of date.
  Json later = observation("6768-6", 400, "U/L");
  later.set("effectiveDateTime", Json::string("2026-04-01"));
  CHECK_FALSE(flag_lab_result(rules->labs, later, teen, d("2026-02-01")).has_value());
  // A date from issued, when there is no effective[x].
  Json issued = observation("6768-6", 400, "U/L");
  issued.erase("effectiveDateTime");
  issued.set("issued", Json::string("2025-01-02T10:00:00Z"));
  CHECK_FALSE(flag_lab_result(rules->labs, issued, teen, d("2026-06-01")).has_value());
}


// QA finding care 04: a critical potassium was hidden as "latest" by a
// result dated in the future (a typo year, 2062), and an undated critical
// result lost to an older dated normal one.
TEST_CASE("care check: a result dated after the as-of date is an unchecked row; an undated one is judged on its own") {
  SUBCASE("dated after the as-of date") {
    CheckFixture fx;
    std::string critical = fx.add(potassium("7.4", "2026-01-01T08:00:00Z"));
    std::string typo = fx.add(potassium("4.0", "2062-01-02T08:00:00Z"));
    std::string year = fx.add(potassium("4.1", "2062"));
    fx.add(potassium("4.2", "2026-06"));  // the as-of month: not after it
    // 4.2 of June is the latest, and normal; the two of 2062 are unchecked.
    CareCheck got = fx.check("2026-06-15");
    REQUIRE(got.labs.size() == 2);
    CHECK(got.labs[0].observation_ref == typo);
    CHECK(got.labs[0].severity == "unchecked");
    CHECK(got.labs[1].observation_ref == year);
    CHECK(got.labs[1].severity == "unchecked");
    got = fx.check("2026-05-31");
    REQUIRE(got.labs.size() == 4);
    CHECK(got.labs[0].observation_ref == critical);
    CHECK(got.labs[0].flag == "HH");
    CHECK(got.labs[0].severity == "critical");
    // In the store's order (newest first): 2062-01-02 before 2062, then June.
    CHECK(got.labs[1].observation_ref == typo);
    CHECK(got.labs[1].flag == "unchecked");
    CHECK(got.labs[1].severity == "unchecked");
    CHECK(got.labs[1].source == "not checked");
    CHECK(got.labs[1].note == "dated after the as-of date 2026-05-31");
    CHECK(got.labs[1].value == "4.0 mmol/L");
    CHECK(got.labs[1].date == "2062-01-02");
    CHECK(got.labs[2].observation_ref == year);
    CHECK(got.labs[2].date == "2062");
    CHECK(got.labs[3].note == "dated after the as-of date 2026-05-31");
    CHECK(got.labs[3].date == "2026-06");
  }
  SUBCASE("undated") {
    CheckFixture fx;
    fx.add(potassium("4.0", "2025-01-01T08:00:00Z"));
    std::string undated = fx.add(potassium("7.4", ""));
    fx.add(potassium("4.5", ""));
    CareCheck got = fx.check();
    REQUIRE(got.labs.size() == 1);
    CHECK(got.labs[0].observation_ref == undated);
    CHECK(got.labs[0].flag == "HH");
    CHECK(got.labs[0].date == "");
    CHECK(got.labs[0].note == "undated: it may not be the latest");
  }
}


// QA finding care 16: a medication of status "unknown" (common in
// reconciled lists) was never checked against allergies.
TEST_CASE("care check: medications of status active, on-hold, intended, draft and unknown are checked") {
  struct Case {
    const char* type;
    const char* status;
    bool checked;
  };
  const Case cases[] = {
      {"MedicationStatement", "unknown", true},   {"MedicationRequest", "unknown", true},
      {"MedicationStatement", "active", true},    {"MedicationRequest", "on-hold", true},
      {"MedicationStatement", "intended", true},  {"MedicationRequest", "draft", true},
      {"MedicationStatement", "completed", false}, {"MedicationStatement", "not-taken", false},
      {"MedicationRequest", "stopped", false},    {"MedicationRequest", "cancelled", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.type);
    CAPTURE(c.status);
    CheckFixture fx;
    fx.add(kPenicillinAllergy);
    std::string med = fx.add(fmt::format(
        R"({{"resourceType":"{}","status":"{}",{}"subject":{{"reference":"Patient/$P"}},)"
        R"("medicationCodeableConcept":{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"308182"}}]}}}})",
        c.type, c.status, std::string(c.type) == "MedicationRequest" ? R"("intent":"order",)" : ""));
    CareCheck got = fx.check();
    REQUIRE(got.allergies.size() == (c.checked ? 1u : 0u));
    if (c.checked) CHECK(got.allergies[0].medication_ref == med);
  }
}


// QA findings care 10 and 12: a colonoscopy being scheduled (status
// preparation) or on hold counted as a screening done, and a flu dose
// marked isSubpotent (a partial dose) as a dose given.
TEST_CASE("due lists: a Procedure counts only when completed, an Immunization only when completed and not subpotent") {
  for (const char* status : {"preparation", "in-progress", "on-hold", "stopped", "not-done", "entered-in-error",
                             "unknown", "completed"}) {
    CAPTURE(status);
    CHECK(status_of("colorectal-cancer-screening", patient("1960-01-01"),
                    {ev("Procedure", "snomed", "73761001", "2026-01-10", status)},
                    "2026-06-01") == (std::string(status) == "completed" ? "satisfied" : "due"));
  }
  CareEvidence subpotent = ev("Immunization", "cvx", "140", "2025-10-02", "completed");
  subpotent.subpotent = true;
  CHECK(status_of("influenza-vaccine", patient("1970-01-01"), {subpotent}, "2026-01-01") == "due");
  CHECK(status_of("influenza-vaccine", patient("1970-01-01"), {ev("Immunization", "cvx", "140", "2025-10-02", "completed")},
                  "2026-01-01") == "satisfied");
  CHECK(status_of("influenza-vaccine", patient("1970-01-01"), {ev("Immunization", "cvx", "140", "2025-10-02", "")},
                  "2026-01-01") == "due");
  // From the store: care_due reads isSubpotent.
  CheckFixture fx;
  auto flu = [&](const char* extra) {
    return fx.add(fmt::format(
        R"({{"resourceType":"Immunization","status":"completed",{}"patient":{{"reference":"Patient/$P"}},)"
        R"("vaccineCode":{{"coding":[{{"system":"http://hl7.org/fhir/sid/cvx","code":"140"}}]}},)"
        R"("occurrenceDateTime":"2025-10-02"}})",
        extra));
  };
  flu(R"("isSubpotent":true,)");
  CareDueQuery q;
  q.as_of = d("2026-01-01");
  q.rules = {&rule("influenza-vaccine")};
  q.include_satisfied = true;
  auto due = care_due(fx.s, q);
  REQUIRE(due.ok());
  REQUIRE(due->results.size() == 1);
  CHECK(care_status_name(due->results[0].status) == "due");
  std::string counted = flu(R"("isSubpotent":false,)");
  due = care_due(fx.s, q);
  REQUIRE(due.ok());
  REQUIRE(due->results.size() == 1);
  CHECK(care_status_name(due->results[0].status) == "satisfied");
  CHECK(due->results[0].last_ref == counted);
}

// QA finding care 06: a brand name the drug-class map does not know was
// checked against nothing, and care check said "no findings".
TEST_CASE("care check lists a medication the drug-class map does not know as unchecked when drug allergies are on record") {
  CheckFixture fx;
  auto order = [&](const char* text) {
    return fx.add(fmt::format(R"({{"resourceType":"MedicationRequest","status":"active","intent":"order",)"
                              R"("subject":{{"reference":"Patient/$P"}},"medicationCodeableConcept":{{"text":"{}"}}}})",
                              text));
  };
  std::string keflex = order("Keflex 500 MG Oral Capsule");
  // No allergy on record: nothing to check it against, no row.
  CHECK(fx.check().allergies.empty());
  fx.add(R"({"resourceType":"AllergyIntolerance","clinicalStatus":{"coding":[{"system":)"
         R"("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},)"
         R"("category":["medication"],"code":{"text":"Penicillin"},"patient":{"reference":"Patient/$P"}})");
  // A food allergy does not count.
  fx.add(R"({"resourceType":"AllergyIntolerance","clinicalStatus":{"coding":[{"system":)"
         R"("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},)"
         R"("category":["food"],"code":{"text":"Peanut"},"patient":{"reference":"Patient/$P"}})");
  std::string amox = order("Amoxicillin 500 MG Oral Capsule");
  CareCheck c = fx.check();
  REQUIRE(c.allergies.size() == 2);
  CHECK(c.allergies[0].medication_ref == amox);
  CHECK(c.allergies[0].conflict.severity == "high");
  CHECK(c.allergies[1].medication_ref == keflex);
  CHECK(c.allergies[1].conflict.severity == "unchecked");
  CHECK(c.allergies[1].conflict.allergy == "");
  CHECK(c.allergies[1].conflict.basis ==
        "not in the drug-class map (" + shipped().drugs.file + "): not checked against 1 drug allergy");
}

// QA finding care 06 (lab half): a critical potassium inside a panel's
// component was never judged, and one given in words ("<2.0") neither; both
// read as "no findings".
TEST_CASE("care check judges each component as a result of its own code, and lists a value in words as unchecked") {
  CheckFixture fx;
  std::string panel = fx.add(
      R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$P"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"24323-8","display":"Metabolic panel"}]},)"
      R"("effectiveDateTime":"2026-05-30T08:00:00Z","component":[)"
      R"({"code":{"coding":[{"system":"http://loinc.org","code":"2823-3","display":"Potassium"}]},)"
      R"("valueQuantity":{"value":7.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}},)"
      R"({"code":{"coding":[{"system":"http://loinc.org","code":"2951-2","display":"Sodium"}]},)"
      R"("valueQuantity":{"value":140,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}]})");
  std::string text = fx.add(
      R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$P"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},)"
      R"("effectiveDateTime":"2026-05-30T08:00:00Z","valueString":"<20"})");
  // A value in words of a test the table has no row for: nothing to say.
  fx.add(R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$P"},)"
         R"("code":{"coding":[{"system":"http://loinc.org","code":"5778-6","display":"Color of Urine"}]},)"
         R"("effectiveDateTime":"2026-05-30T08:00:00Z","valueString":"yellow"})");
  CareCheck c = fx.check();
  REQUIRE(c.labs.size() == 2);
  CHECK(c.labs[0].observation_ref == panel);
  CHECK(c.labs[0].test == "Potassium");
  CHECK(c.labs[0].flag == "HH");
  CHECK(c.labs[0].severity == "critical");
  CHECK(c.labs[0].date == "2026-05-30");
  CHECK(c.labs[1].observation_ref == text);
  CHECK(c.labs[1].severity == "unchecked");
  CHECK(c.labs[1].note == "a value in words, which the ranges cannot judge");
}

TEST_CASE("care due reads a stool test's result from the store") {
  CheckFixture fx;
  std::string fit = fx.add(
      R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$P"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"29771-3"}]},"effectiveDateTime":"2026-01-10",)"
      R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"10828004","display":"Positive"}]}})");
  CareDueQuery q;
  q.as_of = d("2026-06-01");
  q.rules = {&rule("colorectal-cancer-screening")};
  q.include_satisfied = true;
  auto due = care_due(fx.s, q);
  REQUIRE(due.ok());
  REQUIRE(due->results.size() == 1);
  CHECK(care_status_name(due->results[0].status) == "due");
  CHECK(due->results[0].last_ref == fit);
  fx.add(R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$P"},)"
         R"("code":{"coding":[{"system":"http://loinc.org","code":"29771-3"}]},"effectiveDateTime":"2026-03-10",)"
         R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009","display":"Negative"}]}})");
  due = care_due(fx.s, q);
  REQUIRE(due.ok());
  REQUIRE(due->results.size() == 1);
  // A negative repeat after a positive one is not the follow-up.
  CHECK(care_status_name(due->results[0].status) == "due");
  CHECK(due->results[0].last_ref == fit);
  std::string colonoscopy = fx.add(
      R"({"resourceType":"Procedure","status":"completed","subject":{"reference":"Patient/$P"},)"
      R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"73761001"}]},"performedDateTime":"2026-04-02"})");
  due = care_due(fx.s, q);
  REQUIRE(due.ok());
  REQUIRE(due->results.size() == 1);
  CHECK(care_status_name(due->results[0].status) == "satisfied");
  CHECK(due->results[0].last_ref == colonoscopy);
}

// QA findings dates 01 and 02: a result dated by day only was hidden by a
// timed one of the same day; a result drawn at 09:00+13:00 on the 2nd (the
// 1st in UTC) was "dated after the as-of date" the 1st.
TEST_CASE("care check places results in UTC, and judges a result dated by day that may be the latest") {
  CheckFixture fx;
  std::string by_day = fx.add(potassium("7.1", "2026-01-15"));
  std::string timed = fx.add(potassium("4.2", "2026-01-15T08:00:00Z"));
  fx.add(potassium("7.3", "2026-01-14"));  // the day before: surely older
  CareCheck c = fx.check("2026-01-20");
  REQUIRE(c.labs.size() == 1);
  CHECK(c.labs[0].observation_ref == by_day);
  CHECK(c.labs[0].flag == "HH");
  CHECK(c.labs[0].note == "dated without a time: it may not be the latest");
  (void)timed;
  CheckFixture east;
  std::string drawn = east.add(potassium("7.2", "2026-01-02T09:00:00+13:00"));
  east.add(potassium("4.0", "2025-12-31T09:00:00Z"));
  CareCheck e = east.check("2026-01-01");
  REQUIRE(e.labs.size() == 1);
  CHECK(e.labs[0].observation_ref == drawn);
  CHECK(e.labs[0].severity == "critical");
}

// QA findings dates 03, 08, 12 and 13.
TEST_CASE("care due: the latest of a day by its time, partial dates, month-end windows, partial birth dates") {
  auto diabetes = ev("Condition", "snomed", "44054006", "2015-01-01", "active");
  auto a1c = [](const char* when, double v) {
    CareEvidence e = ev("Observation", "loinc", "4548-4", "2026-01-10", "final", "", v);
    e.when = when;
    return e;
  };
  auto low = a1c("2026-01-10T08:00:00.000Z", 6.5), high = a1c("2026-01-10T16:00:00.000Z", 8.1);
  // 8.1 at 16:00 is the last value whichever is read first: the 3-month window.
  CHECK(status_of("hba1c-monitoring", patient("1960-01-01"), {diabetes, low, high}, "2026-06-01") == "overdue");
  CHECK(status_of("hba1c-monitoring", patient("1960-01-01"), {diabetes, high, low}, "2026-06-01") == "overdue");
  // A colonoscopy dated 2020 counts from 1 January 2020, shown as written.
  CareEvidence partial = ev("Procedure", "snomed", "73761001", "2020-01-01", "completed");
  partial.date_text = "2020";
  CareResult r = evaluate_care_rule(rule("colorectal-cancer-screening"), patient("1960-01-01"), {partial},
                                    d("2029-12-31"));
  CHECK(care_status_name(r.status) == "satisfied");
  CHECK(r.last_date == "2020");
  r = evaluate_care_rule(rule("colorectal-cancer-screening"), patient("1960-01-01"), {partial}, d("2030-01-02"));
  CHECK(care_status_name(r.status) == "overdue");
  CHECK(r.due_since == "2030-01-02");
  // 28 February plus 6 months is 28 August: covered to then, due from the 29th.
  auto feb = ev("Observation", "loinc", "4548-4", "2026-02-28", "final", "", 6.5);
  CHECK(status_of("hba1c-monitoring", patient("1960-01-01"), {diabetes, feb}, "2026-08-28") == "satisfied");
  for (const char* day : {"2026-08-29", "2026-08-31"}) {
    CareResult m = evaluate_care_rule(rule("hba1c-monitoring"), patient("1960-01-01"), {diabetes, feb}, d(day));
    CHECK(care_status_name(m.status) == "overdue");
    CHECK(m.due_since == "2026-08-29");
  }
  // Born "1950": 75 or 76 on 2026-06-01, due for pneumococcal either way.
  CarePatient year = patient("1950-01-01");
  year.birth_latest = d("1950-12-31");
  year.birth_text = "1950";
  CareResult y = evaluate_care_rule(rule("pneumococcal-vaccine"), year, {}, d("2026-06-01"));
  CHECK(care_status_name(y.status) == "due");
  CHECK_FALSE(y.not_evaluated);
  CHECK(y.detail == "none on record: PCV20, PPSV23 at 65 or older; birth date 1950: age 75 or 76");
  // Born "1961": 64 or 65, which decides the rule: not evaluated.
  CarePatient edge = patient("1961-01-01");
  edge.birth_latest = d("1961-12-31");
  edge.birth_text = "1961";
  CareResult n = evaluate_care_rule(rule("pneumococcal-vaccine"), edge, {}, d("2026-06-01"));
  CHECK(n.not_evaluated);
  CHECK(n.detail == "birth date 1961 is not precise enough for this rule: age 64 or 65 on 2026-06-01");
  CHECK(partial_date_start("1950-06") == d("1950-06-01"));
  CHECK_FALSE(partial_date_start("1950-6").has_value());
}

// QA finding care 13: a patient without a birth date was left out of care
// due without a word ("nobody is due", exit 0).
TEST_CASE("care due lists the rules it could not evaluate for a patient without a birth date") {
  CheckFixture fx;
  std::string nb = fx.add(R"({"resourceType":"Patient","name":[{"family":"NoBirth"}],"gender":"male"})").substr(8);
  CareDueQuery q;
  q.as_of = d("2026-06-01");
  q.rules = {&rule("blood-pressure-screening")};
  q.patients = {nb};
  auto due = care_due(fx.s, q);
  REQUIRE(due.ok());
  REQUIRE(due->results.size() == 1);
  CHECK(due->results[0].patient == nb);
  CHECK(due->results[0].not_evaluated);
  CHECK(care_status_name(due->results[0].status) == "not-applicable");
  CHECK(due->results[0].detail == "no birth date");
  CHECK_FALSE(due->results[0].age.has_value());
  CHECK(due->incomplete.empty());
}


// QA finding care 08: critical values in the same or a trivially
// convertible unit were only "unit-mismatch" (sorted after every abnormal
// row): potassium 7.4 meq/L, 7.4 "mmol/l", glucose 1.5 mmol/L (27 mg/dL).
TEST_CASE("lab flags: units compare whatever their case; mEq/L is mmol/L for monovalent ions; glucose and calcium convert") {
  const LabRanges& labs = shipped().labs;
  CarePatient p = patient("1986-01-01");
  struct Case {
    const char* loinc;
    double value;
    const char* unit;
    const char* flag;   // "" = not flagged
    const char* range;
    const char* note;
  };
  const char* k = ">= 3.5 and <= 5.1 mmol/L";
  const char* glucose = ">= 70 and <= 99 mg/dL";
  const char* calcium = ">= 8.4 and <= 10.3 mg/dL";
  const Case cases[] = {
      {"2823-3", 7.4, "mmol/l", "HH", k, ""},
      {"2823-3", 7.4, "MMOL/L", "HH", k, ""},
      {"2823-3", 7.4, "meq/L", "HH", k, "meq/L read as mmol/L"},
      {"6298-4", 2.0, "mEq/L", "LL", k, "mEq/L read as mmol/L"},
      {"2951-2", 118, "mEq/L", "LL", ">= 136 and <= 146 mmol/L", "mEq/L read as mmol/L"},
      {"2947-0", 150, "meq/l", "H", ">= 136 and <= 146 mmol/L", "meq/l read as mmol/L"},
      {"2028-9", 9, "mEq/L", "LL", ">= 22 and <= 32 mmol/L", "mEq/L read as mmol/L"},
      {"2345-7", 1.5, "mmol/L", "LL", glucose, "1.5 mmol/L x 18.016 = 27.024 mg/dL"},
      {"2339-0", 30, "mmol/L", "HH", glucose, "30 mmol/L x 18.016 = 540.48 mg/dL"},
      {"2345-7", 3.5, "mmol/l", "L", glucose, "3.5 mmol/l x 18.016 = 63.056 mg/dL"},
      {"2345-7", 5.4, "mmol/L", "", "", ""},  // 97.3 mg/dL
      {"17861-6", 1.5, "mmol/L", "LL", calcium, "1.5 mmol/L x 4.008 = 6.012 mg/dL"},
      {"49765-1", 2.4, "mmol/L", "", "", ""},  // 9.6 mg/dL
      {"2345-7", 100, "MG/DL", "H", glucose, ""},
      // Not monovalent, or not a known conversion: still a mismatch.
      {"17861-6", 2.0, "mEq/L", "unit-mismatch", calcium, ""},
      {"2823-3", 7.4, "mg/dL", "unit-mismatch", k, ""},
      {"4548-4", 7.0, "mmol/L", "unit-mismatch", "< 5.7 %", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.loinc);
    CAPTURE(c.value);
    CAPTURE(c.unit);
    auto f = flag_lab_result(labs, observation(c.loinc, c.value, c.unit), p, d("2026-06-01"));
    if (*c.flag == '\0') {
      CHECK_FALSE(f.has_value());
      continue;
    }
    REQUIRE(f.has_value());
    CHECK(f->flag == c.flag);
    CHECK(f->range == c.range);
    CHECK(f->note == c.note);
    CHECK(f->value == fmt::format("{} {}", c.value, c.unit));
  }
  // The lab's own range in another case of the same unit applies.
  auto lab = flag_lab_result(labs, with_lab_range(observation("1925-7", 4, "mmol/L"), 0, 5, "MMOL/L"), p,
                             d("2026-06-01"));
  CHECK_FALSE(lab.has_value());  // the table alone would say H
  // A conversion and an interpretation it overrides are both named.
  auto both = flag_lab_result(labs, with_interpretation(observation("2345-7", 1.5, "mmol/L"), "L"), p,
                              d("2026-06-01"));
  REQUIRE(both.has_value());
  CHECK(both->flag == "LL");
  CHECK(both->note == "1.5 mmol/L x 18.016 = 27.024 mg/dL; the lab's interpretation: L");
}


// QA finding care 07: with hemoglobin ranges only by sex, a patient of
// gender unknown matched no row, and 5.0 g/dL was "no findings".
TEST_CASE("lab ranges: a patient neither female nor male is judged by the more severe of the sex-specific rows") {
  const char* header = "schema: ehr-care-lab-ranges\nversion: \"s\"\nsource: S\neffective: 2026-01-01\nranges:\n";
  const char* by_sex =
      "  - {loinc: 718-7, test: Hb, unit: g/dL, sex: male, low: 13.5, high: 17.5, critical_low: {value: 7.0, inclusive: false}}\n"
      "  - {loinc: 718-7, test: Hb, unit: g/dL, sex: female, low: 12.0, high: 15.5, critical_low: {value: 7.0, inclusive: false}}\n";
  auto rules = CareRules::parse({{"labs.yaml", std::string(header) + by_sex}});
  REQUIRE(rules.ok());
  const char* female = ">= 12 and <= 15.5 g/dL";
  const char* male = ">= 13.5 and <= 17.5 g/dL";
  struct Case {
    const char* sex;
    double value;
    const char* flag;  // "" = not flagged
    const char* range;
    const char* note;
  };
  const Case cases[] = {
      {"unknown", 5.0, "LL", female, "gender unknown: the female row (the more severe of the female and male rows)"},
      {"other", 13.0, "L", male, "gender other: the male row (the more severe of the female and male rows)"},
      {"", 16.0, "H", female, "gender not recorded: the female row (the more severe of the female and male rows)"},
      {"unknown", 14.0, "", "", ""},
      {"male", 13.0, "L", male, ""},
      {"female", 13.0, "", "", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.sex);
    CAPTURE(c.value);
    auto f = flag_lab_result(rules->labs, observation("718-7", c.value, "g/dL"), patient("1970-03-01", c.sex),
                             d("2026-06-01"));
    if (*c.flag == '\0') {
      CHECK_FALSE(f.has_value());
      continue;
    }
    REQUIRE(f.has_value());
    CHECK(f->flag == c.flag);
    CHECK(f->range == c.range);
    CHECK(f->note == c.note);
  }
  // A row for any sex applies as it is.
  auto with_any = CareRules::parse(
      {{"labs.yaml", std::string(header) + by_sex + "  - {loinc: 718-7, test: Hb, unit: g/dL, low: 12.0, high: 17.5}\n"}});
  REQUIRE(with_any.ok());
  CHECK_FALSE(flag_lab_result(with_any->labs, observation("718-7", 13.0, "g/dL"), patient("1970-03-01", "unknown"),
                              d("2026-06-01")));
  auto any_low = flag_lab_result(with_any->labs, observation("718-7", 5.0, "g/dL"), patient("1970-03-01", "unknown"),
                                 d("2026-06-01"));
  REQUIRE(any_low.has_value());
  CHECK(any_low->flag == "L");  // the any-sex row has no critical bound
  CHECK(any_low->note == "");
}

}

}  // namespace ehr
