// The labelled patient-matching set of match_corpus.h.
//
// Sections: randomness; word lists; persons; rendering a Patient; the second
// record's perturbations; relatives; the generator.

#include "match_corpus.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>
#include <utility>

#include "rng.h"  // Rng, the deterministic randomness of the corpus

namespace ehr::testing {

namespace {

// --- word lists -------------------------------------------------------------------

const std::array<std::string_view, 64> kMale = {
    "James",    "John",    "Robert",      "Michael",   "William", "David",   "Richard", "Joseph",
    "Thomas",   "Charles", "Christopher", "Daniel",    "Matthew", "Anthony", "Mark",    "Donald",
    "Steven",   "Paul",    "Andrew",      "Joshua",    "Kenneth", "Kevin",   "Brian",   "George",
    "Timothy",  "Ronald",  "Edward",      "Jason",     "Jeffrey", "Ryan",    "Jacob",   "Gary",
    "Nicholas", "Eric",    "Jonathan",    "Stephen",   "Larry",   "Justin",  "Scott",   "Brandon",
    "Benjamin", "Samuel",  "Gregory",     "Alexander", "Frank",   "Patrick", "Raymond", "Jack",
    "Dennis",   "Jerry",   "Tyler",       "Aaron",     "Jose",    "Adam",    "Nathan",  "Henry",
    "Sean",     "Philip",  "Mason",       "Owen",      "Ian",     "Andre",   "Raul",    "Carl"};
const std::array<std::string_view, 64> kFemale = {
    "Mary",     "Patricia", "Jennifer", "Linda",     "Elizabeth", "Barbara",   "Susan",
    "Jessica",  "Sarah",    "Karen",    "Lisa",      "Nancy",     "Betty",     "Sandra",
    "Margaret", "Ashley",   "Kimberly", "Emily",     "Donna",     "Michelle",  "Carol",
    "Amanda",   "Melissa",  "Deborah",  "Stephanie", "Dorothy",   "Rebecca",   "Sharon",
    "Laura",    "Cynthia",  "Amy",      "Kathleen",  "Angela",    "Shirley",   "Brenda",
    "Emma",     "Anna",     "Pamela",   "Nicole",    "Samantha",  "Catherine", "Christine",
    "Helen",    "Rachel",   "Carolyn",  "Janet",     "Maria",     "Heather",   "Diane",
    "Olivia",   "Julie",    "Joyce",    "Victoria",  "Ruth",      "Teresa",    "Sofia",
    "Zoe",      "Chloe",    "Renee",    "Ines",      "Monica",    "Aleta",     "Lucia",
    "Hannah"};
const std::array<std::string_view, 96> kFamily = {
    "Smith",     "Johnson",    "Williams",  "Brown",    "Jones",       "Garcia",
    "Miller",    "Davis",      "Rodriguez", "Martinez", "Hernandez",   "Lopez",
    "Gonzalez",  "Wilson",     "Anderson",  "Thomas",   "Taylor",      "Moore",
    "Jackson",   "Martin",     "Lee",       "Perez",    "Thompson",    "White",
    "Harris",    "Sanchez",    "Clark",     "Ramirez",  "Lewis",       "Robinson",
    "Walker",    "Young",      "Allen",     "King",     "Wright",      "Scott",
    "Torres",    "Nguyen",     "Hill",      "Flores",   "Green",       "Adams",
    "Nelson",    "Baker",      "Hall",      "Rivera",   "Campbell",    "Mitchell",
    "Carter",    "Roberts",    "Gomez",     "Phillips", "Evans",       "Turner",
    "Diaz",      "Parker",     "Cruz",      "Edwards",  "Collins",     "Reyes",
    "Stewart",   "Morris",     "Morales",   "Murphy",   "Cook",        "Rogers",
    "Gutierrez", "Ortiz",      "Morgan",    "Cooper",   "Peterson",    "Bailey",
    "Reed",      "Kelly",      "Howard",    "Ramos",    "Kim",         "Cox",
    "Ward",      "Richardson", "Watson",    "Brooks",   "Wintheiser",  "Heathcote",
    "Kertzmann", "Schmitt",    "Kuhlman",   "Bernhard", "Oberbrunner", "Runolfsdottir",
    "Nunez",     "Muller",     "Pena",      "Jimenez",  "Alvarez",     "Hansen"};
// Spellings of one name that registration desks mix up, both ways.
const std::pair<std::string_view, std::string_view> kVariants[] = {{"Catherine", "Kathryn"},
                                                                   {"Stephen", "Steven"},
                                                                   {"John", "Jon"},
                                                                   {"Sean", "Shawn"},
                                                                   {"Jeffrey", "Geoffrey"},
                                                                   {"Philip", "Phillip"},
                                                                   {"Brian", "Bryan"},
                                                                   {"Sarah", "Sara"},
                                                                   {"Carl", "Karl"},
                                                                   {"Eric", "Erik"},
                                                                   {"Rebecca", "Rebekah"},
                                                                   {"Nicholas", "Nicolas"},
                                                                   {"Teresa", "Theresa"},
                                                                   {"Zoe", "Zoey"},
                                                                   {"Hannah", "Hanna"},
                                                                   {"Elizabeth", "Elisabeth"},
                                                                   {"Christopher", "Kristopher"},
                                                                   {"Anna", "Ana"},
                                                                   {"Mark", "Marc"},
                                                                   {"Kathleen", "Cathleen"},
                                                                   {"Smith", "Smyth"},
                                                                   {"Thompson", "Thomson"},
                                                                   {"Clark", "Clarke"},
                                                                   {"Reed", "Reid"},
                                                                   {"Peterson", "Petersen"},
                                                                   {"Johnson", "Jonson"},
                                                                   {"Schmitt", "Schmidt"},
                                                                   {"Phillips", "Philips"},
                                                                   {"Stewart", "Stuart"},
                                                                   {"Hansen", "Hanson"},
                                                                   {"Anderson", "Andersen"},
                                                                   {"Gray", "Grey"}};
// Plain ASCII names and how they are written with their accents (UTF-8).
const std::pair<std::string_view, std::string_view> kAccented[] = {
    {"Jose", "Jos\u00e9"},
    {"Andre", "Andr\u00e9"},
    {"Raul", "Ra\u00fal"},
    {"Zoe", "Zo\u00eb"},
    {"Chloe", "Chlo\u00e9"},
    {"Renee", "Ren\u00e9e"},
    {"Ines", "In\u00e9s"},
    {"Monica", "M\u00f3nica"},
    {"Sofia", "Sof\u00eda"},
    {"Maria", "Mar\u00eda"},
    {"Lucia", "Luc\u00eda"},
    {"Nunez", "N\u00fa\u00f1ez"},
    {"Muller", "M\u00fcller"},
    {"Pena", "Pe\u00f1a"},
    {"Gomez", "G\u00f3mez"},
    {"Lopez", "L\u00f3pez"},
    {"Garcia", "Garc\u00eda"},
    {"Martinez", "Mart\u00ednez"},
    {"Hernandez", "Hern\u00e1ndez"},
    {"Perez", "P\u00e9rez"},
    {"Ramirez", "Ram\u00edrez"},
    {"Gonzalez", "Gonz\u00e1lez"},
    {"Rodriguez", "Rodr\u00edguez"},
    {"Sanchez", "S\u00e1nchez"},
    {"Jimenez", "Jim\u00e9nez"},
    {"Alvarez", "\u00c1lvarez"},
    {"Runolfsdottir", "Run\u00f3lfsd\u00f3ttir"}};
const std::array<std::string_view, 40> kStreets = {
    "Maple",  "Oak",       "Cedar",    "Elm",       "Pine",     "Main",      "Washington",
    "Lake",   "Hill",      "Park",     "Church",    "Mill",     "River",     "Spring",
    "Walnut", "Chestnut",  "Highland", "Sunset",    "Ridge",    "Meadow",    "Forest",
    "Valley", "Willow",    "Cherry",   "Lincoln",   "Franklin", "Jefferson", "Madison",
    "Harbor", "Prospect",  "Summit",   "Orchard",   "Bridge",   "Union",     "Pleasant",
    "Grove",  "Hawthorne", "Birch",    "Kertzmann", "Ferry"};
// A street word as written in full, and as facility B may abbreviate it.
const std::array<std::pair<std::string_view, std::string_view>, 12> kSuffixes = {
    {{"Street", "St."},
     {"Avenue", "Ave"},
     {"Road", "Rd"},
     {"Drive", "Dr."},
     {"Lane", "Ln"},
     {"Court", "Ct"},
     {"Boulevard", "Blvd"},
     {"Place", "Pl"},
     {"Way", "Way"},
     {"Heights", "Hts"},
     {"Terrace", "Ter"},
     {"Circle", "Cir"}}};
const std::array<std::pair<std::string_view, std::string_view>, 30> kTowns = {
    {{"Everett", "02149"},    {"Boston", "02118"},     {"Springfield", "01103"},
     {"Worcester", "01602"},  {"Lowell", "01852"},     {"Cambridge", "02139"},
     {"Quincy", "02169"},     {"Lynn", "01902"},       {"Newton", "02458"},
     {"Somerville", "02143"}, {"Framingham", "01701"}, {"Haverhill", "01830"},
     {"Waltham", "02451"},    {"Malden", "02148"},     {"Brookline", "02445"},
     {"Plymouth", "02360"},   {"Medford", "02155"},    {"Taunton", "02780"},
     {"Chicopee", "01020"},   {"Weymouth", "02188"},   {"Revere", "02151"},
     {"Peabody", "01960"},    {"Methuen", "01844"},    {"Barnstable", "02630"},
     {"Pittsfield", "01201"}, {"Attleboro", "02703"},  {"Salem", "01970"},
     {"Beverly", "01915"},    {"Fitchburg", "01420"},  {"Leominster", "01453"}}};
// Common names for namesakes: many people carry them.
const std::array<std::pair<std::string_view, std::string_view>, 8> kCommonNames = {
    {{"John", "Smith"},
     {"Mary", "Johnson"},
     {"James", "Brown"},
     {"Maria", "Garcia"},
     {"Michael", "Williams"},
     {"Jennifer", "Davis"},
     {"David", "Miller"},
     {"Linda", "Jones"}}};

constexpr int kYearNow = 2026;

const char* kMrnA = "http://hospital.smarthealthit.org";
const char* kMrnB = "https://facility-b.example.org/mrn";
const char* kSsn = "http://hl7.org/fhir/sid/us-ssn";
const char* kDl = "urn:oid:2.16.840.1.113883.4.3.25";
const char* kPassport = "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber";

std::string_view variant_of(std::string_view name) {
  for (const auto& [a, b] : kVariants) {
    if (name == a) return b;
    if (name == b) return a;
  }
  return {};
}

std::string_view accented(std::string_view name) {
  for (const auto& [plain, acc] : kAccented)
    if (name == plain) return acc;
  return {};
}

// --- persons ----------------------------------------------------------------------

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int month_days(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

struct Date {
  int y = 0, m = 0, d = 0;
  bool operator==(const Date&) const = default;
};

bool valid(const Date& t) {
  return t.m >= 1 && t.m <= 12 && t.d >= 1 && t.d <= month_days(t.y, t.m);
}

std::string date_text(const Date& t) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", t.y, t.m, t.d);
  return buf;
}

Date random_date(Rng& r, int from_year, int to_year) {
  Date t;
  t.y = from_year + r.below(to_year - from_year + 1);
  t.m = 1 + r.below(12);
  t.d = 1 + r.below(month_days(t.y, t.m));
  return t;
}

// The truth about one person, before any facility writes it down.
struct Person {
  int id = 0;
  std::string sex;                 // male or female
  std::vector<std::string> given;  // ASCII, first name first
  std::string family;              // ASCII
  std::string maiden;              // a married woman's family name before marriage, or ""
  bool accent_given = false, accent_family = false;  // written with accents where they have some
  Date birth;
  std::string phone;  // 10 digits, or ""
  bool has_address = true;
  int house = 0, street = 0, suffix = 0, town = 0;
  std::string ssn, dl, passport;  // "" when none
  std::string name_suffix;        // "Jr." for a junior
};

int age(const Person& p) { return kYearNow - p.birth.y; }

std::string given_name(Rng& r, const std::string& sex) {
  return std::string(sex == "male" ? r.pick(kMale) : r.pick(kFemale));
}

std::string new_phone(Rng& r) { return "555" + r.digits(7); }

void new_address(Rng& r, Person& p) {
  p.has_address = true;
  p.house = 1 + r.below(999);
  p.street = r.below(static_cast<int>(kStreets.size()));
  p.suffix = r.below(static_cast<int>(kSuffixes.size()));
  p.town = r.below(static_cast<int>(kTowns.size()));
}

void new_identifiers(Rng& r, Person& p) {
  p.ssn = p.dl = p.passport = "";
  if (age(p) >= 1 && r.percent(90)) p.ssn = "999-" + r.digits(2) + "-" + r.digits(4);
  if (age(p) >= 16 && r.percent(60)) p.dl = "S99" + r.digits(6);
  if (age(p) >= 16 && r.percent(25)) p.passport = "X" + r.digits(8) + "X";
}

Person random_person(Rng& r, int id) {
  Person p;
  p.id = id;
  p.sex = r.percent(50) ? "male" : "female";
  p.given.push_back(given_name(r, p.sex));
  if (r.percent(40)) {
    std::string middle = given_name(r, p.sex);
    if (middle != p.given[0]) p.given.push_back(middle);
  }
  p.family = std::string(r.pick(kFamily));
  p.accent_given = r.percent(50);
  p.accent_family = r.percent(50);
  p.birth = random_date(r, 1930, 2022);
  if (p.sex == "female" && age(p) >= 22 && r.percent(30)) {
    std::string other(r.pick(kFamily));
    if (other != p.family) p.maiden = other;
  }
  if (r.percent(92)) p.phone = new_phone(r);
  new_address(r, p);
  if (r.percent(4)) p.has_address = false;
  new_identifiers(r, p);
  return p;
}

// --- rendering a Patient -----------------------------------------------------------

// How one facility writes a person down.
struct Style {
  char facility = 'A';
  std::string id, mrn_system, mrn;
  bool synthea_digits = false;  // "Aleta411 Wintheiser220"
  bool prefix = false;          // "Mr.", "Mrs.", "Ms."
  bool record_maiden = false;   // a second HumanName, use maiden
  bool joined_given = false;    // given as one string "Mary Ann"
  int phone_format = 0;         // 0 555-712-4709, 1 (555) 712-4709, 2 +1 555 712 4709
  bool abbreviate_street = false;
  bool zip_plus4 = false;
  bool ssn = false, dl = false, passport = false;
};

std::string written(const std::string& name, bool accent) {
  std::string_view a = accent ? accented(name) : std::string_view();
  return std::string(a.empty() ? std::string_view(name) : a);
}

Json text(std::string_view s) { return Json::string(std::string(s)); }

Json human_name(Rng& r, const Person& p, const Style& st, const std::string& family,
                const char* use) {
  Json n = Json::object();
  n.set("use", text(use));
  auto digits = [&] {
    return st.synthea_digits ? std::to_string(100 + r.below(900)) : std::string();
  };
  n.set("family", text(written(family, p.accent_family) + digits()));
  Json given = Json::array();
  if (st.joined_given && p.given.size() > 1) {
    std::string all;
    for (const auto& g : p.given) all += (all.empty() ? "" : " ") + written(g, p.accent_given);
    given.push_back(text(all));
  } else {
    for (size_t i = 0; i < p.given.size(); ++i)
      given.push_back(text(written(p.given[i], p.accent_given && i == 0) + digits()));
  }
  n.set("given", std::move(given));
  if (st.prefix && age(p) >= 18) {
    Json prefix = Json::array();
    prefix.push_back(text(p.sex == "male" ? "Mr." : p.maiden.empty() ? "Ms." : "Mrs."));
    n.set("prefix", std::move(prefix));
  }
  if (!p.name_suffix.empty()) {
    Json suffix = Json::array();
    suffix.push_back(text(p.name_suffix));
    n.set("suffix", std::move(suffix));
  }
  return n;
}

Json identifier(std::string_view system, std::string_view value) {
  Json i = Json::object();
  i.set("system", text(system));
  i.set("value", text(value));
  return i;
}

Json render(Rng& r, const Person& p, const Style& st) {
  Json pt = Json::object();
  pt.set("resourceType", text("Patient"));
  pt.set("id", text(st.id));
  Json ids = Json::array();
  ids.push_back(identifier(st.mrn_system, st.mrn));
  if (st.ssn && !p.ssn.empty()) ids.push_back(identifier(kSsn, p.ssn));
  if (st.dl && !p.dl.empty()) ids.push_back(identifier(kDl, p.dl));
  if (st.passport && !p.passport.empty()) ids.push_back(identifier(kPassport, p.passport));
  pt.set("identifier", std::move(ids));
  Json names = Json::array();
  names.push_back(human_name(r, p, st, p.family, "official"));
  if (st.record_maiden && !p.maiden.empty())
    names.push_back(human_name(r, p, st, p.maiden, "maiden"));
  pt.set("name", std::move(names));
  if (!p.phone.empty()) {
    const std::string& d = p.phone;
    std::string v = st.phone_format == 0 ? d.substr(0, 3) + "-" + d.substr(3, 3) + "-" + d.substr(6)
                    : st.phone_format == 1
                        ? "(" + d.substr(0, 3) + ") " + d.substr(3, 3) + "-" + d.substr(6)
                        : "+1 " + d.substr(0, 3) + " " + d.substr(3, 3) + " " + d.substr(6);
    Json t = Json::object();
    t.set("system", text("phone"));
    t.set("value", text(v));
    t.set("use", text("home"));
    Json telecom = Json::array();
    telecom.push_back(std::move(t));
    pt.set("telecom", std::move(telecom));
  }
  pt.set("gender", text(p.sex));
  pt.set("birthDate", text(date_text(p.birth)));
  if (p.has_address) {
    const auto& [town, zip] = kTowns[static_cast<size_t>(p.town)];
    const auto& [full, abbr] = kSuffixes[static_cast<size_t>(p.suffix)];
    Json a = Json::object();
    Json line = Json::array();
    line.push_back(text(std::to_string(p.house) + " " +
                        std::string(kStreets[static_cast<size_t>(p.street)]) + " " +
                        std::string(st.abbreviate_street ? abbr : full)));
    a.set("line", std::move(line));
    a.set("city", text(town));
    a.set("state", text("MA"));
    a.set("postalCode", text(std::string(zip) + (st.zip_plus4 ? "-" + r.digits(4) : "")));
    a.set("country", text("US"));
    Json addresses = Json::array();
    addresses.push_back(std::move(a));
    pt.set("address", std::move(addresses));
  }
  return pt;
}

struct Counters {
  int a = 0, b = 0;
};

// Facility A, as Synthea writes it.
Style style_a(Rng& r, Counters& n) {
  Style st;
  st.facility = 'A';
  st.id = "a" + std::to_string(++n.a);
  st.mrn_system = kMrnA;
  st.mrn = "MRN" + r.digits(8);
  st.synthea_digits = r.percent(60);
  st.prefix = true;
  st.record_maiden = true;
  st.ssn = st.dl = st.passport = true;
  return st;
}

// Facility B: another EHR's registration desk.
Style style_b(Rng& r, Counters& n) {
  Style st;
  st.facility = 'B';
  st.id = "b" + std::to_string(++n.b);
  st.mrn_system = kMrnB;
  st.mrn = "B-" + r.digits(7);
  st.joined_given = r.percent(30);
  st.phone_format = 1 + r.below(2);
  st.abbreviate_street = r.percent(60);
  st.zip_plus4 = r.percent(20);
  st.record_maiden = r.percent(30);
  st.ssn = r.percent(30);
  st.dl = r.percent(10);
  st.passport = r.percent(5);
  return st;
}

// --- the second record's perturbations --------------------------------------------

std::string typo(Rng& r, const std::string& name) {
  for (;;) {
    std::string s = name;
    size_t n = s.size();
    size_t i = static_cast<size_t>(r.below(static_cast<int>(n)));
    char letter = static_cast<char>('a' + r.below(26));
    switch (r.below(4)) {
      case 0:
        s[i] = i == 0 ? static_cast<char>(letter - 'a' + 'A') : letter;
        break;
      case 1:
        if (n < 4) continue;
        s.erase(i, 1);
        break;
      case 2:
        if (i == 0) continue;
        s.insert(i, 1, letter);
        break;
      default:
        if (i + 1 >= n || i == 0) continue;
        std::swap(s[i], s[i + 1]);
        break;
    }
    if (s != name && s.size() >= 2) return s;
  }
}

// Applies perturbation `kind` to q (the second record's person) and its
// style; false when it does not apply to this person.
bool perturb(Rng& r, std::string_view kind, Person& q, Style& st) {
  if (kind == "family-typo") {
    q.family = typo(r, q.family);
  } else if (kind == "given-typo") {
    q.given[0] = typo(r, q.given[0]);
  } else if (kind == "phonetic-variant") {
    if (auto v = variant_of(q.given[0]); !v.empty())
      q.given[0] = std::string(v);
    else if (auto f = variant_of(q.family); !f.empty())
      q.family = std::string(f);
    else
      return false;
  } else if (kind == "birth-day-month") {
    if (q.birth.d > 12 || q.birth.d == q.birth.m) return false;
    std::swap(q.birth.d, q.birth.m);
  } else if (kind == "birth-digit-swap") {
    // Two neighbouring digits of the last two of the year, of the month or
    // of the day, as long as the result is another valid date.
    std::vector<Date> options;
    auto swapped = [](int v) { return (v % 10) * 10 + v / 10; };
    Date t = q.birth;
    t.y = q.birth.y / 100 * 100 + swapped(q.birth.y % 100);
    if (t.y <= kYearNow) options.push_back(t);
    t = q.birth;
    t.m = swapped(q.birth.m);
    options.push_back(t);
    t = q.birth;
    t.d = swapped(q.birth.d);
    options.push_back(t);
    options.erase(std::remove_if(options.begin(), options.end(),
                                 [&](const Date& o) { return !valid(o) || o == q.birth; }),
                  options.end());
    if (options.empty()) return false;
    q.birth = options[static_cast<size_t>(r.below(static_cast<int>(options.size())))];
  } else if (kind == "missing-phone") {
    if (q.phone.empty()) return false;
    q.phone.clear();
  } else if (kind == "missing-address") {
    if (!q.has_address) return false;
    q.has_address = false;
  } else if (kind == "married-name") {
    if (q.sex != "female" || age(q) < 20 || !q.maiden.empty()) return false;
    std::string other;
    do other = std::string(r.pick(kFamily));
    while (other == q.family);
    q.maiden = q.family;
    q.family = other;
    st.record_maiden = r.percent(30);
  } else if (kind == "different-phone") {
    q.phone = new_phone(r);
  } else if (kind == "accents") {
    bool given = !accented(q.given[0]).empty(), family = !accented(q.family).empty();
    if (!given && !family) return false;
    if (given) q.accent_given = !q.accent_given;
    if (family) q.accent_family = !q.accent_family;
  } else if (kind == "first-given-only") {
    if (q.given.size() < 2) return false;
    q.given.resize(1);
  }
  return true;
}

// --- relatives -----------------------------------------------------------------------

std::string other_given(Rng& r, const Person& p, const std::string& sex) {
  // A name that neither equals nor sounds like any of p's: twins named
  // alike are indistinguishable from a spelling variant for any matcher.
  for (;;) {
    std::string g = given_name(r, sex);
    bool clash = false;
    for (const auto& mine : p.given)
      if (mine == g || variant_of(mine) == g || mine[0] == g[0]) clash = true;
    if (!clash) return g;
  }
}

Person relative(Rng& r, const Person& p, int id, const std::string& kind) {
  Person q = p;
  q.id = id;
  q.maiden.clear();
  q.name_suffix.clear();
  q.given.resize(1);
  if (kind == "twin") {
    q.sex = r.percent(50) ? p.sex : (p.sex == "male" ? "female" : "male");
    q.given[0] = other_given(r, p, q.sex);
    q.accent_given = r.percent(50);
  } else if (kind == "junior") {
    // The child born 18 to 40 years after the parent, or the parent before.
    int gap = 18 + r.below(23);
    int year = p.birth.y + gap <= kYearNow - 1 ? p.birth.y + gap : p.birth.y - gap;
    do q.birth = random_date(r, year, year);
    while (q.birth.m == p.birth.m && q.birth.d == p.birth.d);
    q.given = p.given;
    q.name_suffix = year > p.birth.y ? "Jr." : "Sr.";
  } else {  // spouse
    q.sex = p.sex == "male" ? "female" : "male";
    q.given[0] = other_given(r, p, q.sex);
    q.accent_given = r.percent(50);
    int year = std::clamp(p.birth.y - 8 + r.below(17), 1930, kYearNow - 18);
    do q.birth = random_date(r, year, year);
    while (q.birth == p.birth);
    if (q.sex == "female" && r.percent(50)) {
      std::string other;
      do other = std::string(r.pick(kFamily));
      while (other == q.family);
      q.maiden = other;
    }
  }
  new_identifiers(r, q);
  return q;
}

}  // namespace

// --- the generator ----------------------------------------------------------------------

void generate_match_corpus(const MatchCorpusOptions& o,
                           const std::function<void(CorpusRecord&&)>& sink) {
  Rng r(o.seed);
  Counters n;
  int next_person = 0;
  auto emit = [&](const Person& p, const Style& st, CorpusRecord rec) {
    rec.patient = render(r, p, st);
    rec.person = p.id;
    rec.facility = st.facility;
    sink(std::move(rec));
  };
  for (int i = 0; i < o.persons; ++i) {
    Person p = random_person(r, next_person++);
    emit(p, style_a(r, n), {});

    if (r.percent(o.duplicate_percent)) {
      // One in ten second records is a second registration at A.
      Style st = r.percent(10) ? style_a(r, n) : style_b(r, n);
      if (st.facility == 'A') {
        st.ssn = r.percent(30);
        st.dl = st.passport = false;
      }
      Person q = p;
      CorpusRecord rec;
      rec.duplicate = true;
      int roll = r.below(100);
      int count = roll < 25 ? 0 : roll < 80 ? 1 : 2;
      std::vector<std::string_view> kinds(std::begin(kPerturbations), std::end(kPerturbations));
      while (static_cast<int>(rec.perturbations.size()) < count && !kinds.empty()) {
        size_t k = static_cast<size_t>(r.below(static_cast<int>(kinds.size())));
        std::string_view kind = kinds[k];
        kinds.erase(kinds.begin() + static_cast<std::ptrdiff_t>(k));
        // One birth date change at most, and one phone change.
        if ((kind == "birth-day-month" || kind == "birth-digit-swap") &&
            std::find_if(rec.perturbations.begin(), rec.perturbations.end(),
                         [](const std::string& s) { return s.rfind("birth-", 0) == 0; }) !=
                rec.perturbations.end())
          continue;
        if ((kind == "missing-phone" || kind == "different-phone") &&
            std::find_if(rec.perturbations.begin(), rec.perturbations.end(),
                         [](const std::string& s) {
                           return s.find("phone") != std::string::npos;
                         }) != rec.perturbations.end())
          continue;
        if (perturb(r, kind, q, st)) rec.perturbations.emplace_back(kind);
      }
      emit(q, st, std::move(rec));
    }

    if (r.percent(o.hard_negative_percent)) {
      static const std::array<std::string_view, 3> kKinds = {"twin", "junior", "spouse"};
      std::string kind(r.pick(kKinds));
      if (kind == "spouse" && age(p) < 20) kind = "twin";
      Person q = relative(r, p, next_person++, kind);
      CorpusRecord rec;
      rec.relation = kind;
      rec.relative = p.id;
      Style st = r.percent(50) ? style_a(r, n) : style_b(r, n);
      emit(q, st, std::move(rec));
    }

    if (r.percent(o.namesake_percent)) {
      // Two people of one common name, sex and birth date, in two towns.
      const auto& [given, family] = r.pick(kCommonNames);
      Person first = random_person(r, next_person++);
      first.given = {std::string(given)};
      first.family = std::string(family);
      first.maiden.clear();
      first.sex = given == "Mary" || given == "Maria" || given == "Jennifer" || given == "Linda"
                      ? "female"
                      : "male";
      Person second = random_person(r, next_person++);
      second.given = first.given;
      second.family = first.family;
      second.maiden.clear();
      second.sex = first.sex;
      second.birth = first.birth;
      while (second.town == first.town) new_address(r, second);
      emit(first, r.percent(50) ? style_a(r, n) : style_b(r, n), {});
      CorpusRecord rec;
      rec.relation = "namesake";
      rec.relative = first.id;
      emit(second, r.percent(50) ? style_a(r, n) : style_b(r, n), std::move(rec));
    }
  }
}

std::vector<CorpusRecord> make_match_corpus(const MatchCorpusOptions& o) {
  std::vector<CorpusRecord> out;
  generate_match_corpus(o, [&](CorpusRecord&& rec) { out.push_back(std::move(rec)); });
  return out;
}

size_t write_match_corpus_ndjson(const MatchCorpusOptions& o, std::ostream& out) {
  size_t n = 0;
  generate_match_corpus(o, [&](CorpusRecord&& rec) {
    out << to_json(rec.patient) << '\n';
    ++n;
  });
  return n;
}

}  // namespace ehr::testing
