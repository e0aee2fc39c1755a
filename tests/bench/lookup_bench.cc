// ehr_lookup_bench: the lookup benchmark behind `scripts/bench lookup`.
//
// 1. Builds (once; cached by size) two databases holding the same rows:
//      ehr.db     an ehr database (key file bench.key, user "bench": admin
//                 and physician, on every patient's care team) with N
//                 patients and M observations, written through core
//                 (create_resources, batches of about 5000 resources);
//      plain.db   a plain SQLite database (unix VFS, WAL, the same page size)
//                 with tables patient and observation holding the same ids and
//                 the same JSON (as ehr stored it, meta included), indexed on
//                 observation(patient_id) and patient(family).
//    They live in DIR/lookup-<N>p-<M>o-v<generator version>/ (default DIR:
//    build/bench); a rerun with the same sizes reuses them.
// 2. Picks K patients with a fixed seed and times, as whole processes (each
//    its own posix_spawn + wait4: wall time and the child's peak RSS):
//      record show   ehr --db D --user bench --key-file K record show
//                        --patient <id> --format json
//                    sqlite3 plain.db "SELECT json FROM patient WHERE id='<id>';
//                        SELECT json FROM observation WHERE patient_id='<id>'
//                        ORDER BY date DESC;"
//      patient find  ehr ... patient find --name <prefix> --format json
//                    sqlite3 plain.db "SELECT json FROM patient WHERE
//                        family >= '<prefix>' AND family < '<prefix+1>'
//                        ORDER BY family, given, id"
//    The name query is the indexed range form of LIKE '<prefix>%' (LIKE is
//    case-insensitive by default, so SQLite would not use the index for it).
//    patient.family holds the family name folded as ehr folds names for its
//    search (lower case, Latin accents stripped), so both sides answer the
//    same question; a prefix is lengthened until no given name in the name
//    lists starts with it, so ehr (which matches any name token) returns the
//    same patients.
//    Before timing, each query runs once on both sides with its output
//    captured: both must return the same resources (compared as parsed JSON),
//    or the benchmark fails. That run also warms the OS page cache for both.
//    Then each query runs --repeat times per side, the two sides alternating.
//    With --baseline-ehr PATH (scripts/bench audit: the build without
//    auditing), a third side runs the same ehr command with that binary, on
//    a copy of ehr.db made for the run (ehr-baseline.db, deleted after), in
//    the same rotation: the audit overhead is then a ratio measured in one
//    run, under the same machine load, and the baseline, which never writes,
//    never reads back the WAL the audited side leaves.
// 3. Prints, per query and side: median, p90 and min wall time, median CPU
//    time, median and peak RSS, rows returned; the ratio of the medians
//    (ehr/sqlite3) against the target (3x), and with a baseline the
//    ehr/baseline ratio against the audit target (+10%); the build time and
//    rate; the database sizes.
//
// Usage: ehr_lookup_bench --ehr PATH [--patients N] [--observations M]
//          [--runs K] [--repeat R] [--dir DIR] [--sqlite3 PATH]
//          [--baseline-ehr PATH] [--build-only]
// Exits 0 after printing the report (whatever the ratios), 64 on a usage
// error, 1 when building or a run fails (or the two sides disagree).

#include <fcntl.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/builders.h"
#include "ehr/json.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "ehr/store.h"
#include "sqlite_store.h"
#include "../support/rng.h"

extern char** environ;

