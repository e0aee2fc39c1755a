// Patient matching (ehr/matching.h): a Patient's features, the sound key,
// the field comparators and their sum, the blocking keys, and the weights
// file (schemas/matching.yaml, schema ehr-matching). Pure functions: no
// database, and no I/O but MatchConfig::load's one read.
//
// Sections: text clean-up; features; the sound key; comparators;
// compare_patients; blocking keys; the weights file.

#include "ehr/matching.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "ehr/records.h"
#include "schemas.h"
#include "yaml_adapter.h"

namespace ehr {

namespace {

// --- text clean-up -------------------------------------------------------------

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || static_cast<unsigned char>(c) >= 0x80; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Words that are not names: courtesy titles and generational suffixes, as
// registration systems put them into name fields ("Mr. John", "Smith Jr").
bool is_title(std::string_view w) {
  static const char* const kTitles[] = {"mr",   "mrs", "ms", "miss", "mx", "dr",
                                        "prof", "rev", "fr", "sir",  "jr", "sr",
                                        "ii",   "iii", "iv", "md",   "phd"};
  for (const char* t : kTitles)
    if (w == t) return true;
  return false;
}

// Folds `raw`, drops digits (Synthea's "Aleta411"), apostrophes and periods
// (so "o'brien" is "obrien" and "jr." is "jr"), turns every other
// non-letter into a blank (hyphens too unless `keep_hyphen`), and returns the
// words that are not titles.
std::vector<std::string> name_words(std::string_view raw, bool keep_hyphen) {
  std::string folded = fold_name(raw);
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    // A hyphen at either end of a word joined nothing.
    while (!cur.empty() && cur.back() == '-') cur.pop_back();
    size_t lead = cur.find_first_not_of('-');
    cur = lead == std::string::npos ? "" : cur.substr(lead);
    if (!cur.empty() && !is_title(cur)) words.push_back(cur);
    cur.clear();
  };
  for (char c : folded) {
    if (is_alpha(c))
      cur += c;
    else if (c == '-' && keep_hyphen)
      cur += c;
    else if (is_digit(c) || c == '\'' || c == '.')
      continue;
    else
      flush();
  }
  flush();
  return words;
}

std::string join(const std::vector<std::string>& words, char sep) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += sep;
    out += w;
  }
  return out;
}

void add_unique(std::vector<std::string>& list, std::string v) {
  if (!v.empty() && std::find(list.begin(), list.end(), v) == list.end())
    list.push_back(std::move(v));
}

// USPS-style abbreviations of the words of a street line.
std::string_view street_abbreviation(std::string_view w) {
  static const std::pair<const char*, const char*> kWords[] = {
      {"street", "st"},     {"str", "st"},       {"avenue", "ave"},      {"av", "ave"},
      {"road", "rd"},       {"drive", "dr"},     {"lane", "ln"},         {"boulevard", "blvd"},
      {"court", "ct"},      {"place", "pl"},     {"square", "sq"},       {"terrace", "ter"},
      {"circle", "cir"},    {"highway", "hwy"},  {"parkway", "pkwy"},    {"heights", "hts"},
      {"crossing", "xing"}, {"junction", "jct"}, {"mount", "mt"},        {"mountain", "mtn"},
      {"point", "pt"},      {"trail", "trl"},    {"gardens", "gdns"},    {"station", "sta"},
      {"center", "ctr"},    {"centre", "ctr"},   {"expressway", "expy"}, {"freeway", "fwy"},
      {"apartment", "apt"}, {"suite", "ste"},    {"north", "n"},         {"south", "s"},
      {"east", "e"},        {"west", "w"},       {"northeast", "ne"},    {"northwest", "nw"},
      {"southeast", "se"},  {"southwest", "sw"}, {"floor", "fl"},        {"building", "bldg"}};
  for (const auto& [from, to] : kWords)
    if (w == from) return to;
  return w;
}

// An address line as compared: folded, apostrophes and periods dropped,
// other punctuation a blank, blanks collapsed, street words abbreviated.
std::string normal_line(std::string_view raw) {
  std::string folded = fold_name(raw), out, cur;
  auto flush = [&] {
    if (cur.empty()) return;
    if (!out.empty()) out += ' ';
    out += street_abbreviation(cur);
    cur.clear();
  };
  for (char c : folded) {
    if (is_alpha(c) || is_digit(c))
      cur += c;
    else if (c == '\'' || c == '.')
      continue;
    else
      flush();
  }
  flush();
  return out;
}

