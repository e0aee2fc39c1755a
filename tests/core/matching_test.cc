// Patient matching (core/src/matching.cc): features, the sound key, every
// comparator's outcome, symmetry, thresholds, the weights file's errors,
// blocking keys, and precision and recall on the labelled set of
// tests/support/match_corpus.h. Table-driven.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ehr/json.h"
#include "ehr/matching.h"
#include "schemas.h"
#include "support/match_corpus.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

const char* kSsn = "http://hl7.org/fhir/sid/us-ssn";
const char* kDl = "urn:oid:2.16.840.1.113883.4.3.25";

Json parse(const std::string& text) {
  auto j = parse_json(text);
  REQUIRE_MESSAGE(j.ok(), text);
  return *j;
}

using Strings = std::vector<std::string>;

std::string joined(const Strings& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// A hand-made side of a comparison, one field at a time.
struct F {
  MatchFeatures f;
  F& id(const std::string& system, const std::string& value) {
    f.identifiers.emplace_back(system, value);
    return *this;
  }
  F& family(Strings v) {
    f.family = std::move(v);
    return *this;
  }
  F& given(Strings v) {
    f.given = std::move(v);
    return *this;
  }
  F& birth(std::string v) {
    f.birth_date = std::move(v);
    return *this;
  }
  F& sex(std::string v) {
    f.sex = std::move(v);
    return *this;
  }
  F& phone(Strings v) {
    f.phones = std::move(v);
    return *this;
  }
  F& postal(Strings v) {
    f.postal_codes = std::move(v);
    return *this;
  }
  F& line(Strings v) {
    f.address_lines = std::move(v);
    return *this;
  }
};

const MatchConfig& cfg() { return MatchConfig::builtin(); }

}  // namespace

TEST_SUITE("matching") {

TEST_CASE("match features: Synthea digits, titles, accents, several names, telecom, address") {
  struct Case {
    const char* patient;
    Strings family, given;
    const char* birth;
    const char* sex;
    Strings phones, postal, lines;
  };
  const Case cases[] = {
      // Synthea: digits after names, a maiden name before the official one,
      // ZIP+4, the second address line ignored, an email not a phone.
      {R"({"resourceType":"Patient","name":[{"use":"maiden","family":"Heathcote220","given":["Aleta411"],"prefix":["Mrs."]},
           {"use":"official","family":"Wintheiser220","given":["Aleta411"],"prefix":["Mrs."]}],
           "telecom":[{"system":"email","value":"a@example.org"},{"system":"phone","value":"555-712-4709"}],
           "gender":"female","birthDate":"1971-04-05",
           "address":[{"line":["850 Kertzmann Heights","Apt 2"],"postalCode":"02149-1234"}]})",
       {"wintheiser", "heathcote"}, {"aleta"}, "1971-04-05", "female", {"5557124709"}, {"02149"},
       {"850 kertzmann hts"}},
      // Only text, with a title and an initial with a period.
      {R"({"name":[{"text":"Mr. John Q. Public"}],"gender":"male","birthDate":"1971-04"})", {"public"}, {"john", "q"},
       "1971-04", "male", {}, {}, {}},
      // "Family, Given" text; apostrophes and hyphens.
      {R"({"name":[{"text":"O'Brien, Mary-Jane"}],"birthDate":"04/05/1971","gender":"unknown"})", {"obrien"},
       {"mary", "jane"}, "", "unknown", {}, {}, {}},
      // Accents folded; a compound family keeps its hyphen, a given string
      // holding two names is two names.
      {R"({"name":[{"family":"N\u00fa\u00f1ez-Garc\u00eda","given":["Jos\u00e9 Mar\u00eda"]}],"birthDate":"1971"})",
       {"nunez-garcia"}, {"jose", "maria"}, "1971", "", {}, {}, {}},
      // Several names: the official first whatever its place; a nickname
      // after; a suffix in the family field and a title in the given field
      // dropped; duplicates once.
      {R"({"name":[{"use":"usual","family":"Smith","given":["Bob"]},
                   {"use":"official","family":"Smith Jr.","given":["Dr.","Robert","James"]},
                   {"use":"old","family":"SMITH","given":["robert"]}]})",
       {"smith"}, {"robert", "james", "bob"}, "", "", {}, {}, {}},
      // Phones: the last 10 digits; 7 digits kept; fewer dropped; sms is a
      // phone; the same number twice is once.
      {R"({"telecom":[{"system":"phone","value":"+1 (555) 712-4709"},{"system":"sms","value":"555.712.4709"},
                      {"system":"phone","value":"712-4709"},{"system":"phone","value":"ext. 12"},
                      {"system":"phone","value":"0044 20 7946 0958"},{"system":"fax","value":"555-000-1111"}]})",
       {}, {}, "", "", {"5557124709", "7124709", "2079460958"}, {}, {}},
      // Address lines: punctuation, street words, directions; postal codes
      // alphanumerics only, folded, first 5.
      {R"({"address":[{"line":["12 North Main Street."],"postalCode":"02149"},
                      {"line":["Apt. #4, 7 O'Neil Avenue"],"postalCode":"SW1A 1AA"},
                      {"line":["12 N. Main St"]}]})",
       {}, {}, "", "", {}, {"02149", "sw1a1"}, {"12 n main st", "apt 4 7 oneil ave"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.patient);
    MatchFeatures f = match_features(parse(c.patient));
    CHECK(joined(f.family) == joined(c.family));
    CHECK(joined(f.given) == joined(c.given));
    CHECK(f.birth_date == c.birth);
    CHECK(f.sex == c.sex);
    CHECK(joined(f.phones) == joined(c.phones));
    CHECK(joined(f.postal_codes) == joined(c.postal));
    CHECK(joined(f.address_lines) == joined(c.lines));
    CHECK_FALSE(f.retired);
  }
}

