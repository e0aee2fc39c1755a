// Patient matching: the probabilistic comparison of two Patient resources
// that decides whether they describe the same person.
//
// A pure engine, no database: the stored side (candidate blocking through
// the match_key table, the review queue, merges) is patient_merge.h.
//
// Each Patient is reduced to MatchFeatures (folded names, phonetic keys,
// birth date, sex, phone digits, address), compared field by field, and
// every comparator adds its weight (Fellegi-Sunter style: positive when the
// field agrees, negative when it disagrees, zero when either side lacks it).
// The sum against two thresholds gives match, possible-match or no-match.
// Weights and thresholds are data: schemas/matching.yaml (embedded; schema
// ehr-matching) or a file named by the `matching` config key.
//
// Thread safety: all functions are pure; MatchConfig is immutable.

#ifndef EHR_MATCHING_H_
#define EHR_MATCHING_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ehr/json.h"
#include "ehr/status.h"

namespace ehr {

// One patient's demographics in the forms the comparators read. Every
// string is folded (fold_name: lower case, Latin diacritics stripped);
// empty fields and lists mean "not recorded".
struct MatchFeatures {
  std::string id;                                            // Patient.id
  std::vector<std::pair<std::string, std::string>> identifiers;  // (system, value), both non-empty
  std::vector<std::string> family;        // family names, each folded, inner spaces and hyphens kept
  std::vector<std::string> given;         // given names, first name first, folded
  std::string birth_date;                 // YYYY-MM-DD, YYYY-MM or YYYY as recorded
  std::string sex;                        // Patient.gender ("male", "female", "other", "unknown")
  std::vector<std::string> phones;        // telecom phone digits, last 10 digits
  std::vector<std::string> postal_codes;  // address postalCode, alphanumerics only, first 5
  std::vector<std::string> address_lines; // address line[0], folded, punctuation dropped,
                                          // spaces collapsed, common street words abbreviated
  bool retired = false;                   // active=false with a replaced-by link (a merged source)
};

// The features of a Patient resource. Names come from every HumanName
// (official first), dropping digits (Synthea's "Aleta411") and titles.
MatchFeatures match_features(const Json& patient);

// A phonetic key of one folded name (letters only considered): names that
// sound alike share it ("smith"/"smyth", "catherine"/"kathryn"). Own
// algorithm, no nickname table. "" for a name without letters.
std::string phonetic_key(std::string_view folded_name);

// Weights and thresholds (schemas/matching.yaml documents each).
struct MatchConfig {
  double match_threshold = 0;     // score >= this: match
  double possible_threshold = 0;  // score >= this (and below match): possible-match
  // Identifiers of the same system: equal values agree, different values
  // disagree (two MRNs of one facility name two people). Systems listed in
  // `shared_systems` (SSN, driver's licence, passport) are national, so a
  // disagreement there weighs `shared_disagree` instead.
  double identifier_agree = 0, identifier_disagree = 0, shared_disagree = 0;
  std::vector<std::string> shared_systems;
  double family_exact = 0, family_phonetic = 0, family_disagree = 0;
  double given_exact = 0, given_phonetic = 0, given_initial = 0, given_disagree = 0;
  double birth_exact = 0, birth_transposed = 0, birth_year_only = 0, birth_disagree = 0;
  double sex_agree = 0, sex_disagree = 0;
  double phone_agree = 0, phone_disagree = 0;
  double address_agree = 0, postal_agree = 0, address_disagree = 0;
  // Blocking: a key shared by more patients than this is too common to
  // propose pairs from (patient duplicates reports how many it skipped).
  int max_block = 0;

  // Parses ehr-matching YAML. `source` names the text in errors.
  // Errors: kConfig "SOURCE:LINE:COLUMN: <what>" for YAML syntax, unknown or
  // missing keys, a non-numeric weight, possible-match above match.
  static Result<MatchConfig> parse(std::string_view text, std::string_view source);
  // schemas/matching.yaml as built in.
  static const MatchConfig& builtin();
  // The file at `path`, or builtin() when `path` is empty.
  // Errors: kNoInput when the file cannot be read; those of parse.
  static Result<MatchConfig> load(const std::string& path);
};

enum class MatchResult { kNoMatch, kPossibleMatch, kMatch };
// "no-match", "possible-match", "match".
std::string_view match_result_name(MatchResult r);

struct MatchScore {
  MatchResult result = MatchResult::kNoMatch;
  double score = 0;
  // Comparator outcomes by field, in a fixed order: "identifier", "family",
  // "given", "birth-date", "sex", "phone", "address", each with how it
  // agreed: "identifier:us-ssn", "family:exact", "family:phonetic",
  // "given:initial", "birth-date:transposed", "address:postal", ...
  std::vector<std::string> agreed;
  std::vector<std::string> disagreed;  // "birth-date", "identifier:urn:ehr:mrn", ...
};

// Compares two patients. Symmetric: compare(a, b) == compare(b, a).
MatchScore compare_patients(const MatchFeatures& a, const MatchFeatures& b, const MatchConfig& c);

// The blocking keys of a patient: two patients are compared only when they
// share one. Sorted, unique, each short, none holding a name or date in
// clear text beyond what the encrypted database already holds. Chosen so
// that a typo in any one field (or a day/month swap, or a changed family
// name) still leaves a shared key:
//   "i:SYSTEM|VALUE"             each identifier (VALUE without blanks and
//                                hyphens, upper case, as compare_patients
//                                compares it)
//   "fb:PHON(family):BIRTHDATE"  each family sound + full birth date
//   "gb:PHON(given):BIRTHDATE"   first given name sound + full birth date
//   "fg:PHON(family):PHON(given):YEAR"
//   "fm:PHON(family):PHON(given):MM-DD"  (a mistyped year)
//   "p:PHONE"                    each phone
//   "a:POSTAL:LINE"              each address line with each postal code
// A patient with none of these (no name, no birth date, no identifier,
// phone or address) gets no key and is never proposed.
std::vector<std::string> blocking_keys(const MatchFeatures& f);

}  // namespace ehr

#endif  // EHR_MATCHING_H_