const std::string* string_member(const Json& j, std::string_view key) {
  const Json* v = j.find(key);
  return v != nullptr && v->is_string() ? &v->text() : nullptr;
}

// A birth date as recorded, or "" when it is not YYYY, YYYY-MM or YYYY-MM-DD.
std::string birth_date_of(const std::string& t) {
  if (t.size() != 4 && t.size() != 7 && t.size() != 10) return "";
  for (size_t i = 0; i < t.size(); ++i) {
    bool dash = i == 4 || i == 7;
    if (dash ? t[i] != '-' : !is_digit(t[i])) return "";
  }
  return t;
}

}  // namespace

// --- features ------------------------------------------------------------------

MatchFeatures match_features(const Json& patient) {
  MatchFeatures f;
  if (const std::string* id = string_member(patient, "id")) f.id = *id;
  if (const Json* ids = patient.find("identifier"); ids != nullptr && ids->is_array()) {
    for (const Json& i : ids->items()) {
      const std::string* system = string_member(i, "system");
      const std::string* value = string_member(i, "value");
      if (system == nullptr || value == nullptr || system->empty() || value->empty()) continue;
      std::pair<std::string, std::string> p{*system, *value};
      if (std::find(f.identifiers.begin(), f.identifiers.end(), p) == f.identifiers.end())
        f.identifiers.push_back(std::move(p));
    }
  }
  // Names: official ones first, then the others (maiden, usual, old, ...) in
  // their order; each name's given names in order, split at blanks and
  // hyphens ("Mary-Jane" is "mary" then "jane").
  if (const Json* names = patient.find("name"); names != nullptr && names->is_array()) {
    std::vector<const Json*> ordered;
    for (int pass = 0; pass < 2; ++pass)
      for (const Json& n : names->items()) {
        if (!n.is_object()) continue;
        const std::string* use = string_member(n, "use");
        bool official = use != nullptr && *use == "official";
        if (official == (pass == 0)) ordered.push_back(&n);
      }
    for (const Json* n : ordered) {
      std::vector<std::string> family;
      std::vector<std::string> given;
      if (const std::string* fam = string_member(*n, "family")) family = name_words(*fam, true);
      if (const Json* g = n->find("given"); g != nullptr && g->is_array())
        for (const Json& part : g->items())
          if (part.is_string())
            for (auto& w : name_words(part.text(), false)) given.push_back(std::move(w));
      const std::string* text = string_member(*n, "text");
      if (family.empty() && given.empty() && text != nullptr) {
        // Only the text: "Family, Given Middle" or "Given Middle Family".
        auto comma = text->find(',');
        if (comma != std::string::npos) {
          family = name_words(text->substr(0, comma), true);
          given = name_words(text->substr(comma + 1), false);
        } else {
          given = name_words(*text, false);
          if (!given.empty()) {
            family = {given.back()};
            given.pop_back();
          }
        }
      }
      add_unique(f.family, join(family, ' '));
      for (auto& g : given) add_unique(f.given, std::move(g));
    }
  }
  if (const std::string* b = string_member(patient, "birthDate")) f.birth_date = birth_date_of(*b);
  if (const std::string* g = string_member(patient, "gender")) f.sex = fold_name(*g);
  if (const Json* telecom = patient.find("telecom"); telecom != nullptr && telecom->is_array()) {
    for (const Json& t : telecom->items()) {
      const std::string* system = string_member(t, "system");
      const std::string* value = string_member(t, "value");
      if (system == nullptr || value == nullptr || (*system != "phone" && *system != "sms"))
        continue;
      std::string digits;
      for (char c : *value)
        if (is_digit(c)) digits += c;
      // Fewer than 7 digits is an extension or a fragment, not a number.
      if (digits.size() < 7) continue;
      if (digits.size() > 10) digits = digits.substr(digits.size() - 10);
      add_unique(f.phones, digits);
    }
  }
  if (const Json* addresses = patient.find("address");
      addresses != nullptr && addresses->is_array()) {
    for (const Json& a : addresses->items()) {
      if (const std::string* postal = string_member(a, "postalCode")) {
        std::string code;
        for (char c : fold_name(*postal))
          if ((c >= 'a' && c <= 'z') || is_digit(c)) code += c;
        add_unique(f.postal_codes, code.substr(0, 5));
      }
      if (const Json* lines = a.find("line"); lines != nullptr && lines->is_array() &&
                                              !lines->items().empty() &&
                                              lines->items().front().is_string())
        add_unique(f.address_lines, normal_line(lines->items().front().text()));
    }
  }
  const Json* active = patient.find("active");
  if (active != nullptr && active->is_bool() && !active->as_bool())
    if (const Json* links = patient.find("link"); links != nullptr && links->is_array())
      for (const Json& l : links->items())
        if (const std::string* type = string_member(l, "type");
            type != nullptr && *type == "replaced-by")
          f.retired = true;
  return f;
}

