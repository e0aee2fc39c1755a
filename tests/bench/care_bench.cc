// ehr_care_bench: the due-list benchmark behind `scripts/bench care`.
//
// 1. Builds (once; cached by size) an ehr database of N patients (default
//    100000) with what a primary-care population carries for the preventive
//    rules, written through core (create_resources, batches of about 5000):
//    per patient, born 1930-2021 at random, half women: two blood-pressure
//    panels and two other vitals of the last 4 years, one or two influenza
//    doses of the last 3 seasons, for half of those 45 and older a
//    colonoscopy of the last 15 years, for half of the women 40 and older a
//    mammogram of the last 4 years, for one in ten a diabetes condition with
//    two HbA1c results, for half of those 65 and older a PCV20 dose: about
//    9 resources a patient. The bench user ("bench": admin and physician) is
//    on every patient's care team. The database lives in
//    DIR/care-<N>p-v<generator version>/ (default DIR: build/bench); a rerun
//    with the same size reuses it.
// 2. Times `ehr care due --as-of 2026-06-01 --format ndjson` (stdout to a
//    file) as a whole process, --repeat times after one warm-up run: wall
//    time, CPU time and peak RSS (wait4), and the rows and exit code.
// 3. Prints the median, min and max wall time against the target (10 s).
//
// Usage: ehr_care_bench --ehr PATH [--patients N] [--repeat R] [--dir DIR]
// Exits 0 after the report (whatever the time), 64 on a usage error, 1 when
// building or a run fails.

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sqlite3.h>

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
using Clock = std::chrono::steady_clock;

constexpr int kGeneratorVersion = 1;
constexpr std::size_t kBatchResources = 5000;
constexpr const char* kUser = "bench";
constexpr double kTargetSeconds = 10.0;

using ehr::testing::mix;
using ehr::testing::Rng;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string date(int y, int m, int d) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return buf;
}

// A random date between years y0 and y1 (inclusive; days 1-28).
std::string random_date(Rng& r, int y0, int y1) {
  return date(y0 + static_cast<int>(r.below(static_cast<std::uint64_t>(y1 - y0 + 1))),
              1 + static_cast<int>(r.below(12)), 1 + static_cast<int>(r.below(28)));
}

Json coding(const char* system, const std::string& code) {
  Json c = Json::object();
  c.set("system", Json::string(system));
  c.set("code", Json::string(code));
  Json list = Json::array();
  list.push_back(std::move(c));
  Json cc = Json::object();
  cc.set("coding", std::move(list));
  return cc;
}

Json patient_ref(const std::string& patient) {
  Json r = Json::object();
  r.set("reference", Json::string("Patient/" + patient));
  return r;
}

Json observation(const std::string& patient, const char* loinc, const std::string& when, const char* value,
                 const char* unit) {
  Json o = Json::object();
  o.set("resourceType", Json::string("Observation"));
  o.set("status", Json::string("final"));
  o.set("code", coding("http://loinc.org", loinc));
  o.set("subject", patient_ref(patient));
  o.set("effectiveDateTime", Json::string(when));
  Json q = Json::object();
  q.set("value", *Json::number_from_text(value));
  q.set("unit", Json::string(unit));
  q.set("system", Json::string("http://unitsofmeasure.org"));
  q.set("code", Json::string(unit));
  o.set("valueQuantity", std::move(q));
  return o;
}

Json event(const char* type, const char* system, const char* code, const std::string& patient,
           const std::string& when) {
  Json e = Json::object();
  e.set("resourceType", Json::string(type));
  e.set("status", Json::string("completed"));
  e.set(std::string(type) == "Immunization" ? "vaccineCode" : "code", coding(system, code));
  e.set(std::string(type) == "Immunization" ? "patient" : "subject", patient_ref(patient));
  e.set(std::string(type) == "Immunization" ? "occurrenceDateTime" : "performedDateTime", Json::string(when));
  return e;
}

