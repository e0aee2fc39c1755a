// ehr_synthea_gen: deterministic synthetic Synthea v3 CSV for `scripts/bench
// import` (through scripts/gen-synthea).
//
// Writes DIR/patients.csv and DIR/observations.csv with the Synthea v3.0.0
// headers and value shapes (UUID ids, 999-xx-xxxx SSNs, names with Synthea's
// digit suffixes, "City  State  US" birthplaces, ISO-8601 UTC observation
// times, valid LOINC codes with their check digits, Synthea's own QALY, DALY
// and QOLS measures, numeric and text values), as Synthea writes them: no
// quoting, no commas inside fields. Observations come per patient in visits
// (a vital-signs panel, sometimes labs, a smoking status, the yearly QALY,
// DALY and QOLS rows), in time order, between birth and death or 2026;
// ENCOUNTER is left empty (no encounters.csv is written), which the Synthea
// mapping allows. Each patient gets a share of the M observations drawn from
// 0.25 + Exp(1) weights, scaled so the counts add up to exactly M.
//
// The output depends only on (N, M, seed): patient i's row and observations
// come from generators seeded by (seed, i), so runs are reproducible.
//
// Usage: ehr_synthea_gen --out DIR [--patients N] [--observations M] [--seed S]
//   defaults: N = 1000, M = 10 * N, S = 1. Writes DIR/patients.csv and
//   DIR/observations.csv (creating DIR; existing files are replaced through
//   a temporary name, so a failed run leaves no half-written table).
// Exits 0 on success, 64 on a usage error, 1 when writing fails.

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>
#include "../support/rng.h"

namespace {

namespace fs = std::filesystem;

// --- deterministic randomness ---------------------------------------------------

using ehr::testing::mix;
using ehr::testing::Rng;

// Domains, so patient i, its observations and its share draw unrelated numbers.
constexpr std::uint64_t kPatientDomain = 0x50415449454e5400ull;
constexpr std::uint64_t kObservationDomain = 0x4f42534552564100ull;
constexpr std::uint64_t kShareDomain = 0x5348415245000000ull;

// A version 4 UUID, unique per (seed, patient index): mix is a bijection, so
// the first 64 bits already differ between indexes.
std::string uuid_for(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t hi = mix(seed ^ kPatientDomain ^ (index * 0x9e3779b97f4a7c15ull));
  std::uint64_t lo = mix(hi ^ kPatientDomain);
  std::array<std::uint8_t, 16> b{};
  for (int k = 0; k < 8; ++k) {
    b[k] = static_cast<std::uint8_t>(hi >> (56 - 8 * k));
    b[8 + k] = static_cast<std::uint8_t>(lo >> (56 - 8 * k));
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 15];
  }
  return s;
}

// --- dates ------------------------------------------------------------------------

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe + era * 400) + (m <= 2 ? 1 : 0);
}

std::string date_text(std::int64_t days) {
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

// Seconds since the epoch to Synthea's observation time: 2023-10-10T04:17:47Z.
std::string time_text(std::int64_t seconds) {
  std::int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  std::int64_t s = seconds - days * 86400;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02dZ", date_text(days).c_str(), static_cast<int>(s / 3600),
                static_cast<int>(s / 60 % 60), static_cast<int>(s % 60));
  return buf;
}

constexpr std::int64_t kDay1925 = -16436;  // 1925-01-01
constexpr std::int64_t kDay2024 = 19723;   // 2024-01-01
constexpr std::int64_t kDay2026 = 20454;   // 2026-01-01

// --- names and places (Synthea's are ASCII, with a digit suffix) ------------------------

const std::vector<std::string_view> kFemale = {
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Nancy", "Margaret", "Sandra", "Ashley", "Emily", "Donna", "Michelle", "Carol",
    "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Sharon", "Cynthia",
    "Kathleen", "Amy", "Angela", "Helen", "Anna", "Brenda", "Jackie", "Jetta", "Tess", "Rosalia",
    "Romona", "Lashawnda", "Shalanda", "Tomasa", "Loreen", "Marlene", "Zofia", "Ingrid", "Priya"};
const std::vector<std::string_view> kMale = {
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Donald", "Steven", "Paul",
    "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Maynard", "Curt", "Gene", "Lewis",
    "Jesus", "Abdul", "Lon", "Refugio", "Wilber", "Dudley", "Elmer", "Hiram", "Omar", "Arjun"};