// --- the sound key ---------------------------------------------------------------
//
// A refinement of Soundex with some NYSIIS spelling rules, written for
// given and family names as English-speaking registration desks type them:
//  1. Only the letters a-z count ("o'brien" and "obrien" are one name).
//  2. Spellings of one sound are rewritten first: at the start mac -> mc,
//     kn/gn/pn -> n, wr -> r, ps -> s, pf -> f, wh -> w, x -> s; anywhere
//     sch/sh/ch/tch -> S (but chr -> K, as in christopher), ph -> F,
//     th -> T, ck/qu -> K, dg -> J, gh silent (but at the start), mp
//     before s or t -> M (thompson = thomson).
//  3. Consonants fall into sound classes: B (b p), F (f v), K (k q, and c
//     hard: before anything but e i y), G (g hard), S (s z, c soft), J (j,
//     g soft), T (t d), L, M, N, R; x is K then S.
//  4. Vowels (and y after the first letter) leave no code but separate
//     repeats; h and w leave no code and separate nothing, so "anna" and
//     "ana" are both AN, and "tatum" keeps its two Ts.
//  5. The first letter is coded like the others (catherine and kathryn
//     both start with K), but a first vowel keeps its letter (ian is IN,
//     owen ON: unlike NYSIIS, first vowels are not merged), and a first h,
//     w or y is H, W or Y.
//  6. Repeats of one class collapse; at most 6 codes are kept.
// So smith = smyth = schmidt (SMT), catherine = kathryn (KTRN), sean =
// shawn (SN), stephen = steven (STFN), jon = john (JN, as is jane: vowels
// are not heard).

std::string phonetic_key(std::string_view folded_name) {
  std::string s;
  for (char c : folded_name)
    if (c >= 'a' && c <= 'z') s += c;
  if (s.empty()) return "";
  // Step 2: spellings at the start, then spellings of one sound anywhere
  // (letters matched, letters used, code; code 0 is silent).
  static const std::pair<const char*, const char*> kStarts[] = {
      {"mac", "mc"}, {"kn", "n"}, {"gn", "n"}, {"pn", "n"}, {"wr", "r"},
      {"ps", "s"},   {"pf", "f"}, {"wh", "w"}, {"x", "s"}};
  for (const auto& [from, to] : kStarts)
    if (s.rfind(from, 0) == 0) {
      s.replace(0, std::string_view(from).size(), to);
      break;
    }
  struct Graph {
    const char* letters;
    size_t used;
    char code;
  };
  static const Graph kGraphs[] = {
      {"sch", 3, 'S'}, {"tch", 3, 'S'}, {"chr", 2, 'K'}, {"sh", 2, 'S'}, {"ch", 2, 'S'},
      {"ph", 2, 'F'},  {"th", 2, 'T'},  {"ck", 2, 'K'},  {"qu", 2, 'K'}, {"dg", 2, 'J'},
      {"mps", 2, 'M'}, {"mpt", 2, 'M'}, {"gh", 2, 0}};

  auto vowel = [](char c) {
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
  };
  auto soft_after = [&](size_t i) {
    return i + 1 < s.size() && (s[i + 1] == 'e' || s[i + 1] == 'i' || s[i + 1] == 'y');
  };

  std::string key;
  char last = 0;  // the last code written since the last vowel (0 after a vowel)
  auto emit = [&](char code) {
    if (code != last && key.size() < 6) key += code;
    last = code;
  };
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    bool first = i == 0;
    if (first && vowel(c) && c != 'y') {
      key += static_cast<char>(c - 'a' + 'A');
      last = 0;
      ++i;
      continue;
    }
    const Graph* graph = nullptr;
    for (const Graph& g : kGraphs)
      if (s.compare(i, std::string_view(g.letters).size(), g.letters) == 0) {
        graph = &g;
        break;
      }
    if (graph != nullptr) {
      // A silent gh is heard at the start ("ghislaine").
      if (graph->code != 0 || first) emit(graph->code != 0 ? graph->code : 'G');
      i += graph->used;
      continue;
    }
    // Step 3: the class of each letter: '.' a vowel, '-' h or w, '?' by context.
    static constexpr std::string_view kClass = ".B?T.F?-.JKLMN.BKRST.F-??S";
    char k = kClass[static_cast<size_t>(c - 'a')];
    if (c == 'c') {
      k = soft_after(i) ? 'S' : 'K';
    } else if (c == 'g') {
      k = soft_after(i) ? 'J' : 'G';
    } else if (c == 'x') {
      emit('K');
      k = 'S';
    } else if (c == 'y') {
      k = first ? 'Y' : '.';
    }
    if (k == '.') {
      last = 0;  // a vowel separates repeats
    } else if (k == '-') {
      if (first) emit(static_cast<char>(c - 'a' + 'A'));
    } else {
      emit(k);
    }
    ++i;
  }
  return key;
}

