// A labelled test set for patient matching (core/src/matching.cc), made up
// deterministically from a seed with its own small name, street and town
// lists (no real or shared data):
//  - base persons, each one record at facility A, written the way Synthea
//    writes FHIR Patients (digits after names, "Mrs." prefixes, maiden
//    names, 555 phone numbers, SSN, driver's licence and passport
//    identifiers);
//  - for a share of them a second record of the same person as another
//    facility would hold it (facility B: its own MRN system, other phone and
//    street spellings, fewer identifiers), or a second registration at A
//    (a new MRN of A's system), with perturbations drawn at random (see
//    kPerturbations);
//  - hard negatives that must not match their relative: twins, a parent and
//    the child named after them (Jr.), spouses, and two people of one common
//    name born on one day in different towns.
// The same options always give the same records, in the same order, on every
// machine (own PRNG, no std distributions). persons = 100000 gives about
// 140,000 Patients for a benchmark, streamed through the callback.

#ifndef EHR_TESTS_SUPPORT_MATCH_CORPUS_H_
#define EHR_TESTS_SUPPORT_MATCH_CORPUS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "ehr/json.h"

namespace ehr::testing {

struct MatchCorpusOptions {
  std::uint64_t seed = 20260611;
  int persons = 2000;             // base persons (each one record at facility A)
  int duplicate_percent = 30;     // of base persons that get a second record
  int hard_negative_percent = 9;  // of base persons that get a twin, a junior or a spouse
  int namesake_percent = 2;       // of base persons after which a pair of namesakes is added
};

// The perturbations a second record may carry, by name.
inline const char* const kPerturbations[] = {
    "family-typo",      "given-typo",    "phonetic-variant", "birth-day-month",
    "birth-digit-swap", "missing-phone", "missing-address",  "married-name",
    "different-phone",  "accents",       "first-given-only"};

struct CorpusRecord {
  Json patient;                            // a FHIR R4 Patient
  int person = 0;                          // who it describes: same number, same person
  char facility = 'A';                     // 'A' or 'B'
  bool duplicate = false;                  // the second record of its person
  std::vector<std::string> perturbations;  // of a duplicate: what differs (from kPerturbations)
  std::string relation;  // of a hard negative: "twin", "junior", "spouse", "namesake"
  int relative = -1;     // of a hard negative: the person it must not match
};

// Generates the set, calling `sink` with each record in order: a base
// record, then its duplicate and relative (if any), then namesakes.
void generate_match_corpus(const MatchCorpusOptions& o,
                           const std::function<void(CorpusRecord&&)>& sink);

// All of generate_match_corpus's records.
std::vector<CorpusRecord> make_match_corpus(const MatchCorpusOptions& o);

// The set's Patients as NDJSON (one compact resource a line, the form
// `ehr import` reads), streamed: persons = 100000 writes about 140,000
// lines without holding them. Returns how many it wrote.
size_t write_match_corpus_ndjson(const MatchCorpusOptions& o, std::ostream& out);

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_MATCH_CORPUS_H_