const std::vector<std::string_view> kFamily = {
    "Mosciski", "Schmidt", "Okuneva", "Mann", "DuBuque", "Schmeler", "Olivo", "Ankunding",
    "Zulauf", "Conroy", "Windler", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia",
    "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson",
    "Anderson", "Taylor", "Moore", "Jackson", "Kuhn", "Hackett", "Bernier", "Koepp", "Lakin",
    "Feil", "Rempel", "Hilpert", "Wehner", "Bogisich", "Torphy", "Rau", "Gutmann", "Nolan",
    "Kertzmann", "Hermiston", "Stamm", "Labadie", "Kemmer", "Sawayn", "Rowe", "Howe", "Dibbert"};
const std::vector<std::string_view> kStreets = {
    "Stamm", "Kemmer", "Labadie", "Daniel", "Sawayn", "Rowe", "Howe", "Dibbert", "Kris",
    "Hills", "Greenfelder", "Bartell", "Harber", "Wolff", "Kub", "Mraz", "Fahey", "Langosh"};
const std::vector<std::string_view> kStreetKinds = {
    "Lock", "Neck", "Underpass", "Union", "Throughway", "Light", "Landing", "Ville", "Dam",
    "Street", "Road", "Avenue", "Way", "Gateway", "Mill", "Crossroad", "Trafficway"};

struct Town {
  const char* city;
  const char* county;
  const char* zip;
  double lat, lon;
};
const std::vector<Town> kTowns = {
    {"Somerville", "Middlesex County", "02155", 42.3876, -71.0995},
    {"Winchester", "Middlesex County", "01890", 42.4523, -71.1370},
    {"Framingham", "Middlesex County", "01701", 42.2793, -71.4162},
    {"Mashpee", "Barnstable County", "02649", 41.6484, -70.4811},
    {"Orleans", "Barnstable County", "02653", 41.7898, -69.9897},
    {"East Brookfield", "Worcester County", "01515", 42.2276, -72.0487},
    {"Groveland", "Essex County", "01834", 42.7604, -71.0314},
    {"Weymouth", "Norfolk County", "02188", 42.2207, -70.9395},
    {"Pittsfield", "Berkshire County", "01201", 42.4501, -73.2454},
    {"Boston", "Suffolk County", "02118", 42.3601, -71.0589},
    {"Worcester", "Worcester County", "01608", 42.2626, -71.8023},
    {"Springfield", "Hampden County", "01103", 42.1015, -72.5898},
    {"Lowell", "Middlesex County", "01852", 42.6334, -71.3162},
    {"Quincy", "Norfolk County", "02169", 42.2529, -71.0023},
    {"New Bedford", "Bristol County", "02740", 41.6362, -70.9342},
};
const std::vector<std::string_view> kBirthTowns = {
    "Boston  Massachusetts  US", "Duxbury  Massachusetts  US", "Marlborough  Massachusetts  US",
    "Boxborough  Massachusetts  US", "Revere  Massachusetts  US", "Everett  Massachusetts  US",
    "Blackstone  Massachusetts  US", "Leicester  Massachusetts  US", "Juarez  Chihuahua  MX",
    "Santo Domingo  National District  DO", "Shanghai  Shanghai Municipality  CN",
    "Lisbon  Lisbon  PT", "Kingston  Surrey County  JM"};

// --- patients ------------------------------------------------------------------------

struct Patient {
  std::string id;
  std::int64_t birth = 0;  // days since the epoch
  std::int64_t end = 0;    // death, or 2026-01-01
  bool female = false;
  double height_cm = 0;    // adult height, for the vital signs
  double weight_kg = 0;
  bool smoker = false;
};

// Appends `s` and a comma (or the line end when `last`).
void field(std::string& out, std::string_view s, bool last = false) {
  out.append(s);
  out.push_back(last ? '\n' : ',');
}