TEST_CASE("match features: id, identifiers with both parts, retired merge sources") {
  MatchFeatures f = match_features(parse(
      R"({"id":"p1","identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"999-33-6284"},
          {"system":"urn:ehr:mrn"},{"value":"x"},{"system":"urn:ehr:mrn","value":"M1"},
          {"system":"urn:ehr:mrn","value":"M1"}],
          "active":false,"link":[{"other":{"reference":"Patient/p2"},"type":"replaced-by"}]})"));
  CHECK(f.id == "p1");
  REQUIRE(f.identifiers.size() == 2);
  CHECK(f.identifiers[0] == std::pair<std::string, std::string>{kSsn, "999-33-6284"});
  CHECK(f.identifiers[1] == std::pair<std::string, std::string>{"urn:ehr:mrn", "M1"});
  CHECK(f.retired);
  // Inactive without a replaced-by link, or a link while active: not retired.
  CHECK_FALSE(match_features(parse(R"({"active":false})")).retired);
  CHECK_FALSE(match_features(parse(R"({"link":[{"type":"replaced-by"}]})")).retired);
  CHECK_FALSE(match_features(parse(R"({"active":true,"link":[{"type":"replaced-by"}]})")).retired);
  // Not an object at all: no features, no crash.
  CHECK(match_features(parse("[1,2]")).family.empty());
}

TEST_CASE("phonetic keys for matching: spellings that must agree and names that must differ") {
  const std::pair<const char*, const char*> agree[] = {
      {"smith", "smyth"},          {"smith", "schmidt"},     {"catherine", "kathryn"}, {"katherine", "catherine"},
      {"sean", "shawn"},           {"stephen", "steven"},    {"jon", "john"},          {"geoffrey", "jeffrey"},
      {"philip", "phillip"},       {"thompson", "thomson"},  {"clark", "clarke"},      {"macdonald", "mcdonald"},
      {"knight", "night"},         {"wright", "right"},      {"mohammed", "muhammad"}, {"brian", "bryan"},
      {"christopher", "kristopher"}, {"reed", "reid"},       {"zoe", "zoey"},          {"rebecca", "rebekah"},
      {"anna", "ana"},             {"elizabeth", "elisabeth"}, {"muller", "mueller"},  {"hansen", "hanson"},
      {"petersen", "peterson"},    {"o'brien", "obrien"},    {"stewart", "stuart"},    {"gray", "grey"},
  };
  for (const auto& [a, b] : agree) {
    CAPTURE(a);
    CAPTURE(b);
    CHECK(phonetic_key(a) == phonetic_key(b));
    CHECK_FALSE(phonetic_key(a).empty());
  }
  const std::pair<const char*, const char*> differ[] = {
      {"mason", "jason"}, {"ian", "owen"},    {"john", "james"},  {"smith", "jones"},   {"catherine", "christina"},
      {"anna", "emma"},   {"brian", "ryan"},  {"mark", "mike"},   {"gary", "carrie"},   {"aaron", "erin"},
      {"smith", "smithson"}, {"lee", "lewis"},  {"chloe", "zoe"},   {"joseph", "josephine"},
  };
  for (const auto& [a, b] : differ) {
    CAPTURE(a);
    CAPTURE(b);
    CHECK(phonetic_key(a) != phonetic_key(b));
  }
  const std::pair<const char*, const char*> keys[] = {
      {"catherine", "KTRN"}, {"smith", "SMT"},  {"ian", "IN"},      {"christopher", "KRSTFR"},
      {"alexander", "ALKSNT"}, {"hannah", "HN"}, {"yolanda", "YLNT"}, {"xavier", "SFR"},
      {"", ""},              {"123", ""},       {"zo\xc3\xab", "S"}, {"tatum", "TTM"},
  };
  for (const auto& [name, key] : keys) {
    CAPTURE(name);
    CHECK(phonetic_key(name) == key);
  }
}