namespace {

// --- comparators -----------------------------------------------------------------

enum class Outcome {
  kMissing,
  kExact,
  kPhonetic,
  kInitial,
  kOther,
  kTransposed,
  kYearOnly,
  kPostal,
  kDisagree
};

// Letters only: the spelling the typo rule compares.
std::string letters(std::string_view s) {
  std::string out;
  for (char c : s)
    if (is_alpha(c)) out += c;
  return out;
}

// One substitution, insertion, deletion or swap of two neighbours apart
// (the optimal string alignment distance is 1).
bool one_edit_apart(const std::string& a, const std::string& b) {
  if (a == b) return false;
  if (a.size() == b.size()) {
    std::vector<size_t> diff;
    for (size_t i = 0; i < a.size() && diff.size() < 3; ++i)
      if (a[i] != b[i]) diff.push_back(i);
    if (diff.size() == 1) return true;
    return diff.size() == 2 && diff[1] == diff[0] + 1 && a[diff[0]] == b[diff[1]] &&
           a[diff[1]] == b[diff[0]];
  }
  const std::string& longer = a.size() > b.size() ? a : b;
  const std::string& shorter = a.size() > b.size() ? b : a;
  if (longer.size() != shorter.size() + 1) return false;
  size_t i = 0;
  while (i < shorter.size() && shorter[i] == longer[i]) ++i;
  return longer.compare(i + 1, std::string::npos, shorter, i, std::string::npos) == 0;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '-') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Family names: exact when any name of one equals any of the other's
// (hyphens and blanks alike); phonetic when any pair shares a sound key,
// is one typo apart (3 letters or more), or shares one word of 3 letters
// or more (double-barrelled names).
Outcome compare_family(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return Outcome::kMissing;
  Outcome best = Outcome::kDisagree;
  for (const auto& x : a)
    for (const auto& y : b) {
      auto wx = split_words(x), wy = split_words(y);
      if (wx == wy) return Outcome::kExact;
      std::string lx = letters(x), ly = letters(y);
      std::string kx = phonetic_key(lx);
      bool close = (!kx.empty() && kx == phonetic_key(ly)) ||
                   (std::min(lx.size(), ly.size()) >= 3 && one_edit_apart(lx, ly));
      if (!close && (wx.size() > 1 || wy.size() > 1))
        for (const auto& w : wx)
          if (w.size() >= 3 && std::find(wy.begin(), wy.end(), w) != wy.end()) close = true;
      if (close) best = Outcome::kPhonetic;
    }
  return best;
}

// Two neighbouring letters swapped, the first letter kept ("nancy"/"nanyc"):
// a typing slip that, unlike other one-letter differences, turns one given
// name into another almost never.
bool neighbours_swapped(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.size() < 4 || a[0] != b[0]) return false;
  size_t i = 1;
  while (i < a.size() && a[i] == b[i]) ++i;
  return i + 1 < a.size() && a[i] == b[i + 1] && a[i + 1] == b[i] &&
         a.compare(i + 2, std::string::npos, b, i + 2) == 0;
}

// Given names: the first given names decide (exact; phonetic: the same sound
// key, or neighbours swapped; an initial against a name); failing that, any
// later given name equal to any of the other's is kOther (weighed as
// phonetic).
Outcome compare_given(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return Outcome::kMissing;
  const std::string& x = a.front();
  const std::string& y = b.front();
  if (x.size() == 1 || y.size() == 1) {
    if (x[0] == y[0]) return Outcome::kInitial;
  } else {
    if (x == y) return Outcome::kExact;
    std::string k = phonetic_key(x);
    if ((!k.empty() && k == phonetic_key(y)) || neighbours_swapped(x, y)) return Outcome::kPhonetic;
  }
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < b.size(); ++j)
      if ((i > 0 || j > 0) && a[i].size() > 1 && a[i] == b[j]) return Outcome::kOther;
  return Outcome::kDisagree;
}