// The resources of patient i (the Patient first).
std::vector<Json> patient_resources(std::uint64_t i, std::string& id) {
  Rng r(i * 7919 + 17);
  char idbuf[40];
  std::snprintf(idbuf, sizeof idbuf, "care-bench-%08llu", static_cast<unsigned long long>(i));
  id = idbuf;
  int birth_year = 1930 + static_cast<int>(r.below(92));
  bool female = i % 2 == 0;
  int age = 2026 - birth_year;
  std::vector<Json> out;
  Json p = Json::object();
  p.set("resourceType", Json::string("Patient"));
  p.set("id", Json::string(id));
  Json name = Json::object();
  name.set("family", Json::string("Family" + std::to_string(r.below(5000))));
  Json given = Json::array();
  given.push_back(Json::string(female ? "Anna" : "Ben"));
  name.set("given", std::move(given));
  Json names = Json::array();
  names.push_back(std::move(name));
  p.set("name", std::move(names));
  p.set("gender", Json::string(female ? "female" : "male"));
  p.set("birthDate", Json::string(date(birth_year, 1 + static_cast<int>(r.below(12)), 1 + static_cast<int>(r.below(28)))));
  out.push_back(std::move(p));
  for (int k = 0; k < 2; ++k) {
    Json bp = observation(id, "85354-9", random_date(r, 2022, 2026), "120", "mm[Hg]");
    out.push_back(std::move(bp));
  }
  out.push_back(observation(id, "29463-7", random_date(r, 2022, 2026), "72.5", "kg"));
  out.push_back(observation(id, "8302-2", random_date(r, 2022, 2026), "170", "cm"));
  int doses = 1 + static_cast<int>(r.below(2));
  for (int k = 0; k < doses; ++k)
    out.push_back(event("Immunization", "http://hl7.org/fhir/sid/cvx", "140", id, random_date(r, 2023, 2026)));
  if (age >= 45 && r.below(2) == 0)
    out.push_back(event("Procedure", "http://snomed.info/sct", "73761001", id, random_date(r, 2011, 2026)));
  if (female && age >= 40 && r.below(2) == 0)
    out.push_back(event("Procedure", "http://snomed.info/sct", "71651007", id, random_date(r, 2022, 2026)));
  if (r.below(10) == 0) {
    Json c = Json::object();
    c.set("resourceType", Json::string("Condition"));
    c.set("clinicalStatus", coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"));
    c.set("verificationStatus", coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"));
    c.set("code", coding("http://snomed.info/sct", "44054006"));
    c.set("subject", patient_ref(id));
    c.set("onsetDateTime", Json::string(random_date(r, 2000, 2020)));
    out.push_back(std::move(c));
    for (int k = 0; k < 2; ++k)
      out.push_back(observation(id, "4548-4", random_date(r, 2025, 2026), r.below(2) ? "6.8" : "7.4", "%"));
  }
  if (age >= 65 && r.below(2) == 0)
    out.push_back(event("Immunization", "http://hl7.org/fhir/sid/cvx", "216", id, random_date(r, 2015, 2026)));
  return out;
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(std::string(sql) + ": " + m);
  }
}

void build(const std::string& dir, std::uint64_t patients) {
  const std::string db = dir + "/ehr.db", key_file = dir + "/bench.key";
  Secret key = new_key_file_bytes();
  {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text;
    for (std::uint8_t b : key.bytes()) {
      text += kHex[b >> 4];
      text += kHex[b & 15];
    }
    text += "\n";
    int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::close(fd) != 0)
      throw std::runtime_error(key_file + ": cannot write");
  }
  Result<Secret> secret = Secret::key_file(key.bytes());
  if (!secret.ok()) throw std::runtime_error(secret.error().message());
  SessionOptions so;
  so.user = kUser;
  so.first_user_roles = {"physician"};
  Result<Session> s = Session::create(db, SlotOptions{kUser, "bench key file", KdfParams::moderate()}, *secret, so);
  if (!s.ok()) throw std::runtime_error(db + ": " + s.error().message());
  std::optional<Session> session(std::move(*s));
  sqlite3* h = StoreInternal::connection(session->store()).handle();
  // A batch is authorized before any of it is written: its records need the
  // care-team rows of its new patients first (the rows create writes).
  sqlite3_stmt* team = nullptr;
  if (sqlite3_prepare_v2(h,
                         "INSERT INTO care_team(patient, user, role, added, added_by) "
                         "VALUES(?1, ?2, 'creator', '2026-01-01T00:00:00.000Z', ?2)",
                         -1, &team, nullptr) != SQLITE_OK)
    throw std::runtime_error("prepare care_team insert");
  std::vector<Json> batch;
  std::vector<std::string> batch_patients;
  std::uint64_t resources = 0;
  auto t0 = Clock::now();
  auto flush = [&] {
    if (batch.empty()) return;
    exec(h, "BEGIN IMMEDIATE");
    for (const auto& id : batch_patients) {
      sqlite3_bind_text(team, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(team, 2, kUser, -1, SQLITE_STATIC);
      if (sqlite3_step(team) != SQLITE_DONE) throw std::runtime_error("care_team insert");
      sqlite3_reset(team);
    }
    exec(h, "COMMIT");
    resources += batch.size();
    auto stored = create_resources(*session, std::move(batch));
    if (!stored.ok()) throw std::runtime_error("create_resources: " + stored.error().message());
    batch.clear();
    batch_patients.clear();
  };
  for (std::uint64_t i = 0; i < patients; ++i) {
    std::string id;
    for (auto& r : patient_resources(i, id)) batch.push_back(std::move(r));
    batch_patients.push_back(id);
    if (batch.size() >= kBatchResources) flush();
    if (i % 10000 == 9999)
      std::fprintf(stderr, "care bench: %llu patients, %llu resources after %.0f s\n",
                   static_cast<unsigned long long>(i + 1), static_cast<unsigned long long>(resources), since(t0));
  }
  flush();
  sqlite3_finalize(team);
  session.reset();
  std::ofstream(dir + "/manifest.txt") << "patients=" << patients << "\nresources=" << resources
                                       << "\nbuild_seconds=" << since(t0) << "\n";
}

struct Run {
  double wall = 0, cpu = 0;
  long rss_kb = 0;
  int code = -1;
  std::size_t rows = 0;
};

Run run_once(const std::vector<std::string>& args, const std::string& out_file) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot run " + args[0]);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  struct rusage ru {};
  if (wait4(pid, &status, 0, &ru) < 0) throw std::runtime_error("wait4");
  Run r;
  r.wall = since(t0);
  r.cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
          static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  r.rss_kb = ru.ru_maxrss;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out_file);
  std::string line;
  while (std::getline(in, line)) ++r.rows;
  return r;
}