std::string number(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// Patient i's row, appended to `out`; returns what the observations need.
Patient write_patient(std::string& out, std::uint64_t seed, std::uint64_t i) {
  Rng r(seed ^ kPatientDomain ^ mix(i));
  Patient p;
  p.id = uuid_for(seed, i);
  p.female = r.below(2) == 0;
  p.birth = kDay1925 + static_cast<std::int64_t>(r.below(kDay2024 - kDay1925));
  bool dead = r.chance(0.12);
  p.end = kDay2026;
  if (dead) p.end = p.birth + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(kDay2026 - p.birth)));
  double age = static_cast<double>(p.end - p.birth) / 365.25;
  bool adult = age >= 18;
  p.height_cm = p.female ? r.between(152, 178) : r.between(162, 192);
  p.weight_kg = p.height_cm * p.height_cm / 10000.0 * r.between(19, 36);
  p.smoker = adult && r.chance(0.18);

  char buf[96];
  field(out, p.id);
  field(out, date_text(p.birth));
  field(out, dead ? date_text(p.end) : "");
  std::snprintf(buf, sizeof buf, "999-%02u-%04u", static_cast<unsigned>(10 + r.below(90)),
                static_cast<unsigned>(r.below(10000)));
  field(out, buf);
  bool licensed = age >= 16 && r.chance(0.8);
  std::snprintf(buf, sizeof buf, "S999%05u", static_cast<unsigned>(r.below(100000)));
  field(out, licensed ? buf : "");
  bool passport = adult && r.chance(0.6);
  std::snprintf(buf, sizeof buf, "X%08uX", static_cast<unsigned>(r.below(100000000)));
  field(out, passport ? buf : "");
  std::string marital;
  if (adult) marital = std::string(1, "MMMSSDW"[r.below(7)]);
  field(out, !adult ? "" : !p.female ? "Mr." : marital == "S" ? "Ms." : "Mrs.");
  std::string_view first = p.female ? r.pick(kFemale) : r.pick(kMale);
  std::string_view last = r.pick(kFamily);
  field(out, std::string(first) + std::to_string(r.below(1000)));
  field(out, std::string(last) + std::to_string(r.below(1000)));
  field(out, adult && r.chance(0.02) ? (r.chance(0.5) ? "PhD" : "MD") : "");
  bool maiden = p.female && marital == "M" && r.chance(0.7);
  field(out, maiden ? std::string(r.pick(kFamily)) + std::to_string(r.below(100)) : "");
  field(out, marital);
  static const std::vector<std::string_view> kRaces = {"white", "white", "white", "white", "white",
                                                        "white", "black", "black", "asian", "native",
                                                        "hawaiian", "other"};
  field(out, r.pick(kRaces));
  field(out, r.chance(0.12) ? "hispanic" : "nonhispanic");
  field(out, p.female ? "F" : "M");
  field(out, r.pick(kBirthTowns));
  const Town& town = r.pick(kTowns);
  std::string address = std::to_string(1 + r.below(1100)) + " " + std::string(r.pick(kStreets)) + " " +
                        std::string(r.pick(kStreetKinds));
  switch (r.below(4)) {
    case 0: address += " Apt " + std::to_string(1 + r.below(99)); break;
    case 1: address += " Unit " + std::to_string(1 + r.below(99)); break;
    case 2: address += " Suite " + std::to_string(1 + r.below(99)); break;
    default: break;
  }
  field(out, address);
  field(out, town.city);
  field(out, "Massachusetts");
  field(out, town.county);
  field(out, r.chance(0.7) ? town.zip : "");
  field(out, number("%.15g", town.lat + r.between(-0.05, 0.05)));
  field(out, number("%.15g", town.lon + r.between(-0.05, 0.05)));
  field(out, number("%.2f", r.between(5000, 2000000)));
  field(out, number("%.2f", r.between(0, 400000)), true);
  return p;
}

// --- observations ----------------------------------------------------------------------

struct Measure {
  const char* category;  // "" for Synthea's own measures
  const char* code;
  const char* description;
  const char* units;
};

// One observation row appended to `out`; `value` is its VALUE text.
void write_observation(std::string& out, const std::string& when, const Patient& p, const Measure& m,
                       std::string_view value, bool text) {
  field(out, when);
  field(out, p.id);
  field(out, "");  // ENCOUNTER: no encounters.csv
  field(out, m.category);
  field(out, m.code);
  field(out, m.description);
  field(out, value);
  field(out, m.units);
  field(out, text ? "text" : "numeric", true);
}