// Two full dates one typing error apart: day and month swapped, two
// neighbouring digits of one part swapped, or one digit different outside
// the century and decade of the year.
bool transposed(const std::string& a, const std::string& b) {
  std::string da, db;
  for (char c : a)
    if (c != '-') da += c;
  for (char c : b)
    if (c != '-') db += c;
  if (da.size() != 8 || db.size() != 8 || da == db) return false;
  if (da.substr(0, 4) == db.substr(0, 4) && da.substr(4, 2) == db.substr(6, 2) &&
      da.substr(6, 2) == db.substr(4, 2))
    return true;
  std::vector<size_t> diff;
  for (size_t i = 0; i < 8; ++i)
    if (da[i] != db[i]) diff.push_back(i);
  if (diff.size() == 1) return diff[0] >= 3;
  // Neighbours within the year (0-3), the month (4-5) or the day (6-7).
  return diff.size() == 2 && diff[1] == diff[0] + 1 && diff[0] != 3 && diff[0] != 5 &&
         da[diff[0]] == db[diff[1]] && da[diff[1]] == db[diff[0]];
}

Outcome compare_birth(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return Outcome::kMissing;
  if (a.size() == 10 && b.size() == 10) {
    if (a == b) return Outcome::kExact;
    return transposed(a, b) ? Outcome::kTransposed : Outcome::kDisagree;
  }
  size_t n = std::min(a.size(), b.size());
  return a.compare(0, n, b, 0, n) == 0 ? Outcome::kYearOnly : Outcome::kDisagree;
}

bool recorded_sex(const std::string& s) { return s == "male" || s == "female" || s == "other"; }

bool intersect(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a)
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  return false;
}

// An address line in common counts when the postal codes do not say the
// lines are in different towns (one side without a postal code, or one in
// common); otherwise a postal code in common counts for less.
Outcome compare_address(const MatchFeatures& a, const MatchFeatures& b) {
  bool has_a = !a.address_lines.empty() || !a.postal_codes.empty();
  bool has_b = !b.address_lines.empty() || !b.postal_codes.empty();
  if (!has_a || !has_b) return Outcome::kMissing;
  bool postal = intersect(a.postal_codes, b.postal_codes);
  bool postal_known = !a.postal_codes.empty() && !b.postal_codes.empty();
  if (intersect(a.address_lines, b.address_lines) && (postal || !postal_known))
    return Outcome::kExact;
  return postal ? Outcome::kPostal : Outcome::kDisagree;
}

// Identifier values compare without blanks and hyphens, case-blind
// ("999-33-6284" = "999336284").
std::string identifier_key(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == ' ' || c == '-') continue;
    out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return out;
}

// "us-ssn" for "http://hl7.org/fhir/sid/us-ssn"; a URN stays whole.
std::string short_system(const std::string& system) {
  auto slash = system.find_last_of('/');
  return slash == std::string::npos || slash + 1 == system.size() ? system
                                                                  : system.substr(slash + 1);
}

}  // namespace

// --- compare_patients --------------------------------------------------------------

std::string_view match_result_name(MatchResult r) {
  switch (r) {
    case MatchResult::kMatch:
      return "match";
    case MatchResult::kPossibleMatch:
      return "possible-match";
    case MatchResult::kNoMatch:
      break;
  }
  return "no-match";
}