namespace ehr::bench {
namespace {

namespace fs = std::filesystem;

// Bump when the generated data changes: the cache directory is keyed by it.
// 2: the bench user is a physician (besides admin) on every patient's care
// team, as the access policy needs for them to search and read records.
// 3: written by an ehr whose Patient rows carry their care team and sort
// key and sit below the records in the resource table (schema migration 4).
constexpr int kGeneratorVersion = 3;
constexpr std::uint64_t kSeed = 20240617;
constexpr std::uint64_t kPickSeed = 7;
constexpr std::size_t kBatchResources = 5000;
constexpr double kTargetRatio = 3.0;
constexpr double kAuditTarget = 0.10;  // audited / baseline - 1
constexpr const char* kUser = "bench";
constexpr const char* kMrnSystem = "urn:ehr:mrn";

// --- 1. deterministic randomness ------------------------------------------------

using ehr::testing::mix;
using ehr::testing::Rng;

// Domains, so patient i and observation i draw unrelated numbers.
constexpr std::uint64_t kPatientDomain = 0x50415449454e5400ull;
constexpr std::uint64_t kObservationDomain = 0x4f42534552564100ull;

// A UUID-shaped id (version 4 layout) unique per (domain, index): mix is a
// bijection, so the first 64 bits already differ between indexes.
std::string uuid_for(std::uint64_t domain, std::uint64_t index) {
  std::uint64_t hi = mix(kSeed ^ domain ^ (index * 0x9e3779b97f4a7c15ull));
  std::uint64_t lo = mix(hi ^ domain);
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

// --- 2. names and codes -------------------------------------------------------------

// Single-word family names from many countries, roughly by frequency; about a
// quarter carry Latin diacritics (all within Latin-1 and Latin Extended-A,
// which ehr's name folding covers).
const std::vector<std::string_view>& family_names() {
  static const std::vector<std::string_view> k = {
      "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis",
      "Rodríguez", "Martínez", "Hernández", "López", "González", "Wilson", "Anderson",
      "Taylor", "Moore", "Jackson", "Pérez", "Thompson", "White", "Harris", "Sánchez",
      "Clark", "Ramírez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
      "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
      "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gómez", "Phillips", "Evans",
      "Turner", "Díaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
      "Morales", "Murphy", "Cook", "Rogers", "Gutiérrez", "Ortiz", "Morgan", "Cooper",
      "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward",
      "Richardson", "Watson", "Brooks", "Chavez", "Wood", "Bennett", "Gray", "Mendoza",
      "Ruiz", "Hughes", "Price", "Álvarez", "Castillo", "Sanders", "Patel", "Myers", "Long",
      "Ross", "Foster", "Jiménez", "Muñoz", "Núñez", "Romero", "Herrera", "Medina", "Aguilar",
      "Vargas", "Guzmán", "Peña", "Ibáñez", "Marín", "Müller", "Schmidt", "Schneider",
      "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schäfer", "Koch", "Bauer", "Richter",
      "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Krüger", "Hofmann",
      "Hartmann", "Köhler", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Bonnet",
      "Dupont", "Fontaine", "Rousseau", "Mercier", "Bélanger", "Côté", "Gagnon", "Lévesque",
      "Tremblay", "Bouchard", "Gauthier", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi",
      "Romano", "Colombo", "Ricci", "Marino", "Greco", "Gallo", "Conti", "Costa", "Silva",
      "Santos", "Oliveira", "Souza", "Pereira", "Carvalho", "Gonçalves", "Araújo", "Ribeiro",
      "Almeida", "Fernandes", "Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk",
      "Kamiński", "Lewandowski", "Zieliński", "Szymański", "Dvořák", "Novák", "Svoboda",
      "Černý", "Procházka", "Kučera", "Horváth", "Nagy", "Tóth", "Szabó", "Kovács",
      "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Björk",
      "Lindqvist", "Håkansson", "Jensen", "Nielsen", "Hansen", "Pedersen", "Sørensen",
      "Yılmaz", "Öztürk", "Şahin", "Demir", "Çelik", "Kaya", "Papadopoulos", "Ivanov",
      "Petrov", "Park", "Chen", "Wang", "Zhang", "Liu", "Yang", "Huang", "Zhao", "Tanaka",
      "Suzuki", "Takahashi", "Watanabe", "Sato", "Shah", "Singh", "Kumar", "Sharma", "Gupta",
      "Khan", "Ahmed", "Hassan", "Okafor", "Adeyemi", "Mensah", "Mwangi", "Byrne", "Walsh",
      "Doyle", "MacDonald", "Fraser", "Reid", "Thornton", "Whitfield", "Abernathy",
      "Vasquez", "Delgado", "Castro", "Ortega", "Navarro", "Domínguez", "Vázquez", "Sáez",
      "Fuentes", "Iglesias", "Cabrera", "Molina", "Serrano", "Blanco", "Suárez",
  };
  return k;
}

const std::vector<std::string_view>& female_names() {
  static const std::vector<std::string_view> k = {
      "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
      "Sarah", "Karen", "Nancy", "Margaret", "Sandra", "Ashley", "Emily", "Donna", "Michelle",
      "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Sharon",
      "Cynthia", "Kathleen", "Amy", "Shirley", "Angela", "Helen", "Anna", "Brenda", "Pamela",
      "Nicole", "Emma", "Samantha", "Katherine", "Christine", "Rachel", "Olivia", "Sophia",
      "Zoë", "Chloé", "Inès", "Léa", "Mónica", "Lucía", "Sofía", "María", "Renée", "Anaïs",
      "Małgorzata", "Zofia", "Jana", "Eva", "Ingrid", "Astrid", "Yuki", "Mei", "Priya",
      "Aisha", "Fatima", "Amara", "Nadia", "Ximena", "Valentina", "Camila", "Hélène",
      "Agnès", "Dagmar", "Åsa",
  };
  return k;
}

const std::vector<std::string_view>& male_names() {
  static const std::vector<std::string_view> k = {
      "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph",
      "Thomas", "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Donald", "Steven",
      "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald",
      "Edward", "Jason", "Jeffrey", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan",
      "Stephen", "Larry", "Justin", "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander",
      "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron", "José",
      "Adam", "Nathan", "Henry", "Zachary", "Douglas", "Peter", "Kyle", "Noah", "Ethan",
      "Jérôme", "François", "René", "Andrés", "Jesús", "Ángel", "Søren", "Jürgen", "Łukasz",
      "Tomáš", "Mehmet", "Hiroshi", "Wei", "Arjun", "Omar", "Kwame", "Chidi", "Mateo",
      "Santiago", "Håkon", "Björn",
  };
  return k;
}

struct ObservationCode {
  const char* kind;  // "vital" or "lab" (build_record's kinds)
  const char* code;  // LOINC
  const char* display;
  const char* unit;  // UCUM
  double lo, hi;
  int decimals;
};

const std::vector<ObservationCode>& observation_codes() {
  static const std::vector<ObservationCode> k = {
      {"vital", "29463-7", "Body weight", "kg", 45, 130, 1},
      {"vital", "8302-2", "Body height", "cm", 145, 200, 0},
      {"vital", "8867-4", "Heart rate", "/min", 48, 115, 0},
      {"vital", "8310-5", "Body temperature", "Cel", 35.8, 38.9, 1},
      {"vital", "9279-1", "Respiratory rate", "/min", 11, 24, 0},
      {"vital", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 90,
       100, 0},
      {"vital", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 17, 42, 1},
      {"lab", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.6, 11.5, 1},
      {"lab", "2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 65, 260, 0},
      {"lab", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 9.5, 17.5, 1},
      {"lab", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.5, 2.4, 2},
      {"lab", "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 120, 310, 0},
      {"lab", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 3.2,
       13.5, 1},
      {"lab", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.2, 5.6, 1},
      {"lab", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 131, 149, 0},
  };
  return k;
}

// --- 3. the generated rows ------------------------------------------------------------

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

constexpr std::int64_t kDay1930 = -14610;  // 1930-01-01
constexpr std::int64_t kDay2016 = 16801;   // 2016-01-01
constexpr std::int64_t kDay2024 = 19723;   // 2024-01-01
constexpr std::int64_t kDay2026 = 20454;   // 2026-01-01

// Family names are drawn with Zipf-like weights (exponent 0.6): a few common,
// a long tail.
class FamilyPicker {
 public:
  FamilyPicker() {
    double total = 0;
    for (std::size_t r = 0; r < family_names().size(); ++r) {
      total += 1.0 / std::pow(static_cast<double>(r + 1), 0.6);
      cumulative_.push_back(total);
    }
    for (double& c : cumulative_) c /= total;
  }
  std::string_view pick(double u) const {
    auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
    std::size_t i = std::min<std::size_t>(it - cumulative_.begin(), cumulative_.size() - 1);
    return family_names()[i];
  }

 private:
  std::vector<double> cumulative_;
};

struct PatientRow {
  std::string id;
  std::string family;
  std::vector<std::string> given;
  std::string gender;
  std::string birth_date;
  std::string mrn;
  std::string phone;
};

// Patient i of every database, whatever N is.
PatientRow patient_row(std::uint64_t i, const FamilyPicker& families) {
  Rng r(kSeed ^ kPatientDomain ^ mix(i));
  PatientRow p;
  p.id = uuid_for(kPatientDomain, i);
  p.family = std::string(families.pick(r.unit()));
  bool female = r.below(2) == 0;
  p.gender = female ? "female" : "male";
  const auto& firsts = female ? female_names() : male_names();
  p.given.emplace_back(firsts[r.below(firsts.size())]);
  if (r.below(10) < 3) {
    std::string_view middle = firsts[r.below(firsts.size())];
    if (middle != p.given.front()) p.given.emplace_back(middle);
  }
  p.birth_date = date_text(kDay1930 + static_cast<std::int64_t>(r.below(kDay2024 - kDay1930)));
  char buf[32];
  std::snprintf(buf, sizeof buf, "A%07llu", static_cast<unsigned long long>(1000000 + i));
  p.mrn = buf;
  std::snprintf(buf, sizeof buf, "+1 555-%03u-%04u", static_cast<unsigned>(r.below(1000)),
                static_cast<unsigned>(r.below(10000)));
  p.phone = buf;
  return p;
}

// How many observations each patient has: a weight of 0.25 + Exp(1) per
// patient (so from about 2 to 60 when the mean is 10), scaled so the counts
// add up to exactly `observations`. first[i] is patient i's first
// observation index; first[N] == observations.
std::vector<std::uint64_t> observation_starts(std::uint64_t patients, std::uint64_t observations) {
  std::vector<double> w(patients);
  double total = 0;
  for (std::uint64_t i = 0; i < patients; ++i) {
    Rng r(kSeed ^ 0x77ull ^ mix(i));
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

Json patient_json(const PatientRow& p) {
  PatientFields f;
  f.given = p.given;
  f.family = p.family;
  f.birth_date = p.birth_date;
  f.gender = p.gender;
  f.mrn = p.mrn;
  f.mrn_system = kMrnSystem;
  f.phone = p.phone;
  Result<Json> j = build_patient(f);
  if (!j.ok()) throw std::runtime_error("build_patient: " + j.error().message());
  j->set("id", Json::string(p.id));
  return std::move(*j);
}

Json observation_json(std::uint64_t j, const std::string& patient_id) {
  Rng r(kSeed ^ kObservationDomain ^ mix(j));
  const auto& codes = observation_codes();
  const ObservationCode& c = codes[r.below(codes.size())];
  RecordFields f;
  f.kind = c.kind;
  f.patient = patient_id;
  f.code = c.code;
  f.system = "loinc";
  f.display = c.display;
  char value[32];
  std::snprintf(value, sizeof value, "%.*f", c.decimals, r.between(c.lo, c.hi));
  f.value = value;
  f.unit = c.unit;
  std::int64_t day = kDay2016 + static_cast<std::int64_t>(r.below(kDay2026 - kDay2016));
  char when[40];
  std::snprintf(when, sizeof when, "%sT%02u:%02u:00Z", date_text(day).c_str(),
                static_cast<unsigned>(7 + r.below(12)), static_cast<unsigned>(r.below(60)));
  f.date = when;
  Result<Json> o = build_record(f);
  if (!o.ok()) throw std::runtime_error("build_record: " + o.error().message());
  o->set("id", Json::string(uuid_for(kObservationDomain, j)));
  return std::move(*o);
}

// --- 4. plain SQLite ----------------------------------------------------------------

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw std::runtime_error(std::string(what) + ": " +
                           (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

void exec(sqlite3* db, const std::string& sql) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(db, sql);
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK) fail(db, sql);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(st_); }
  void text(int i, const std::string& s) {
    if (sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT) !=
        SQLITE_OK)
      fail(db_, "bind");
  }
  void run() {
    if (sqlite3_step(st_) != SQLITE_DONE) fail(db_, sqlite3_sql(st_));
    sqlite3_reset(st_);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

constexpr const char* kPlainSchema =
    "CREATE TABLE patient(id TEXT PRIMARY KEY, family TEXT NOT NULL, given TEXT NOT NULL,"
    " birth_date TEXT, mrn TEXT, json TEXT NOT NULL);"
    "CREATE TABLE observation(id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, code TEXT,"
    " date TEXT, json TEXT NOT NULL);"
    "CREATE INDEX patient_family ON patient(family);"
    "CREATE INDEX observation_patient ON observation(patient_id);";

class PlainDb {
 public:
  PlainDb(const std::string& path, std::int64_t page_size) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXRESCODE,
                             "unix");
    if (rc != SQLITE_OK) fail(db_, path);
    exec(db_, "PRAGMA page_size=" + std::to_string(page_size));
    exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;");
    exec(db_, kPlainSchema);
    patient_.emplace(db_,
                     "INSERT INTO patient(id, family, given, birth_date, mrn, json)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    observation_.emplace(db_,
                         "INSERT INTO observation(id, patient_id, code, date, json)"
                         " VALUES(?1, ?2, ?3, ?4, ?5)");
  }
  PlainDb(const PlainDb&) = delete;
  PlainDb& operator=(const PlainDb&) = delete;
  ~PlainDb() {
    patient_.reset();
    observation_.reset();
    sqlite3_close_v2(db_);
  }

  sqlite3* handle() const { return db_; }

  // Writes the batch as ehr stored it: same ids, same JSON.
  void insert(const std::vector<StoredResource>& batch) {
    exec(db_, "BEGIN");
    for (const StoredResource& r : batch) {
      std::string json = to_json(r.resource);
      if (r.type == "Patient") {
        const Json& name = r.resource.find("name")->items().front();
        std::string given;
        for (const Json& g : name.find("given")->items()) {
          given += (given.empty() ? "" : " ") + g.text();
        }
        patient_->text(1, r.id);
        patient_->text(2, fold_name(name.find("family")->text()));
        patient_->text(3, given);
        patient_->text(4, r.resource.find("birthDate")->text());
        patient_->text(5, r.resource.find("identifier")->items().front().find("value")->text());
        patient_->text(6, json);
        patient_->run();
      } else {
        const Json* coding = &r.resource.find("code")->find("coding")->items().front();
        observation_->text(1, r.id);
        observation_->text(2, r.patient);
        observation_->text(3, coding->find("code")->text());
        observation_->text(4, r.resource.find("effectiveDateTime")->text());
        observation_->text(5, json);
        observation_->run();
      }
    }
    exec(db_, "COMMIT");
  }

 private:
  sqlite3* db_ = nullptr;
  std::optional<Stmt> patient_, observation_;
};

// --- 5. building the databases ----------------------------------------------------------

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void progress(const std::string& line) {
  std::fprintf(stderr, "ehr_lookup_bench: %s\n", line.c_str());
}

struct Options {
  std::uint64_t patients = 100000;
  std::uint64_t observations = 1000000;
  int runs = 30;    // patients picked
  int repeat = 3;   // timed runs per query and side
  std::string dir = "build/bench";
  std::string ehr;
  std::string sqlite3 = "sqlite3";
  std::string baseline_ehr;  // optional third side
  bool build_only = false;
};

struct Dataset {
  std::string dir;
  std::string ehr_db, key_file, plain_db;
  std::string base_db;  // the baseline side's copy of ehr_db (--baseline-ehr)
  std::map<std::string, std::string> manifest;  // as written after the build
};

std::string key_hex(const Secret& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : key.bytes()) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::map<std::string, std::string> read_manifest(const std::string& path) {
  std::map<std::string, std::string> m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

std::int64_t file_size(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

// Builds the two databases in `tmp` (then renamed to `final_dir` by the caller).
std::map<std::string, std::string> build(const Options& o, const std::string& tmp) {
  const std::string ehr_db = tmp + "/ehr.db", key_file = tmp + "/bench.key",
                    plain_db = tmp + "/plain.db";
  // The key file, as `ehr key new` writes it: 64 hex digits, mode 0600.
  Secret key = new_key_file_bytes();
  {
    std::string text = key_hex(key) + "\n";
    int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::close(fd) != 0) {
      throw std::runtime_error(key_file + ": cannot write");
    }
  }
  Result<Secret> secret = Secret::key_file(key.bytes());
  if (!secret.ok()) throw std::runtime_error(secret.error().message());
  SessionOptions so;
  so.user = kUser;
  // Admin alone reads no clinical data; a physician who creates a patient
  // joins its care team, so the bench user may read every record.
  so.first_user_roles = {"physician"};
  std::optional<Session> session;
  {
    // The KDF setting is unused: a key-file slot derives nothing.
    Result<Session> s =
        Session::create(ehr_db, SlotOptions{kUser, "bench key file", KdfParams::moderate()},
                        *secret, so);
    if (!s.ok()) throw std::runtime_error(ehr_db + ": " + s.error().message());
    session.emplace(std::move(*s));
  }
  sqlite3* ehr_handle = StoreInternal::connection(session->store()).handle();
  std::int64_t page_size = 0;
  {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(ehr_handle, "PRAGMA page_size", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      page_size = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  if (page_size <= 0) throw std::runtime_error("cannot read the ehr store's page size");
  PlainDb plain(plain_db, page_size);

  progress("building " + std::to_string(o.patients) + " patients and " +
           std::to_string(o.observations) + " observations in " + tmp);
  FamilyPicker families;
  std::vector<std::uint64_t> first = observation_starts(o.patients, o.observations);
  double ehr_s = 0, plain_s = 0, gen_s = 0;
  auto t_all = Clock::now();
  auto t_report = t_all;
  std::uint64_t done_p = 0, done_o = 0;
  std::vector<Json> batch;
  std::vector<std::string> batch_patients;
  // Creating a patient puts the physician who does on its care team, but a
  // batch is authorized before any of it is written: its observations need
  // the care-team rows of its new patients first. They are the rows ehr's
  // create writes (which then finds them there), so the data and its
  // layout stay those of a patient-by-patient load.
  std::optional<Stmt> team;
  team.emplace(ehr_handle,
               "INSERT INTO care_team(patient, user, role, added, added_by) "
               "VALUES(?1, ?2, 'creator', '2026-01-01T00:00:00.000Z', ?2)");
  auto flush = [&] {
    if (batch.empty()) return;
    auto t0 = Clock::now();
    exec(ehr_handle, "BEGIN IMMEDIATE");
    for (const std::string& id : batch_patients) {
      team->text(1, id);
      team->text(2, kUser);
      team->run();
    }
    exec(ehr_handle, "COMMIT");
    batch_patients.clear();
    Result<std::vector<StoredResource>> stored = create_resources(*session, std::move(batch));
    batch.clear();
    if (!stored.ok()) throw std::runtime_error("create_resources: " + stored.error().message());
    auto t1 = Clock::now();
    plain.insert(*stored);
    auto t2 = Clock::now();
    ehr_s += std::chrono::duration<double>(t1 - t0).count();
    plain_s += std::chrono::duration<double>(t2 - t1).count();
    if (since(t_report) >= 10) {
      t_report = Clock::now();
      double el = since(t_all);
      double frac = static_cast<double>(done_p + done_o) /
                    static_cast<double>(o.patients + o.observations);
      progress(std::to_string(done_p) + " patients, " + std::to_string(done_o) +
               " observations after " + fixed(el, 0) + " s (ehr " + fixed(ehr_s, 0) +
               " s, plain " + fixed(plain_s, 0) + " s); about " +
               fixed(el / std::max(frac, 1e-9) - el, 0) + " s to go");
    }
  };
  for (std::uint64_t i = 0; i < o.patients; ++i) {
    auto t0 = Clock::now();
    PatientRow p = patient_row(i, families);
    batch.push_back(patient_json(p));
    batch_patients.push_back(p.id);
    for (std::uint64_t j = first[i]; j < first[i + 1]; ++j) batch.push_back(observation_json(j, p.id));
    gen_s += since(t0);
    ++done_p;
    done_o += first[i + 1] - first[i];
    if (batch.size() >= kBatchResources) flush();
  }
  flush();
  team.reset();  // finalized before the session closes its connection
  auto t_close = Clock::now();
  exec(plain.handle(), "PRAGMA wal_checkpoint(TRUNCATE)");
  session.reset();  // closes the store (a WAL that large is checkpointed and emptied)
  double close_s = since(t_close);
  double total_s = since(t_all);

  std::map<std::string, std::string> m;
  m["generator_version"] = std::to_string(kGeneratorVersion);
  m["seed"] = std::to_string(kSeed);
  m["patients"] = std::to_string(o.patients);
  m["observations"] = std::to_string(o.observations);
  m["page_size"] = std::to_string(page_size);
  m["build_seconds"] = fixed(total_s, 1);
  m["ehr_seconds"] = fixed(ehr_s, 1);
  m["plain_seconds"] = fixed(plain_s, 1);
  m["generate_seconds"] = fixed(gen_s, 1);
  m["close_seconds"] = fixed(close_s, 1);
  m["sqlite_version"] = sqlite3_libversion();
  return m;
}

Dataset prepare_dataset(const Options& o) {
  Dataset d;
  d.dir = o.dir + "/lookup-" + std::to_string(o.patients) + "p-" +
          std::to_string(o.observations) + "o-v" + std::to_string(kGeneratorVersion);
  d.ehr_db = d.dir + "/ehr.db";
  d.key_file = d.dir + "/bench.key";
  d.plain_db = d.dir + "/plain.db";
  const std::string manifest = d.dir + "/manifest.txt";
  if (fs::exists(manifest)) {
    d.manifest = read_manifest(manifest);
    progress("using the databases built earlier in " + d.dir + " (build took " +
             d.manifest["build_seconds"] + " s; delete the directory to rebuild)");
    return d;
  }
  fs::create_directories(o.dir);
  const std::string tmp = d.dir + ".building";
  fs::remove_all(tmp);
  fs::remove_all(d.dir);
  fs::create_directory(tmp);
  d.manifest = build(o, tmp);
  {
    std::ofstream out(tmp + "/manifest.txt");
    for (const auto& [k, v] : d.manifest) out << k << '=' << v << '\n';
    if (!out) throw std::runtime_error(tmp + "/manifest.txt: cannot write");
  }
  fs::rename(tmp, d.dir);
  double total = std::stod(d.manifest["build_seconds"]);
  progress("built in " + d.manifest["build_seconds"] + " s (" +
           fixed(static_cast<double>(o.patients + o.observations) / total, 0) +
           " resources/s; ehr " + d.manifest["ehr_seconds"] + " s, plain " +
           d.manifest["plain_seconds"] + " s, generating " + d.manifest["generate_seconds"] +
           " s)");
  return d;
}

// --- 6. running processes ---------------------------------------------------------------

struct ProcRun {
  double wall_s = 0;
  double cpu_s = 0;       // user + system
  double peak_mib = 0;    // ru_maxrss
  int status = 0;
};

// The environment of every measured process: this one's, less EHR_*
// settings, with HOME pointing at the dataset directory so that neither a
// user's ~/.config/ehr/config.yaml nor ~/.sqliterc changes what runs.
std::vector<std::string> child_environment(const std::string& home) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("EHR_") || kv.starts_with("HOME=") || kv.starts_with("XDG_CONFIG_HOME=")) {
      continue;
    }
    env.emplace_back(kv);
  }
  env.push_back("HOME=" + home);
  return env;
}

// What the spawner reports for one run. Plain data: it crosses a pipe.
struct SpawnReply {
  double wall_s;
  double cpu_s;
  std::int64_t maxrss_kib;
  std::int32_t status;
  std::int32_t spawn_error;  // errno of a failed spawn, else 0
};

bool read_full(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t k = ::read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool write_full(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

// The spawner: `ehr_lookup_bench --spawner`, a fresh small process that runs
// each measured command for the benchmark. It exists because Linux carries a
// process's peak RSS across fork and exec: a child spawned straight from the
// benchmark (tens of MiB after a build) would report at least the
// benchmark's size as its own ru_maxrss. The spawner stays at about a
// megabyte, below anything measured.
//
// Protocol on stdin: a uint32 length, then that many bytes of NUL-terminated
// strings: stdout path, stderr path, argv... It answers each request with a
// SpawnReply on stdout, and exits at end of input. Children inherit its
// environment. The time runs from just before the spawn to wait4's return.
int spawner_main() {
  std::vector<char> buf;
  for (;;) {
    std::uint32_t len = 0;
    if (!read_full(0, &len, sizeof len)) return 0;
    buf.assign(len + 1, '\0');
    if (!read_full(0, buf.data(), len)) return 1;
    std::vector<char*> fields;
    for (std::size_t i = 0; i < len;) {
      fields.push_back(buf.data() + i);
      i += std::strlen(buf.data() + i) + 1;
    }
    if (fields.size() < 3) return 1;
    fields.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, fields[0], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, fields[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    SpawnReply reply{};
    auto t0 = Clock::now();
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, fields[2], &fa, nullptr, fields.data() + 2, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      reply.spawn_error = rc;
    } else {
      int status = 0;
      rusage ru{};
      while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
      }
      reply.wall_s = since(t0);
      reply.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
      reply.maxrss_kib = ru.ru_maxrss;
      reply.status = status;
    }
    if (!write_full(1, &reply, sizeof reply)) return 1;
  }
}

// The benchmark's end of the spawner.
class Spawner {
 public:
  // Starts `self --spawner` with environment `env` (what the measured
  // commands get).
  Spawner(const std::string& self, const std::vector<std::string>& env) {
    int to[2], from[2];
    if (::pipe2(to, O_CLOEXEC) != 0 || ::pipe2(from, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    std::vector<char*> ev;
    for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
    ev.push_back(nullptr);
    std::string flag = "--spawner";
    char* av[] = {const_cast<char*>(self.c_str()), flag.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    int rc = posix_spawn(&pid_, self.c_str(), &fa, nullptr, av, ev.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(to[0]);
    ::close(from[1]);
    to_ = to[1];
    from_ = from[0];
    if (rc != 0) throw std::runtime_error(self + ": cannot start the spawner: " + std::strerror(rc));
  }
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;
  ~Spawner() {
    ::close(to_);
    ::close(from_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  // Runs argv with stdin /dev/null, stdout to `out_path`, stderr to `err_path`.
  ProcRun run(const std::vector<std::string>& argv, const std::string& out_path,
              const std::string& err_path) {
    std::string msg;
    for (const std::string* f : {&out_path, &err_path}) msg.append(*f).push_back('\0');
    for (const std::string& a : argv) msg.append(a).push_back('\0');
    auto len = static_cast<std::uint32_t>(msg.size());
    SpawnReply reply{};
    if (!write_full(to_, &len, sizeof len) || !write_full(to_, msg.data(), msg.size()) ||
        !read_full(from_, &reply, sizeof reply)) {
      throw std::runtime_error("the spawner died");
    }
    if (reply.spawn_error != 0) {
      throw std::runtime_error(argv[0] + ": cannot run: " + std::strerror(reply.spawn_error));
    }
    ProcRun r;
    r.wall_s = reply.wall_s;
    r.cpu_s = reply.cpu_s;
    r.peak_mib = static_cast<double>(reply.maxrss_kib) / 1024.0;
    r.status = reply.status;
    return r;
  }

 private:
  pid_t pid_ = 0;
  int to_ = -1, from_ = -1;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- 7. the queries ------------------------------------------------------------------

enum class Query { kRecordShow, kPatientFind };
constexpr std::array<Query, 2> kQueries = {Query::kRecordShow, Query::kPatientFind};
const char* query_name(Query q) {
  return q == Query::kRecordShow ? "record show" : "patient find";
}

struct Pick {
  std::uint64_t index = 0;
  std::string id;
  std::string prefix;  // folded family-name prefix
};

bool any_given_starts_with(const std::string& prefix) {
  for (const auto* list : {&female_names(), &male_names()}) {
    for (std::string_view g : *list) {
      if (fold_name(g).starts_with(prefix)) return true;
    }
  }
  return false;
}

// The folded family-name prefix to search for patient p: its first four
// letters, lengthened until no given name starts with it (so ehr, which
// matches any name token, and the family-only plain query find the same
// patients). nullopt when even the whole name is a given name's prefix.
std::optional<std::string> family_prefix(const std::string& family) {
  std::string folded = fold_name(family);
  for (std::size_t n = std::min<std::size_t>(4, folded.size()); n <= folded.size(); ++n) {
    // Never cut inside a UTF-8 sequence (folding leaves few, but be safe).
    if (n < folded.size() && (static_cast<unsigned char>(folded[n]) & 0xC0) == 0x80) continue;
    std::string p = folded.substr(0, n);
    if (!any_given_starts_with(p)) return p;
  }
  return std::nullopt;
}

std::vector<Pick> pick_patients(const Options& o) {
  FamilyPicker families;
  Rng r(kPickSeed);
  std::vector<Pick> picks;
  std::vector<std::uint64_t> seen;
  for (int attempts = 0; static_cast<int>(picks.size()) < o.runs && attempts < o.runs * 100;
       ++attempts) {
    std::uint64_t i = r.below(o.patients);
    if (std::find(seen.begin(), seen.end(), i) != seen.end()) continue;
    seen.push_back(i);
    PatientRow p = patient_row(i, families);
    std::optional<std::string> prefix = family_prefix(p.family);
    if (!prefix) continue;
    picks.push_back({i, p.id, *prefix});
  }
  if (picks.empty()) throw std::runtime_error("no patient could be picked");
  return picks;
}

// The upper bound of a prefix range: the prefix with its last byte plus one.
std::string range_end(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

std::string sql_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

struct Commands {
  std::vector<std::string> ehr, plain, base;  // base: empty without --baseline-ehr
};

Commands commands_for(Query q, const Pick& p, const Options& o, const Dataset& d) {
  Commands c;
  c.ehr = {o.ehr, "--db", d.ehr_db, "--user", kUser, "--key-file", d.key_file};
  std::string sql;
  if (q == Query::kRecordShow) {
    c.ehr.insert(c.ehr.end(), {"record", "show", "--patient", p.id, "--format", "json"});
    sql = "SELECT json FROM patient WHERE id=" + sql_quote(p.id) +
          "; SELECT json FROM observation WHERE patient_id=" + sql_quote(p.id) +
          " ORDER BY date DESC;";
  } else {
    c.ehr.insert(c.ehr.end(), {"patient", "find", "--name", p.prefix, "--format", "json"});
    sql = "SELECT json FROM patient WHERE family >= " + sql_quote(p.prefix) +
          " AND family < " + sql_quote(range_end(p.prefix)) + " ORDER BY family, given, id;";
  }
  c.plain = {o.sqlite3, d.plain_db, sql};
  if (!o.baseline_ehr.empty()) {
    c.base = c.ehr;
    c.base[0] = o.baseline_ehr;
    c.base[2] = d.base_db;
  }
  return c;
}

// The resources a side printed, each as canonical JSON, sorted.
std::vector<std::string> ehr_resources(const std::string& out) {
  Result<Json> doc = parse_json(out);
  if (!doc.ok() || !doc->is_array()) throw std::runtime_error("ehr printed no JSON array");
  std::vector<std::string> v;
  for (const Json& r : doc->items()) v.push_back(to_json_canonical(r));
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> plain_resources(const std::string& out) {
  std::vector<std::string> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Result<Json> r = parse_json(line);
    if (!r.ok()) throw std::runtime_error("sqlite3 printed a line that is not JSON");
    v.push_back(to_json_canonical(*r));
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::string describe_failure(const std::vector<std::string>& argv, const ProcRun& r,
                             const std::string& err_path) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd + ": exit status " + std::to_string(WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1) +
         ": " + slurp(err_path);
}

// --- 8. statistics and the report ---------------------------------------------------------

struct Samples {
  std::vector<double> wall_ms, cpu_ms, peak_mib;
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank.
  std::size_t k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(k, 1, v.size()) - 1];
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string human_size(std::int64_t bytes) {
  return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 1) + " MiB";
}

std::string version_of(Spawner& spawner, const std::vector<std::string>& argv,
                       const std::string& dir) {
  std::string out = dir + "/version.out", err = dir + "/version.err";
  ProcRun r = spawner.run(argv, out, err);
  std::string v = r.status == 0 ? slurp(out) : "?";
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  return v;
}

// Checkpoints the ehr database and empties its WAL, as a build leaves it.
// A lookup process keeps the WAL at close (sqlite_store.h, kKeepWalBytes),
// so without this a run would start from whatever WAL the previous run left,
// and a build without auditing (scripts/bench audit's baseline), which never
// writes, would read that WAL back at every open.
void empty_ehr_wal(const Dataset& d) {
  std::string text = slurp(d.key_file);
  std::vector<std::uint8_t> key;
  auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < text.size() && text[i] != '\n'; i += 2) {
    key.push_back(static_cast<std::uint8_t>(hex(text[i]) * 16 + hex(text[i + 1])));
  }
  Result<Secret> secret = Secret::key_file(key);
  if (!secret.ok()) throw std::runtime_error(d.key_file + ": " + secret.error().message());
  OpenOptions open;
  open.user = kUser;
  Result<Store> store = Store::open(d.ehr_db, *secret, open);
  if (!store.ok()) throw std::runtime_error(d.ehr_db + ": " + store.error().message());
  Status s = StoreInternal::connection(*store).exec("PRAGMA wal_checkpoint(TRUNCATE)");
  if (!s.ok()) throw std::runtime_error(d.ehr_db + ": " + s.error().message());
}

int run_benchmark(const Options& o) {
  Dataset d = prepare_dataset(o);
  if (o.build_only) return 0;
  empty_ehr_wal(d);
  const bool with_base = !o.baseline_ehr.empty();
  if (with_base) {
    d.base_db = d.dir + "/ehr-baseline.db";
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(d.base_db + suffix);
    fs::copy_file(d.ehr_db, d.base_db);
  }
  // Write back what is dirty (after a build: gigabytes) now, so that the
  // kernel's writeback does not stall the fsyncs of the measured runs.
  auto t_sync = Clock::now();
  ::sync();
  if (since(t_sync) > 1) progress("flushed dirty pages to disk in " + fixed(since(t_sync), 1) + " s");
  std::vector<std::string> env = child_environment(d.dir);
  const std::string out_path = d.dir + "/run.out", err_path = d.dir + "/run.err";
  Spawner spawner("/proc/self/exe", env);
  std::string ehr_version = version_of(spawner, {o.ehr, "--version"}, d.dir);
  std::string sqlite_version = version_of(spawner, {o.sqlite3, "--version"}, d.dir);
  // sqlite3 --version prints "3.40.1 2022-12-28 14:03:47 <hash>": keep the version.
  if (auto sp = sqlite_version.find(' '); sp != std::string::npos) sqlite_version.resize(sp);

  std::vector<Pick> picks = pick_patients(o);
  progress("checking that both sides return the same resources for " +
           std::to_string(picks.size()) + " patients");
  std::map<Query, std::vector<std::size_t>> rows;
  for (Query q : kQueries) {
    for (const Pick& p : picks) {
      Commands c = commands_for(q, p, o, d);
      ProcRun a = spawner.run(c.ehr, out_path, err_path);
      if (a.status != 0) throw std::runtime_error(describe_failure(c.ehr, a, err_path));
      std::vector<std::string> ehr_rows = ehr_resources(slurp(out_path));
      ProcRun b = spawner.run(c.plain, out_path, err_path);
      if (b.status != 0) throw std::runtime_error(describe_failure(c.plain, b, err_path));
      std::vector<std::string> plain_rows = plain_resources(slurp(out_path));
      if (ehr_rows != plain_rows) {
        throw std::runtime_error(std::string(query_name(q)) + " for patient " + p.id +
                                 " (prefix " + p.prefix + "): ehr returned " +
                                 std::to_string(ehr_rows.size()) + " resources, sqlite3 " +
                                 std::to_string(plain_rows.size()) + ", or different ones");
      }
      if (with_base) {
        ProcRun e = spawner.run(c.base, out_path, err_path);
        if (e.status != 0) throw std::runtime_error(describe_failure(c.base, e, err_path));
        if (ehr_resources(slurp(out_path)) != ehr_rows) {
          throw std::runtime_error(std::string(query_name(q)) + " for patient " + p.id +
                                   ": the baseline returned other resources than ehr");
        }
      }
      rows[q].push_back(ehr_rows.size());
    }
  }

  progress("timing " + std::to_string(picks.size()) + " patients x " + std::to_string(o.repeat) +
           " runs per query and side");
  std::map<Query, Samples> ehr_s, plain_s, base_s;
  const int sides = with_base ? 3 : 2;
  int n = 0;
  for (int rep = 0; rep < o.repeat; ++rep) {
    for (const Pick& p : picks) {
      for (Query q : kQueries) {
        Commands c = commands_for(q, p, o, d);
        // Rotate which side goes first.
        int first = n++ % sides;
        for (int k = 0; k < sides; ++k) {
          int side = (first + k) % sides;  // 0 ehr, 1 sqlite3, 2 baseline
          const std::vector<std::string>& argv = side == 0 ? c.ehr : side == 1 ? c.plain : c.base;
          ProcRun r = spawner.run(argv, "/dev/null", err_path);
          if (r.status != 0) throw std::runtime_error(describe_failure(argv, r, err_path));
          Samples& s = (side == 0 ? ehr_s : side == 1 ? plain_s : base_s)[q];
          s.wall_ms.push_back(r.wall_s * 1000);
          s.cpu_ms.push_back(r.cpu_s * 1000);
          s.peak_mib.push_back(r.peak_mib);
        }
      }
    }
  }
  fs::remove(out_path);
  fs::remove(err_path);
  if (with_base) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(d.base_db + suffix);
  }

  // The report.
  const auto& m = d.manifest;
  std::printf("ehr lookup benchmark: %s patients, %s observations; %zu patients x %d runs per "
              "query and side\n",
              m.at("patients").c_str(), m.at("observations").c_str(), picks.size(), o.repeat);
  std::printf("ehr: %s (%s); sqlite3 shell: %s; page size %s (both)\n", o.ehr.c_str(),
              ehr_version.c_str(), sqlite_version.c_str(), m.at("page_size").c_str());
  if (with_base) {
    std::printf("baseline: %s (%s), on a copy of ehr.db\n", o.baseline_ehr.c_str(),
                version_of(spawner, {o.baseline_ehr, "--version"}, d.dir).c_str());
  }
  double build_s = std::stod(m.at("build_seconds"));
  double resources = std::stod(m.at("patients")) + std::stod(m.at("observations"));
  std::printf("build: %s s (%.0f resources/s; ehr create_resources %s s = %.0f/s, plain inserts "
              "%s s, generating %s s)\n",
              m.at("build_seconds").c_str(), resources / build_s, m.at("ehr_seconds").c_str(),
              resources / std::max(0.001, std::stod(m.at("ehr_seconds"))),
              m.at("plain_seconds").c_str(), m.at("generate_seconds").c_str());
  std::printf("sizes: ehr.db %s (+ wal %s), plain.db %s (+ wal %s)\n",
              human_size(file_size(d.ehr_db)).c_str(),
              human_size(file_size(d.ehr_db + "-wal")).c_str(),
              human_size(file_size(d.plain_db)).c_str(),
              human_size(file_size(d.plain_db + "-wal")).c_str());
  std::printf(
      "queries (each a whole process; X a patient id, P a folded family-name prefix, P+ its\n"
      "range end; the name query is the indexed range form of LIKE 'P%%'):\n"
      "  record show   ehr --db ehr.db --user bench --key-file bench.key record show --patient X"
      " --format json\n"
      "                sqlite3 plain.db \"SELECT json FROM patient WHERE id='X'; SELECT json FROM"
      " observation\n"
      "                  WHERE patient_id='X' ORDER BY date DESC;\"\n"
      "  patient find  ehr ... patient find --name P --format json\n"
      "                sqlite3 plain.db \"SELECT json FROM patient WHERE family >= 'P' AND family <"
      " 'P+'\n"
      "                  ORDER BY family, given, id;\"\n\n");
  std::printf("%-13s %-8s %5s %10s %10s %10s %10s %12s %12s %10s\n", "query", "side", "runs",
              "median ms", "p90 ms", "min ms", "cpu ms", "median MiB", "peak MiB", "rows");
  bool all_met = true;
  for (Query q : kQueries) {
    std::vector<double> row_counts(rows[q].begin(), rows[q].end());
    for (int k = 0; k < sides; ++k) {
      const Samples& s = (k == 0 ? ehr_s : k == 1 ? plain_s : base_s)[q];
      std::printf("%-13s %-8s %5zu %10.2f %10.2f %10.2f %10.2f %12.1f %12.1f %10.1f\n",
                  query_name(q),
                  k == 0   ? "ehr"
                  : k == 1 ? "sqlite3"
                           : "baseline",
                  s.wall_ms.size(), median(s.wall_ms), quantile(s.wall_ms, 0.9),
                  *std::min_element(s.wall_ms.begin(), s.wall_ms.end()), median(s.cpu_ms),
                  median(s.peak_mib), *std::max_element(s.peak_mib.begin(), s.peak_mib.end()),
                  median(row_counts));
    }
  }
  std::printf("\n(rows: the median number of resources returned per query; cpu: the median of\n"
              "user+system time; MiB: the child's peak RSS, ru_maxrss)\n\n");
  for (Query q : kQueries) {
    double ratio = median(ehr_s[q].wall_ms) / median(plain_s[q].wall_ms);
    double p90_ratio = quantile(ehr_s[q].wall_ms, 0.9) / quantile(plain_s[q].wall_ms, 0.9);
    double mem_ratio = *std::max_element(ehr_s[q].peak_mib.begin(), ehr_s[q].peak_mib.end()) /
                       *std::max_element(plain_s[q].peak_mib.begin(), plain_s[q].peak_mib.end());
    bool met = ratio <= kTargetRatio;
    all_met = all_met && met;
    std::printf("%-13s ehr/sqlite3: median %.2fx (target <= %.1fx: %s), p90 %.2fx, peak RSS %.2fx\n",
                query_name(q), ratio, kTargetRatio, met ? "met" : "MISSED", p90_ratio, mem_ratio);
  }
  if (with_base) {
    for (Query q : kQueries) {
      double a = median(ehr_s[q].wall_ms), b = median(base_s[q].wall_ms);
      double over = a / b - 1;
      std::printf(
          "%-13s ehr/baseline: median %.2f ms against %.2f ms: overhead %+.1f%% (target < "
          "%.0f%%: %s), p90 %+.1f%%\n",
          query_name(q), a, b, over * 100, kAuditTarget * 100,
          over < kAuditTarget ? "met" : "MISSED",
          (quantile(ehr_s[q].wall_ms, 0.9) / quantile(base_s[q].wall_ms, 0.9) - 1) * 100);
    }
  }
  std::printf("\ntarget %s\n", all_met ? "met" : "missed");
  return 0;
}

// --- 9. main ------------------------------------------------------------------------

constexpr const char* kUsage =
    "usage: ehr_lookup_bench --ehr PATH [--patients N] [--observations M] [--runs K]\n"
    "                        [--repeat R] [--dir DIR] [--sqlite3 PATH] [--baseline-ehr PATH]\n"
    "                        [--build-only]\n";

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--build-only") {
      o.build_only = true;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    std::string v = argv[++i];
    auto number = [&](std::uint64_t lo, std::uint64_t hi) -> std::optional<std::uint64_t> {
      char* end = nullptr;
      errno = 0;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n < lo || n > hi) {
        return std::nullopt;
      }
      return n;
    };
    if (arg == "--patients") {
      auto n = number(1, 100000000);
      if (!n) return std::nullopt;
      o.patients = *n;
    } else if (arg == "--observations") {
      auto n = number(0, 1000000000);
      if (!n) return std::nullopt;
      o.observations = *n;
    } else if (arg == "--runs") {
      auto n = number(1, 10000);
      if (!n) return std::nullopt;
      o.runs = static_cast<int>(*n);
    } else if (arg == "--repeat") {
      auto n = number(1, 1000);
      if (!n) return std::nullopt;
      o.repeat = static_cast<int>(*n);
    } else if (arg == "--dir") {
      o.dir = v;
    } else if (arg == "--ehr") {
      o.ehr = v;
    } else if (arg == "--sqlite3") {
      o.sqlite3 = v;
    } else if (arg == "--baseline-ehr") {
      o.baseline_ehr = v;
    } else {
      return std::nullopt;
    }
  }
  if (o.ehr.empty() && !o.build_only) return std::nullopt;
  return o;
}

}  // namespace
}  // namespace ehr::bench

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--spawner") == 0) return ehr::bench::spawner_main();
  std::optional<ehr::bench::Options> opt = ehr::bench::parse_options(argc, argv);
  if (!opt) {
    std::fputs(ehr::bench::kUsage, stderr);
    return 64;
  }
  try {
    return ehr::bench::run_benchmark(*opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ehr_lookup_bench: %s\n", e.what());
    return 1;
  }
}