TEST_CASE("every match comparator's outcome and weight") {
  struct Case {
    const char* what;
    F a, b;
    Strings agreed, disagreed;
    double score;
  };
  const Case cases[] = {
      // identifiers
      {"same SSN, written two ways", F().id(kSsn, "999-33-6284"), F().id(kSsn, "999336284"), {"identifier:us-ssn"}, {}, 12},
      {"different SSN", F().id(kSsn, "999-33-6284"), F().id(kSsn, "999-33-6285"), {}, {"identifier:us-ssn"}, -10},
      {"different MRN of one facility", F().id("urn:ehr:mrn", "M1"), F().id("urn:ehr:mrn", "M2"), {},
       {"identifier:urn:ehr:mrn"}, -1},
      {"different systems compare nothing", F().id("urn:ehr:mrn", "M1"), F().id("urn:b:mrn", "M1"), {}, {}, 0},
      {"SSN agrees, MRN differs", F().id(kSsn, "1").id("urn:ehr:mrn", "M1"), F().id("urn:ehr:mrn", "M2").id(kSsn, "1"),
       {"identifier:us-ssn"}, {"identifier:urn:ehr:mrn"}, 11},
      {"two national systems agree: counted once", F().id(kSsn, "1").id(kDl, "S1"), F().id(kDl, "S1").id(kSsn, "1"),
       {"identifier:us-ssn", "identifier:urn:oid:2.16.840.1.113883.4.3.25"}, {}, 12},
      {"one of two values in a system agrees", F().id(kSsn, "1").id(kSsn, "2"), F().id(kSsn, "2"),
       {"identifier:us-ssn"}, {}, 12},
      // family names
      {"family exact", F().family({"smith"}), F().family({"smith"}), {"family:exact"}, {}, 4},
      {"family: a maiden name", F().family({"wintheiser", "heathcote"}), F().family({"heathcote"}), {"family:exact"}, {},
       4},
      {"family: hyphen or blank", F().family({"smith-jones"}), F().family({"smith jones"}), {"family:exact"}, {}, 4},
      {"family sounds alike", F().family({"smith"}), F().family({"smyth"}), {"family:phonetic"}, {}, 3},
      {"family one typo", F().family({"wintheiser"}), F().family({"winhteiser"}), {"family:phonetic"}, {}, 3},
      {"family double-barrelled", F().family({"garcia lopez"}), F().family({"garcia"}), {"family:phonetic"}, {}, 3},
      {"family differs", F().family({"smith"}), F().family({"jones"}), {}, {"family"}, -2},
      {"family one typo in 3 letters", F().family({"cox"}), F().family({"xox"}), {"family:phonetic"}, {}, 3},
      {"family: no typo rule under 3 letters", F().family({"ng"}), F().family({"ny"}), {}, {"family"}, -2},
      // given names
      {"given exact", F().given({"john"}), F().given({"john", "paul"}), {"given:exact"}, {}, 4},
      {"given sounds alike", F().given({"catherine"}), F().given({"kathryn"}), {"given:phonetic"}, {}, 3},
      {"given neighbours swapped", F().given({"nancy"}), F().given({"nanyc"}), {"given:phonetic"}, {}, 3},
      {"given: the first letter swapped is not", F().given({"nancy"}), F().given({"anncy"}), {}, {"given"}, -4},
      {"given initial", F().given({"j"}), F().given({"john"}), {"given:initial"}, {}, 1},
      {"given: two equal initials are initials", F().given({"j"}), F().given({"j"}), {"given:initial"}, {}, 1},
      {"given: a middle name", F().given({"mary", "ann"}), F().given({"ann"}), {"given:other"}, {}, 3},
      {"given differs", F().given({"john"}), F().given({"james"}), {}, {"given"}, -4},
      {"given: no typo rule (twins)", F().given({"mason"}), F().given({"jason"}), {}, {"given"}, -4},
      {"given: another initial", F().given({"j"}), F().given({"mary"}), {}, {"given"}, -4},
      // birth dates
      {"birth exact", F().birth("1971-04-05"), F().birth("1971-04-05"), {"birth-date:exact"}, {}, 5},
      {"birth day and month swapped", F().birth("1971-04-05"), F().birth("1971-05-04"), {"birth-date:transposed"}, {}, 2.5},
      {"birth year digits swapped", F().birth("1968-05-12"), F().birth("1986-05-12"), {"birth-date:transposed"}, {}, 2.5},
      {"birth month digits swapped", F().birth("1971-01-05"), F().birth("1971-10-05"), {"birth-date:transposed"}, {}, 2.5},
      {"birth day digits swapped", F().birth("1971-04-12"), F().birth("1971-04-21"), {"birth-date:transposed"}, {}, 2.5},
      {"birth one day digit", F().birth("1971-04-05"), F().birth("1971-04-06"), {"birth-date:transposed"}, {}, 2.5},
      {"birth last year digit", F().birth("1971-04-05"), F().birth("1972-04-05"), {"birth-date:transposed"}, {}, 2.5},
      {"birth a decade apart", F().birth("1961-04-05"), F().birth("1971-04-05"), {}, {"birth-date"}, -6},
      {"birth swap across year and month", F().birth("1971-04-05"), F().birth("1970-14-05"), {}, {"birth-date"}, -6},
      {"birth two digits apart", F().birth("1971-04-05"), F().birth("1971-06-07"), {}, {"birth-date"}, -6},
      {"birth year only", F().birth("1971"), F().birth("1971-04-05"), {"birth-date:year-only"}, {}, 1},
      {"birth year and month", F().birth("1971-04-05"), F().birth("1971-04"), {"birth-date:year-only"}, {}, 1},
      {"birth partial, other month", F().birth("1971-03"), F().birth("1971-04-05"), {}, {"birth-date"}, -6},
      {"birth far apart", F().birth("1971-04-05"), F().birth("1998-11-23"), {}, {"birth-date"}, -6},
      // sex
      {"sex agrees", F().sex("female"), F().sex("female"), {"sex"}, {}, 0.5},
      {"sex differs", F().sex("female"), F().sex("male"), {}, {"sex"}, -3},
      {"sex unknown is missing", F().sex("unknown"), F().sex("male"), {}, {}, 0},
      // phone
      {"a phone in common", F().phone({"5550000000", "5557124709"}), F().phone({"5557124709"}), {"phone"}, {}, 2.5},
      {"phones differ", F().phone({"5557124709"}), F().phone({"5557124708"}), {}, {"phone"}, -0.5},
      // address
      {"address line and postal code", F().line({"12 main st"}).postal({"02149"}),
       F().line({"12 main st"}).postal({"02149"}), {"address:line"}, {}, 2.5},
      {"address line, one postal code missing", F().line({"12 main st"}).postal({"02149"}), F().line({"12 main st"}),
       {"address:line"}, {}, 2.5},
      {"address line in another town", F().line({"12 main st"}).postal({"02149"}),
       F().line({"12 main st"}).postal({"90210"}), {}, {"address"}, -0.5},
      {"postal code only", F().line({"12 main st"}).postal({"02149"}), F().line({"7 elm st"}).postal({"02149"}),
       {"address:postal"}, {}, 1},
      {"address differs", F().line({"12 main st"}), F().postal({"02149"}), {}, {"address"}, -0.5},
      // missing fields weigh 0
      {"nothing recorded", F(), F(), {}, {}, 0},
      {"one side only", F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male").phone({"5557124709"})
                            .line({"12 main st"}).id(kSsn, "1"),
       F(), {}, {}, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    for (int flip = 0; flip < 2; ++flip) {
      MatchScore s = flip ? compare_patients(c.b.f, c.a.f, cfg()) : compare_patients(c.a.f, c.b.f, cfg());
      CHECK(joined(s.agreed) == joined(c.agreed));
      CHECK(joined(s.disagreed) == joined(c.disagreed));
      CHECK(s.score == c.score);
    }
  }
}

TEST_CASE("match outcomes are listed in field order") {
  F a, b;
  a.id(kSsn, "1").family({"smith"}).given({"john"}).birth("1971-04-05").sex("male").phone({"5557124709"})
      .line({"12 main st"});
  b.id(kSsn, "2").family({"smyth"}).given({"jon"}).birth("1971-05-04").sex("female").phone({"5557124708"})
      .line({"12 main st"});
  MatchScore s = compare_patients(a.f, b.f, cfg());
  CHECK(joined(s.agreed) == "family:phonetic,given:phonetic,birth-date:transposed,address:line");
  CHECK(joined(s.disagreed) == "identifier:us-ssn,sex,phone");
  CHECK(s.score == -10 + 3 + 3 + 2.5 - 3 - 0.5 + 2.5);
  CHECK(s.result == MatchResult::kNoMatch);
}

TEST_CASE("match thresholds: the default rules of schemas/matching.yaml, boundaries included") {
  // Everything a person's records share, then with fields taken away.
  auto person = [] {
    return F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male").phone({"5557124709"})
        .line({"12 main st"}).postal({"02149"});
  };
  struct Case {
    const char* what;
    F a, b;
    double score;
    MatchResult result;
  };
  const Case cases[] = {
      {"everything agrees", person(), person(), 18.5, MatchResult::kMatch},
      {"name, birth date, sex", F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male"),
       F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male"), 13.5, MatchResult::kPossibleMatch},
      {"name, birth date, sex and a phone", F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male").phone({"1234567"}),
       F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male").phone({"1234567"}), 16, MatchResult::kMatch},
      {"name, birth date, sex and an address line", F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male").line({"1 a st"}),
       F().family({"smith"}).given({"john"}).birth("1971-04-05").sex("male").line({"1 a st"}), 16, MatchResult::kMatch},
      {"all but the birth date (a father and his junior)", person().birth(""), person(), 13.5, MatchResult::kPossibleMatch},
      {"all but the given name", person().given({}), person(), 14.5, MatchResult::kPossibleMatch},
      {"the junior: birth dates differ", person().birth("1998-11-23"), person(), 7.5, MatchResult::kNoMatch},
      {"twins of one sex", person().given({"paul"}), person(), 10.5, MatchResult::kPossibleMatch},
      {"twins of two sexes", person().given({"mary"}).sex("female"), person(), 7, MatchResult::kNoMatch},
      {"namesakes in two towns", person().phone({"5550001111"}).line({"9 elm st"}).postal({"01103"}), person(), 12.5,
       MatchResult::kPossibleMatch},
      {"spouses", person().given({"mary"}).sex("female").birth("1973-02-01"), person(), -4, MatchResult::kNoMatch},
      {"a new family name", person().family({"jones"}), person(), 12.5, MatchResult::kPossibleMatch},
      {"a typed birth date", person().birth("1971-05-04"), person(), 16, MatchResult::kMatch},
      {"another MRN at one facility", person().id("urn:ehr:mrn", "1"), person().id("urn:ehr:mrn", "2"), 17.5,
       MatchResult::kMatch},
      {"another SSN", person().id(kSsn, "1"), person().id(kSsn, "2"), 8.5, MatchResult::kPossibleMatch},
      {"an SSN alone", F().id(kSsn, "1"), F().id(kSsn, "1"), 12, MatchResult::kPossibleMatch},
      {"an SSN, phone and sex: exactly the match threshold", F().id(kSsn, "1").phone({"1234567"}).sex("male"),
       F().id(kSsn, "1").phone({"1234567"}).sex("male"), 15, MatchResult::kMatch},
      {"family and given only: exactly the possible threshold", F().family({"smith"}).given({"john"}),
       F().family({"smith"}).given({"john"}), 8, MatchResult::kPossibleMatch},
      {"family, given and another phone: just below", F().family({"smith"}).given({"john"}).phone({"1234567"}),
       F().family({"smith"}).given({"john"}).phone({"7654321"}), 7.5, MatchResult::kNoMatch},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    MatchScore s = compare_patients(c.a.f, c.b.f, cfg());
    CHECK(s.score == c.score);
    CHECK(match_result_name(s.result) == match_result_name(c.result));
  }
  CHECK(match_result_name(MatchResult::kMatch) == "match");
  CHECK(match_result_name(MatchResult::kPossibleMatch) == "possible-match");
  CHECK(match_result_name(MatchResult::kNoMatch) == "no-match");
  // No single field but an identifier reaches possible-match.
  const F single[] = {F().family({"smith"}), F().given({"john"}), F().birth("1971-04-05"), F().sex("male"),
                      F().phone({"5557124709"}), F().line({"12 main st"}).postal({"02149"})};
  for (const auto& f : single)
    CHECK(compare_patients(f.f, f.f, cfg()).result == MatchResult::kNoMatch);
}

TEST_CASE("the built-in weights are schemas/matching.yaml") {
  const MatchConfig& c = MatchConfig::builtin();
  CHECK(c.match_threshold == 15);
  CHECK(c.possible_threshold == 8);
  CHECK(c.identifier_agree == 12);
  CHECK(c.identifier_disagree == -1);
  CHECK(c.shared_disagree == -10);
  CHECK(c.shared_systems ==
        Strings{"http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.3.25",
                "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber"});
  CHECK(c.family_exact == 4);
  CHECK(c.family_phonetic == 3);
  CHECK(c.family_disagree == -2);
  CHECK(c.given_exact == 4);
  CHECK(c.given_phonetic == 3);
  CHECK(c.given_initial == 1);
  CHECK(c.given_disagree == -4);
  CHECK(c.birth_exact == 5);
  CHECK(c.birth_transposed == 2.5);
  CHECK(c.birth_year_only == 1);
  CHECK(c.birth_disagree == -6);
  CHECK(c.sex_agree == 0.5);
  CHECK(c.sex_disagree == -3);
  CHECK(c.phone_agree == 2.5);
  CHECK(c.phone_disagree == -0.5);
  CHECK(c.address_agree == 2.5);
  CHECK(c.postal_agree == 1);
  CHECK(c.address_disagree == -0.5);
  CHECK(c.max_block == 50);

  auto loaded = MatchConfig::load("");
  REQUIRE(loaded.ok());
  CHECK(loaded->match_threshold == c.match_threshold);
  auto text = detail::embedded_schema("matching.yaml");
  REQUIRE(text.has_value());
  testing::TempDir dir;
  std::string site(*text);
  site.replace(site.find("match: 15"), 9, "match: 17");
  auto file = MatchConfig::load(dir.write("site.yaml", site));
  REQUIRE_MESSAGE(file.ok(), (file.ok() ? "" : file.error().message()));
  CHECK(file->match_threshold == 17);
  CHECK(file->family_exact == 4);

  auto missing = MatchConfig::load(dir.file("none.yaml"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == ErrorCode::kNoInput);
  CHECK(missing.error().message() == dir.file("none.yaml") + ": no such file");
  auto directory = MatchConfig::load(dir.path());
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().message() == dir.path() + ": cannot read: is a directory");
  auto bad = MatchConfig::load(dir.write("bad.yaml", "schema: ehr-matching\nversion: 2\n"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == dir.file("bad.yaml") + ":2:10: version must be 1 (the matching format this ehr reads)");
}

TEST_CASE("matching weights files are checked: syntax, keys, numbers, signs, thresholds") {
  const std::string base =
      "schema: ehr-matching\n"
      "version: 1\n"
      "thresholds: {match: 15, possible_match: 8}\n"
      "identifier: {agree: 12, disagree: -3, shared_disagree: -10, shared_systems: [urn:x]}\n"
      "family: {exact: 4, phonetic: 2.5, disagree: -2}\n"
      "given: {exact: 4, phonetic: 2.5, initial: 1, disagree: -4}\n"
      "birth_date: {exact: 5, transposed: 2, year_only: 1, disagree: -6}\n"
      "sex: {agree: 0.5, disagree: -3}\n"
      "phone: {agree: 2.5, disagree: -0.5}\n"
      "address: {agree: 2.5, postal: 1, disagree: -0.5}\n"
      "blocking: {max_block: 50}\n";
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = base;
    auto at = t.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    return t.replace(at, from.size(), to);
  };
  auto ok = MatchConfig::parse(base, "m.yaml");
  REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? "" : ok.error().message()));
  CHECK(ok->shared_systems == Strings{"urn:x"});
  CHECK(ok->phone_disagree == -0.5);
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {with("{match: 15,", "{match: 15"), "m.yaml:3:38: end of map flow not found"},
      {base + "colour: red\n",
       "m.yaml:12:1: unknown key 'colour' in the matching file (known: schema, version, thresholds, identifier, "
       "family, given, birth_date, sex, phone, address, blocking)"},
      {with("blocking: {max_block: 50}\n", ""), "m.yaml:1:1: missing key 'blocking' in the matching file"},
      {with("schema: ehr-matching", "schema: ehr-policy"), "m.yaml:1:9: schema must be ehr-matching"},
      {with("version: 1", "version: 2"), "m.yaml:2:10: version must be 1 (the matching format this ehr reads)"},
      {with("initial: 1,", "initial: 1, nickname: 1,"),
       "m.yaml:6:46: unknown key 'nickname' in given (known: exact, phonetic, initial, disagree)"},
      {with("initial: 1, ", ""), "m.yaml:6:8: missing key 'initial' in given"},
      {with("exact: 4, phonetic", "exact: four, phonetic"), "m.yaml:5:17: family.exact must be a number, not 'four'"},
      {with("exact: 4, phonetic", "exact: [4], phonetic"), "m.yaml:5:17: family.exact must be a number"},
      {with("disagree: -2", "disagree: 2"), "m.yaml:5:45: family.disagree must be 0 or less, not 2"},
      {with("agree: 0.5", "agree: -0.5"), "m.yaml:8:14: sex.agree must be 0 or more, not -0.5"},
      {with("possible_match: 8", "possible_match: 16"),
       "m.yaml:3:41: thresholds.possible_match (16) must not be above thresholds.match (15)"},
      {with("[urn:x]", "urn:x"), "m.yaml:4:77: identifier.shared_systems must be a list of system URIs"},
      {with("[urn:x]", "[[urn:x]]"), "m.yaml:4:78: identifier.shared_systems must be a list of system URIs"},
      {with("max_block: 50", "max_block: 1"), "m.yaml:11:23: blocking.max_block must be a whole number from 2 to 1000000, not '1'"},
      {with("max_block: 50", "max_block: 5.5"),
       "m.yaml:11:23: blocking.max_block must be a whole number from 2 to 1000000, not '5.5'"},
      {with("sex: {agree: 0.5, disagree: -3}", "sex: male"), "m.yaml:8:6: sex must be a map"},
      {"", "m.yaml: a matching file is a map of schema, version, thresholds and weights"},
      {"- 1\n", "m.yaml:1:1: a matching file is a map of schema, version, thresholds and weights"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = MatchConfig::parse(c.text, "m.yaml");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kConfig);
    CHECK(r.error().message() == c.error);
  }
}