MatchScore compare_patients(const MatchFeatures& a, const MatchFeatures& b, const MatchConfig& c) {
  MatchScore s;
  auto agree = [&](double w, std::string what) {
    s.score += w;
    s.agreed.push_back(std::move(what));
  };
  auto disagree = [&](double w, std::string what) {
    s.score += w;
    s.disagreed.push_back(std::move(what));
  };

  // Identifiers: each system both sides hold, in sorted order (so that the
  // sum and the lists do not depend on which side is a).
  std::set<std::string> systems;
  for (const auto& [system, value] : a.identifiers)
    for (const auto& other : b.identifiers)
      if (other.first == system) systems.insert(system);
  bool any_agree = false;
  for (const auto& system : systems) {
    bool same = false;
    for (const auto& [sa, va] : a.identifiers)
      for (const auto& [sb, vb] : b.identifiers)
        if (sa == system && sb == system && identifier_key(va) == identifier_key(vb)) same = true;
    if (same) {
      s.agreed.push_back("identifier:" + short_system(system));
      any_agree = true;
    } else {
      bool shared = std::find(c.shared_systems.begin(), c.shared_systems.end(), system) !=
                    c.shared_systems.end();
      disagree(shared ? c.shared_disagree : c.identifier_disagree,
               "identifier:" + short_system(system));
    }
  }
  // Once, however many systems agree.
  if (any_agree) s.score += c.identifier_agree;

  switch (compare_family(a.family, b.family)) {
    case Outcome::kExact:
      agree(c.family_exact, "family:exact");
      break;
    case Outcome::kPhonetic:
      agree(c.family_phonetic, "family:phonetic");
      break;
    case Outcome::kDisagree:
      disagree(c.family_disagree, "family");
      break;
    default:
      break;
  }
  switch (compare_given(a.given, b.given)) {
    case Outcome::kExact:
      agree(c.given_exact, "given:exact");
      break;
    case Outcome::kPhonetic:
      agree(c.given_phonetic, "given:phonetic");
      break;
    case Outcome::kOther:
      agree(c.given_phonetic, "given:other");
      break;
    case Outcome::kInitial:
      agree(c.given_initial, "given:initial");
      break;
    case Outcome::kDisagree:
      disagree(c.given_disagree, "given");
      break;
    default:
      break;
  }
  switch (compare_birth(a.birth_date, b.birth_date)) {
    case Outcome::kExact:
      agree(c.birth_exact, "birth-date:exact");
      break;
    case Outcome::kTransposed:
      agree(c.birth_transposed, "birth-date:transposed");
      break;
    case Outcome::kYearOnly:
      agree(c.birth_year_only, "birth-date:year-only");
      break;
    case Outcome::kDisagree:
      disagree(c.birth_disagree, "birth-date");
      break;
    default:
      break;
  }
  if (recorded_sex(a.sex) && recorded_sex(b.sex)) {
    if (a.sex == b.sex)
      agree(c.sex_agree, "sex");
    else
      disagree(c.sex_disagree, "sex");
  }
  if (!a.phones.empty() && !b.phones.empty()) {
    if (intersect(a.phones, b.phones))
      agree(c.phone_agree, "phone");
    else
      disagree(c.phone_disagree, "phone");
  }
  switch (compare_address(a, b)) {
    case Outcome::kExact:
      agree(c.address_agree, "address:line");
      break;
    case Outcome::kPostal:
      agree(c.postal_agree, "address:postal");
      break;
    case Outcome::kDisagree:
      disagree(c.address_disagree, "address");
      break;
    default:
      break;
  }

  s.result = s.score >= c.match_threshold      ? MatchResult::kMatch
             : s.score >= c.possible_threshold ? MatchResult::kPossibleMatch
                                               : MatchResult::kNoMatch;
  return s;
}

// --- blocking keys -------------------------------------------------------------------

std::vector<std::string> blocking_keys(const MatchFeatures& f) {
  std::set<std::string> keys;
  for (const auto& [system, value] : f.identifiers)
    keys.insert("i:" + system + "|" + identifier_key(value));
  std::set<std::string> family;
  for (const auto& name : f.family)
    if (auto k = phonetic_key(letters(name)); !k.empty()) family.insert(k);
  std::string given = f.given.empty() ? "" : phonetic_key(f.given.front());
  bool full = f.birth_date.size() == 10;
  std::string year = f.birth_date.substr(0, std::min<size_t>(4, f.birth_date.size()));
  for (const auto& k : family) {
    if (full) keys.insert("fb:" + k + ":" + f.birth_date);
    if (!given.empty() && year.size() == 4) keys.insert("fg:" + k + ":" + given + ":" + year);
    // The names without the year: a mistyped year leaves this one.
    if (!given.empty() && full) keys.insert("fm:" + k + ":" + given + ":" + f.birth_date.substr(5));
  }
  if (!given.empty() && full) keys.insert("gb:" + given + ":" + f.birth_date);
  for (const auto& p : f.phones) keys.insert("p:" + p);
  // A home: the line within its postal code (a line alone is in every town).
  if (!f.address_lines.empty() && !f.postal_codes.empty())
    for (const auto& postal : f.postal_codes)
      for (const auto& line : f.address_lines) keys.insert("a:" + postal + ":" + line);
  return {keys.begin(), keys.end()};
}