int usage() {
  std::fprintf(stderr, "usage: ehr_care_bench --ehr PATH [--patients N] [--repeat R] [--dir DIR]\n");
  return 64;
}

int main_impl(int argc, char** argv) {
  std::string ehr, dir = "build/bench";
  std::uint64_t patients = 100000;
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--ehr") ehr = v;
    else if (a == "--dir") dir = v;
    else if (a == "--patients") patients = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--repeat") repeat = std::atoi(v.c_str());
    else return usage();
  }
  if (ehr.empty() || patients == 0 || repeat < 1) return usage();
  std::string data = dir + "/care-" + std::to_string(patients) + "p-v" + std::to_string(kGeneratorVersion);
  if (!fs::exists(data + "/manifest.txt")) {
    fs::create_directories(dir);
    std::string tmp = data + ".building";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    std::fprintf(stderr, "care bench: building %llu patients in %s\n", static_cast<unsigned long long>(patients),
                 tmp.c_str());
    build(tmp, patients);
    fs::remove_all(data);
    fs::rename(tmp, data);
  }
  {
    std::ifstream m(data + "/manifest.txt");
    std::string line;
    while (std::getline(m, line)) std::printf("data: %s\n", line.c_str());
  }
  std::vector<std::string> args = {ehr,       "--db",     data + "/ehr.db", "--user",   kUser,
                                   "--key-file", data + "/bench.key", "care", "due", "--as-of",
                                   "2026-06-01", "--format", "ndjson"};
  std::string out = data + "/due.ndjson";
  Run warm = run_once(args, out);
  if (warm.code != 3 && warm.code != 0) throw std::runtime_error("ehr care due exited " + std::to_string(warm.code));
  std::vector<Run> runs;
  for (int i = 0; i < repeat; ++i) runs.push_back(run_once(args, out));
  std::vector<double> walls;
  for (const auto& r : runs) walls.push_back(r.wall);
  std::sort(walls.begin(), walls.end());
  double median = walls[walls.size() / 2];
  double cpu = 0;
  long rss = 0;
  for (const auto& r : runs) {
    cpu += r.cpu / static_cast<double>(runs.size());
    rss = std::max(rss, r.rss_kb);
  }
  std::printf("ehr care due --as-of 2026-06-01 --format ndjson over %llu patients: %zu rows, exit %d\n",
              static_cast<unsigned long long>(patients), runs.front().rows, runs.front().code);
  std::printf("wall median %.2f s (min %.2f, max %.2f; %d runs after a warm-up), cpu mean %.2f s, peak rss %ld MiB\n",
              median, walls.front(), walls.back(), repeat, cpu, rss / 1024);
  std::printf("target < %.0f s: %s\n", kTargetSeconds, median < kTargetSeconds ? "met" : "MISSED");
  return 0;
}

}  // namespace
}  // namespace ehr::bench

int main(int argc, char** argv) {
  try {
    return ehr::bench::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "care bench: %s\n", e.what());
    return 1;
  }
}