// Writes exactly `count` observations of patient `p` (index i) in visits.
void write_observations(std::string& out, std::uint64_t seed, std::uint64_t i, const Patient& p,
                        std::uint64_t count) {
  static const Measure kHeight{"vital-signs", "8302-2", "Body Height", "cm"};
  static const Measure kWeight{"vital-signs", "29463-7", "Body Weight", "kg"};
  static const Measure kBmi{"vital-signs", "39156-5", "Body Mass Index", "kg/m2"};
  static const Measure kDiastolic{"vital-signs", "8462-4", "Diastolic Blood Pressure", "mm[Hg]"};
  static const Measure kSystolic{"vital-signs", "8480-6", "Systolic Blood Pressure", "mm[Hg]"};
  static const Measure kHeart{"vital-signs", "8867-4", "Heart rate", "/min"};
  static const Measure kResp{"vital-signs", "9279-1", "Respiratory rate", "/min"};
  static const Measure kPain{"vital-signs", "72514-3",
                             "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}"};
  static const Measure kGlucose{"laboratory", "2339-0", "Glucose", "mg/dL"};
  static const Measure kA1c{"laboratory", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%"};
  static const Measure kCholesterol{"laboratory", "2093-3", "Total Cholesterol", "mg/dL"};
  static const Measure kHemoglobin{"laboratory", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL"};
  static const Measure kSmoking{"survey", "72166-2", "Tobacco smoking status NHIS", ""};
  static const Measure kQaly{"", "QALY", "QALY", "a"};
  static const Measure kDaly{"", "DALY", "DALY", "a"};
  static const Measure kQols{"", "QOLS", "QOLS", "{score}"};

  Rng r(seed ^ kObservationDomain ^ mix(i));
  if (count == 0) return;
  // Visits spread evenly over the patient's life, about 12 rows each (a
  // visit never repeats a row: the id ehr gives a row is its content's hash).
  std::uint64_t visits = std::max<std::uint64_t>(1, (count + 11) / 12);
  double span = static_cast<double>(std::max<std::int64_t>(p.end - p.birth, 1));
  std::uint64_t left = count;
  for (std::uint64_t v = 0; left > 0; ++v) {
    double slot = std::min(static_cast<double>(v) + r.unit(), static_cast<double>(visits) - r.unit() * 0.5);
    double at = static_cast<double>(p.birth) + span * slot / static_cast<double>(visits);
    std::int64_t day = std::min<std::int64_t>(static_cast<std::int64_t>(at), p.end - 1);
    std::string when = time_text(day * 86400 + static_cast<std::int64_t>(r.below(86400)));
    double age = static_cast<double>(day - p.birth) / 365.25;
    double grown = std::min(1.0, 0.3 + age / 18.0 * 0.7);
    double height = p.height_cm * grown;
    double adult_bmi = p.weight_kg / (p.height_cm * p.height_cm / 10000.0);
    double bmi = age >= 18 ? adult_bmi : 15.5 + (adult_bmi - 15.5) * age / 18.0;
    double weight = bmi * height * height / 10000.0 * r.between(0.97, 1.03);
    std::vector<std::pair<const Measure*, std::string>> rows;
    rows.emplace_back(&kHeight, number("%.1f", height));
    rows.emplace_back(&kWeight, number("%.1f", weight));
    rows.emplace_back(&kBmi, number("%.1f", weight / (height * height / 10000.0)));
    rows.emplace_back(&kDiastolic, number("%.1f", std::round(r.between(60, 95))));
    rows.emplace_back(&kSystolic, number("%.1f", std::round(r.between(95, 150))));
    rows.emplace_back(&kHeart, number("%.1f", std::round(r.between(55, 110))));
    rows.emplace_back(&kResp, number("%.1f", std::round(r.between(12, 20))));
    rows.emplace_back(&kPain, number("%.1f", std::round(r.between(0, 4))));
    if (age >= 18 && r.chance(0.4)) {
      rows.emplace_back(&kGlucose, number("%.1f", r.between(65, 180)));
      rows.emplace_back(&kA1c, number("%.1f", r.between(4.6, 9.5)));
      rows.emplace_back(&kCholesterol, number("%.1f", r.between(130, 290)));
      rows.emplace_back(&kHemoglobin, number("%.1f", r.between(11, 17.5)));
    }
    if (age >= 15)
      rows.emplace_back(&kSmoking, p.smoker ? (r.chance(0.8) ? "Every day smoker" : "Some day smoker")
                                            : (r.chance(0.85) ? "Never smoker" : "Former smoker"));
    rows.emplace_back(&kQaly, number("%.1f", std::floor(age)));
    rows.emplace_back(&kDaly, number("%.1f", std::floor(r.between(0, 1.5))));
    rows.emplace_back(&kQols, number("%.1f", std::round(r.between(0.8, 1.0) * 10) / 10));
    std::uint64_t take = std::min<std::uint64_t>(left, rows.size());
    for (std::uint64_t k = 0; k < take; ++k) {
      const auto& [m, value] = rows[k];
      write_observation(out, when, p, *m, value, m == &kSmoking);
    }
    left -= take;
  }
}

// How many observations each patient has: a weight of 0.25 + Exp(1) per
// patient, scaled so the counts add up to exactly `observations`. first[i]
// is patient i's first observation; first[N] == observations.
std::vector<std::uint64_t> observation_starts(std::uint64_t seed, std::uint64_t patients,
                                              std::uint64_t observations) {
  std::vector<double> w(patients);
  double total = 0;
  for (std::uint64_t i = 0; i < patients; ++i) {
    Rng r(seed ^ kShareDomain ^ mix(i));
    w[i] = 0.25 - std::log(1.0 - r.unit());
    total += w[i];
  }
  std::vector<std::uint64_t> first(patients + 1);
  double acc = 0;
  for (std::uint64_t i = 0; i < patients; ++i) {
    first[i] = static_cast<std::uint64_t>(std::llround(acc / total * static_cast<double>(observations)));
    acc += w[i];
  }
  first[patients] = observations;
  return first;
}

// --- output ---------------------------------------------------------------------------

// A file written through DIR/.NAME.tmp and renamed into place on close.
class Output {
 public:
  explicit Output(fs::path path) : path_(std::move(path)), tmp_(path_.parent_path() / ("." + path_.filename().string() + ".tmp")) {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (f_ == nullptr) fail("cannot create");
  }
  ~Output() {
    if (f_ != nullptr) {
      std::fclose(f_);
      std::remove(tmp_.c_str());
    }
  }
  // Writes `buf` once it is large, and clears it.
  void flush(std::string& buf, bool force = false) {
    if (buf.size() < (1u << 20) && !force) return;
    if (std::fwrite(buf.data(), 1, buf.size(), f_) != buf.size()) fail("cannot write");
    buf.clear();
  }
  void close(std::string& buf) {
    flush(buf, true);
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) fail("cannot write");
    fs::rename(tmp_, path_);
  }

 private:
  [[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "ehr_synthea_gen: %s %s: %s\n", what, tmp_.c_str(), std::strerror(errno));
    std::exit(1);
  }
  fs::path path_, tmp_;
  std::FILE* f_ = nullptr;
};

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr, "ehr_synthea_gen: %s\n", problem);
  std::fprintf(stderr, "usage: ehr_synthea_gen --out DIR [--patients N] [--observations M] [--seed S]\n");
  std::exit(64);
}