// --- the weights file ------------------------------------------------------------------

namespace {

using detail::YamlNode;

class ConfigReader {
 public:
  explicit ConfigReader(std::string_view source) : source_(source) {}

  Error at(const YamlNode& n, const std::string& what) const {
    if (n.line == 0) return Error::config(fmt::format("{}: {}", source_, what));
    return Error::config(fmt::format("{}:{}:{}: {}", source_, n.line, n.column, what));
  }

  // The map `n` (named `where`) holds exactly the keys `known`.
  Status exact_keys(const YamlNode& n, const std::vector<std::string_view>& known,
                    std::string_view where) const {
    if (!n.is_map()) return at(n, fmt::format("{} must be a map", where));
    std::string names;
    for (auto k : known) names += (names.empty() ? "" : ", ") + std::string(k);
    for (const auto& [k, v] : n.entries)
      if (std::find(known.begin(), known.end(), k.scalar) == known.end())
        return at(k, fmt::format("unknown key '{}' in {} (known: {})", k.scalar, where, names));
    for (auto k : known)
      if (n.get(k) == nullptr) return at(n, fmt::format("missing key '{}' in {}", k, where));
    return {};
  }

  Result<double> number(const YamlNode& n, const std::string& name) const {
    if (!n.is_scalar()) return at(n, fmt::format("{} must be a number", name));
    const std::string& t = n.scalar;
    double v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v))
      return at(n, fmt::format("{} must be a number, not '{}'", name, t));
    return v;
  }

 private:
  std::string source_;
};

// Sign a weight must have: agreements add, disagreements subtract.
enum class Sign { kAny, kAgree, kDisagree };

struct WeightField {
  const char* key;
  double MatchConfig::*field;
  Sign sign;
};

struct Section {
  const char* name;
  std::vector<WeightField> weights;
};

const std::vector<Section>& sections() {
  static const std::vector<Section> kSections = {
      {"thresholds",
       {{"match", &MatchConfig::match_threshold, Sign::kAny},
        {"possible_match", &MatchConfig::possible_threshold, Sign::kAny}}},
      {"identifier",
       {{"agree", &MatchConfig::identifier_agree, Sign::kAgree},
        {"disagree", &MatchConfig::identifier_disagree, Sign::kDisagree},
        {"shared_disagree", &MatchConfig::shared_disagree, Sign::kDisagree}}},
      {"family",
       {{"exact", &MatchConfig::family_exact, Sign::kAgree},
        {"phonetic", &MatchConfig::family_phonetic, Sign::kAgree},
        {"disagree", &MatchConfig::family_disagree, Sign::kDisagree}}},
      {"given",
       {{"exact", &MatchConfig::given_exact, Sign::kAgree},
        {"phonetic", &MatchConfig::given_phonetic, Sign::kAgree},
        {"initial", &MatchConfig::given_initial, Sign::kAgree},
        {"disagree", &MatchConfig::given_disagree, Sign::kDisagree}}},
      {"birth_date",
       {{"exact", &MatchConfig::birth_exact, Sign::kAgree},
        {"transposed", &MatchConfig::birth_transposed, Sign::kAgree},
        {"year_only", &MatchConfig::birth_year_only, Sign::kAgree},
        {"disagree", &MatchConfig::birth_disagree, Sign::kDisagree}}},
      {"sex",
       {{"agree", &MatchConfig::sex_agree, Sign::kAgree},
        {"disagree", &MatchConfig::sex_disagree, Sign::kDisagree}}},
      {"phone",
       {{"agree", &MatchConfig::phone_agree, Sign::kAgree},
        {"disagree", &MatchConfig::phone_disagree, Sign::kDisagree}}},
      {"address",
       {{"agree", &MatchConfig::address_agree, Sign::kAgree},
        {"postal", &MatchConfig::postal_agree, Sign::kAgree},
        {"disagree", &MatchConfig::address_disagree, Sign::kDisagree}}},
  };
  return kSections;
}