TEST_CASE("blocking keys for matching: exact outputs") {
  struct Case {
    const char* what;
    F f;
    Strings keys;
  };
  const Case cases[] = {
      {"every kind of key",
       F().id("urn:ehr:mrn", "M-1").id(kSsn, "999-33-6284").family({"wintheiser", "heathcote"}).given({"aleta", "mae"})
           .birth("1971-04-05").phone({"5557124709"}).line({"850 kertzmann hts"}).postal({"02149"}),
       {"a:02149:850 kertzmann hts", "fb:HTKT:1971-04-05", "fb:WNTSR:1971-04-05", "fg:HTKT:ALT:1971",
        "fg:WNTSR:ALT:1971", "fm:HTKT:ALT:04-05", "fm:WNTSR:ALT:04-05", "gb:ALT:1971-04-05",
        "i:http://hl7.org/fhir/sid/us-ssn|999336284", "i:urn:ehr:mrn|M1", "p:5557124709"}},
      {"a year only: no full-date keys", F().family({"smith"}).given({"john"}).birth("1971"), {"fg:SMT:JN:1971"}},
      {"no birth date: names alone propose nothing", F().family({"smith"}).given({"john"}), {}},
      {"no family name", F().given({"john"}).birth("1971-04-05"), {"gb:JN:1971-04-05"}},
      {"two families of one sound are one key", F().family({"smith", "smyth"}).birth("1971-04-05"),
       {"fb:SMT:1971-04-05"}},
      {"an address line needs its postal code", F().line({"1 a st"}), {}},
      {"each line with each postal code", F().line({"1 a st", "2 b st"}).postal({"02149", "01103"}),
       {"a:01103:1 a st", "a:01103:2 b st", "a:02149:1 a st", "a:02149:2 b st"}},
      {"nothing", F(), {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    CHECK(joined(blocking_keys(c.f.f)) == joined(c.keys));
  }
}

TEST_CASE("the labelled matching set: no false match, recall, blocking misses") {
  testing::MatchCorpusOptions o;
  o.persons = 3000;
  std::vector<testing::CorpusRecord> corpus = testing::make_match_corpus(o);
  const MatchConfig& c = cfg();
  std::vector<MatchFeatures> f;
  for (const auto& r : corpus) f.push_back(match_features(r.patient));

  // The pairs blocking proposes: two records sharing a key of no more than
  // max_block records.
  std::map<std::string, std::vector<size_t>> blocks;
  for (size_t i = 0; i < f.size(); ++i)
    for (auto& k : blocking_keys(f[i])) blocks[k].push_back(i);
  std::set<std::pair<size_t, size_t>> proposed;
  size_t skipped_blocks = 0;
  for (const auto& [key, members] : blocks) {
    if (members.size() > static_cast<size_t>(c.max_block)) {
      ++skipped_blocks;
      continue;
    }
    for (size_t x = 0; x < members.size(); ++x)
      for (size_t y = x + 1; y < members.size(); ++y) proposed.insert({members[x], members[y]});
  }

  // The truth: records of one person.
  std::map<int, std::vector<size_t>> by_person;
  for (size_t i = 0; i < corpus.size(); ++i) by_person[corpus[i].person].push_back(i);
  std::vector<std::pair<size_t, size_t>> truth;
  for (const auto& [person, records] : by_person)
    for (size_t x = 0; x < records.size(); ++x)
      for (size_t y = x + 1; y < records.size(); ++y) truth.push_back({records[x], records[y]});

  size_t match_true = 0, match_false = 0, possible_true = 0, possible_false = 0;
  for (const auto& [i, j] : proposed) {
    MatchScore s = compare_patients(f[i], f[j], c);
    bool same = corpus[i].person == corpus[j].person;
    if (s.result == MatchResult::kMatch) (same ? match_true : match_false)++;
    if (s.result == MatchResult::kPossibleMatch) (same ? possible_true : possible_false)++;
    if (s.result == MatchResult::kMatch && !same)
      MESSAGE("false match: " << to_json(corpus[i].patient) << " / " << to_json(corpus[j].patient));
  }

  // Recall over all true pairs, blocked or not; by perturbation too.
  size_t missed_by_blocking = 0;
  std::map<std::string, std::array<size_t, 3>> by_kind;  // kind -> {pairs, match, match or possible}
  for (const auto& [i, j] : truth) {
    bool blocked = proposed.count({i, j}) > 0;
    if (!blocked) ++missed_by_blocking;
    MatchResult r = blocked ? compare_patients(f[i], f[j], c).result : MatchResult::kNoMatch;
    const auto& dup = corpus[i].duplicate ? corpus[i] : corpus[j];
    Strings kinds = dup.perturbations;
    kinds.push_back("(" + std::to_string(dup.perturbations.size()) + " perturbations)");
    if (dup.facility == 'A') kinds.push_back("(second registration at A)");
    kinds.push_back("(all)");
    for (const auto& k : kinds) {
      auto& n = by_kind[k];
      ++n[0];
      if (r == MatchResult::kMatch) ++n[1];
      if (r != MatchResult::kNoMatch) ++n[2];
    }
  }

  // Hard negatives against every record of their relative, blocked or not.
  std::map<std::string, std::array<size_t, 3>> negatives;  // relation -> {pairs, match, possible}
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (corpus[i].relation.empty()) continue;
    for (size_t j : by_person[corpus[i].relative]) {
      MatchScore s = compare_patients(f[i], f[j], c);
      auto& n = negatives[corpus[i].relation];
      ++n[0];
      if (s.result == MatchResult::kMatch) ++n[1];
      if (s.result == MatchResult::kPossibleMatch) ++n[2];
    }
  }

  auto ratio = [](size_t a, size_t b) { return b == 0 ? 1.0 : static_cast<double>(a) / static_cast<double>(b); };
  double precision_match = ratio(match_true, match_true + match_false);
  double precision_any = ratio(match_true + possible_true, match_true + match_false + possible_true + possible_false);
  double recall_match = ratio(match_true, truth.size());
  double recall_any = ratio(match_true + possible_true, truth.size());
  char line[200];
  std::string report = "labelled set: " + std::to_string(corpus.size()) + " records, " + std::to_string(by_person.size()) +
                       " persons, " + std::to_string(truth.size()) + " true pairs, " + std::to_string(proposed.size()) +
                       " pairs proposed by blocking (" + std::to_string(skipped_blocks) + " keys over max_block)\n";
  std::snprintf(line, sizeof line, "match: precision %.4f recall %.4f (%zu true, %zu false)\n", precision_match,
                recall_match, match_true, match_false);
  report += line;
  std::snprintf(line, sizeof line, "match or possible-match: precision %.4f recall %.4f (%zu true, %zu false)\n",
                precision_any, recall_any, match_true + possible_true, match_false + possible_false);
  report += line;
  report += "true pairs sharing no blocking key: " + std::to_string(missed_by_blocking) + "\n";
  for (const auto& [kind, n] : by_kind) {
    std::snprintf(line, sizeof line, "  %-28s %5zu pairs  match %.3f  match or possible %.3f\n", kind.c_str(), n[0],
                  ratio(n[1], n[0]), ratio(n[2], n[0]));
    report += line;
  }
  for (const auto& [relation, n] : negatives) {
    std::snprintf(line, sizeof line, "  hard negative %-10s %4zu pairs  match %zu  possible-match %zu\n",
                  relation.c_str(), n[0], n[1], n[2]);
    report += line;
  }
  MESSAGE(report);

  // Nothing is merged on weak evidence: not one pair of two people is a
  // match, and no hard negative is, blocked or not.
  REQUIRE(match_false == 0);
  for (const auto& [relation, n] : negatives) {
    CAPTURE(relation);
    CHECK(n[0] > 20);
    CHECK(n[1] == 0);
  }
  // Recall of match: 0.872 measured (0.86 to 0.87 on other seeds and at
  // 20,000 and 100,000 persons). Below the 0.9 first aimed at, by design:
  // what stays possible-match is what the hard negatives also look like.
  // A given name typed wrong so that it no longer sounds the same, with all
  // else equal, scores exactly what same-sex twins score (10.5); a new
  // family name (12.5) and a record with only name, birth date and sex in
  // common (13.5) are what two namesakes look like; and so on. A person
  // reviews those. Every second record without perturbations is a match.
  CHECK(recall_match >= 0.85);
  CHECK(by_kind["(0 perturbations)"][1] == by_kind["(0 perturbations)"][0]);
  // Possible-match catches nearly all the rest (0.994 measured).
  CHECK(recall_any >= 0.98);
  // Blocking: 1 true pair of 885 shares no key (a year typed wrong and a
  // family name typed wrong, with no phone or address in common).
  CHECK(missed_by_blocking <= truth.size() / 200);
}

TEST_CASE("compare_patients is symmetric on the labelled matching set") {
  testing::MatchCorpusOptions o;
  o.persons = 300;
  auto corpus = testing::make_match_corpus(o);
  std::vector<MatchFeatures> f;
  for (const auto& r : corpus) f.push_back(match_features(r.patient));
  for (size_t i = 0; i < f.size(); ++i)
    for (size_t j = i + 1; j < f.size(); j += 7) {
      MatchScore ab = compare_patients(f[i], f[j], cfg()), ba = compare_patients(f[j], f[i], cfg());
      REQUIRE(ab.score == ba.score);
      REQUIRE(ab.result == ba.result);
      REQUIRE(ab.agreed == ba.agreed);
      REQUIRE(ab.disagreed == ba.disagreed);
    }
}

TEST_CASE("the labelled matching set is the same every time") {
  testing::MatchCorpusOptions o;
  o.persons = 200;
  auto a = testing::make_match_corpus(o), b = testing::make_match_corpus(o);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(to_json(a[i].patient) == to_json(b[i].patient));
  CHECK(to_json(a[0].patient).rfind("{\"resourceType\":\"Patient\",\"id\":\"a1\"", 0) == 0);
  // As NDJSON for a benchmark: one line per record, each a Patient.
  std::ostringstream out;
  CHECK(testing::write_match_corpus_ndjson(o, out) == a.size());
  std::istringstream in(out.str());
  size_t lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    auto p = parse_json(line);
    REQUIRE(p.ok());
    CHECK(to_json(*p) == to_json(a[lines].patient));
  }
  CHECK(lines == a.size());
}

}

}  // namespace ehr