std::uint64_t parse_count(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (*text < '0' || *text > '9' || *end != '\0' || errno != 0)
    usage((std::string(flag) + " needs a whole number").c_str());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t patients = 1000, observations = 0, seed = 1;
  bool observations_given = false;
  std::string out_dir;
  for (int a = 1; a < argc; ++a) {
    std::string_view flag = argv[a];
    if (flag == "-h" || flag == "--help") {
      std::printf("usage: ehr_synthea_gen --out DIR [--patients N] [--observations M] [--seed S]\n");
      return 0;
    }
    if (a + 1 >= argc) usage((std::string(flag) + " needs a value").c_str());
    const char* value = argv[++a];
    if (flag == "--out") out_dir = value;
    else if (flag == "--patients") patients = parse_count(argv[a - 1], value);
    else if (flag == "--observations") observations = parse_count(argv[a - 1], value), observations_given = true;
    else if (flag == "--seed") seed = parse_count(argv[a - 1], value);
    else usage(("unknown option " + std::string(flag)).c_str());
  }
  if (out_dir.empty()) usage("--out is required");
  if (patients == 0) usage("--patients must be at least 1");
  if (!observations_given) observations = 10 * patients;

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "ehr_synthea_gen: cannot create %s: %s\n", out_dir.c_str(), ec.message().c_str());
    return 1;
  }
  std::vector<std::uint64_t> first = observation_starts(seed, patients, observations);
  Output pf(fs::path(out_dir) / "patients.csv");
  Output of(fs::path(out_dir) / "observations.csv");
  std::string pbuf =
      "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,MARITAL,RACE,ETHNICITY,"
      "GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP,LAT,LON,HEALTHCARE_EXPENSES,HEALTHCARE_COVERAGE\n";
  std::string obuf = "DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE\n";
  for (std::uint64_t i = 0; i < patients; ++i) {
    Patient p = write_patient(pbuf, seed, i);
    write_observations(obuf, seed, i, p, first[i + 1] - first[i]);
    pf.flush(pbuf);
    of.flush(obuf);
  }
  pf.close(pbuf);
  of.close(obuf);
  return 0;
}