Result<MatchConfig> read_config(const ConfigReader& r, const YamlNode& root) {
  if (!root.is_map())
    return r.at(root, "a matching file is a map of schema, version, thresholds and weights");
  // What the file is first: a policy or a later version is not a matching
  // file with unknown keys.
  const YamlNode* schema = root.get("schema");
  if (schema != nullptr && (!schema->is_scalar() || schema->scalar != "ehr-matching"))
    return r.at(*schema, "schema must be ehr-matching");
  const YamlNode* version = root.get("version");
  if (version != nullptr && (!version->is_scalar() || version->scalar != "1"))
    return r.at(*version, "version must be 1 (the matching format this ehr reads)");
  EHR_TRY(r.exact_keys(root,
                       {"schema", "version", "thresholds", "identifier", "family", "given",
                        "birth_date", "sex", "phone", "address", "blocking"},
                       "the matching file"));
  MatchConfig c;
  for (const auto& section : sections()) {
    const YamlNode& map = *root.get(section.name);
    // The keys of the section: its weights, and the identifier's system list.
    std::vector<std::string_view> keys;
    for (const auto& w : section.weights) keys.push_back(w.key);
    bool identifier = std::string_view(section.name) == "identifier";
    if (identifier) keys.push_back("shared_systems");
    EHR_TRY(r.exact_keys(map, keys, section.name));
    for (const auto& w : section.weights) {
      const YamlNode& n = *map.get(w.key);
      std::string name = fmt::format("{}.{}", section.name, w.key);
      auto v = r.number(n, name);
      if (!v.ok()) return v.error();
      if (w.sign == Sign::kAgree && *v < 0)
        return r.at(n, fmt::format("{} must be 0 or more, not {}", name, n.scalar));
      if (w.sign == Sign::kDisagree && *v > 0)
        return r.at(n, fmt::format("{} must be 0 or less, not {}", name, n.scalar));
      c.*w.field = *v;
    }
    if (identifier) {
      const YamlNode& list = *map.get("shared_systems");
      if (!list.is_sequence())
        return r.at(list, "identifier.shared_systems must be a list of system URIs");
      for (const auto& item : list.items) {
        if (!item.is_scalar() || item.scalar.empty())
          return r.at(item, "identifier.shared_systems must be a list of system URIs");
        c.shared_systems.push_back(item.scalar);
      }
    }
  }
  if (c.possible_threshold > c.match_threshold) {
    const YamlNode& n = *root.get("thresholds")->get("possible_match");
    return r.at(
        n, fmt::format("thresholds.possible_match ({}) must not be above thresholds.match ({})",
                       n.scalar, root.get("thresholds")->get("match")->scalar));
  }
  const YamlNode& blocking = *root.get("blocking");
  EHR_TRY(r.exact_keys(blocking, {"max_block"}, "blocking"));
  const YamlNode& max = *blocking.get("max_block");
  const std::string& t = max.is_scalar() ? max.scalar : std::string();
  int n = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (!max.is_scalar() || t.empty() || ec != std::errc() || end != t.data() + t.size() || n < 2 ||
      n > 1000000)
    return r.at(
        max,
        fmt::format("blocking.max_block must be a whole number from 2 to 1000000, not '{}'", t));
  c.max_block = n;
  return c;
}

}  // namespace

Result<MatchConfig> MatchConfig::parse(std::string_view text, std::string_view source) {
  auto root = detail::parse_yaml(text);
  if (!root.ok()) {
    // "line L, column C: what" -> "SOURCE:L:C: what", as every other error here.
    const std::string& m = root.error().message();
    int line = 0, column = 0, used = 0;
    if (std::sscanf(m.c_str(), "line %d, column %d: %n", &line, &column, &used) == 2 && used > 0)
      return Error::config(
          fmt::format("{}:{}:{}: {}", source, line, column, m.substr(static_cast<size_t>(used))));
    return Error::config(fmt::format("{}: {}", source, m));
  }
  return read_config(ConfigReader(source), *root);
}

const MatchConfig& MatchConfig::builtin() {
  static const MatchConfig c = [] {
    auto text = detail::embedded_schema("matching.yaml");
    // The build embeds a file the tests parse: a failure here is a bug.
    if (!text) std::abort();
    auto parsed = parse(*text, "schemas/matching.yaml");
    if (!parsed.ok()) std::abort();
    return *parsed;
  }();
  return c;
}

Result<MatchConfig> MatchConfig::load(const std::string& path) {
  if (path.empty()) return builtin();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Error::no_input(fmt::format("{}: no such file", path));
  if (std::filesystem::is_directory(path, ec))
    return Error::no_input(fmt::format("{}: cannot read: is a directory", path));
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error::no_input(fmt::format("{}: cannot read", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), path);
}

}  // namespace ehr
