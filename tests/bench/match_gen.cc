// ehr_match_gen: the data of `scripts/bench match`: the labelled patients of
// tests/support/match_corpus.h as a Bulk Data export, with observations so
// the patients are a small part of the records, as in real exports.
//
// Writes to DIR:
//   Patient.ndjson      every Patient of the corpus for N base persons, in the
//                       corpus's order: facility A's records, the second
//                       records of about 30% of the persons (mostly facility
//                       B's, some a second registration at A), twins,
//                       juniors, spouses and namesakes (about 1.4 N lines)
//   Observation.ndjson  K body weights (LOINC 29463-7, valueQuantity in kg)
//                       per Patient, subject Patient/<id>, effectiveDateTime
//                       between the birth (or 2021) and 2026, in time order
// and to FILE (--truth; outside DIR, or ehr import of DIR would read it) the
// true duplicate pairs: "a<TAB>b" a line, two Patient ids of one person,
// a < b (byte order, as ehr patient duplicates orders a pair), sorted.
// Each file is written under a temporary name and renamed, so a failed run
// leaves no half-written file. The output depends only on (N, K, seed).
// Prints one line: "patients=P observations=O duplicate_pairs=D".
//
// Usage: ehr_match_gen --out DIR --truth FILE [--persons N] [--observations-per-patient K]
//                      [--seed S]
//   defaults: N = 100000, K = 5, S = match_corpus's default seed.
// Exits 0 on success, 64 on a usage error, 1 when writing fails.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ehr/json.h"
#include "support/match_corpus.h"
#include "../support/rng.h"

namespace {

namespace fs = std::filesystem;
using ehr::Json;

[[noreturn]] void die(const std::string& message, int code = 1) {
  std::fprintf(stderr, "ehr_match_gen: %s\n", message.c_str());
  std::exit(code);
}

constexpr const char* kUsage =
    "usage: ehr_match_gen --out DIR --truth FILE [--persons N] [--observations-per-patient K] "
    "[--seed S]\n";

using ehr::testing::mix;

std::uint64_t parse_count(std::string_view flag, const char* text, bool zero_ok) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (*text < '0' || *text > '9' || *end != '\0' || (v == 0 && !zero_ok) || v > 100000000ull)
    die(std::string(flag) + (zero_ok ? " needs a whole number" : " needs a positive whole number"),
        64);
  return v;
}

// A file written through a temporary name in 1 MiB pieces.
class Output {
 public:
  explicit Output(fs::path path)
      : path_(std::move(path)),
        tmp_(path_.parent_path() / ("." + path_.filename().string() + ".tmp")) {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (f_ == nullptr) die("cannot create " + tmp_.string());
  }
  std::string& buffer() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= (1u << 20)) flush();
  }
  void close() {
    flush();
    if (std::fclose(f_) != 0) die("cannot write " + tmp_.string());
    std::error_code ec;
    fs::rename(tmp_, path_, ec);
    if (ec) die("cannot rename " + tmp_.string() + ": " + ec.message());
  }

 private:
  void flush() {
    if (std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
      die("cannot write " + tmp_.string());
    buf_.clear();
  }
  fs::path path_, tmp_;
  std::FILE* f_ = nullptr;
  std::string buf_;
};

// Appends K body-weight Observations of patient `id` (born `birth`,
// YYYY-MM-DD) to `out`, drawn from a generator seeded by (seed, index).
void append_observations(std::string& out, const std::string& id, const std::string& birth, int k,
                         std::uint64_t seed, std::uint64_t index) {
  std::uint64_t s = mix(seed ^ 0x5745494748540000ull ^ (index * 0x9e3779b97f4a7c15ull));
  auto below = [&](int n) {
    return static_cast<int>((s = mix(s)) % static_cast<std::uint64_t>(n));
  };
  int born = birth.size() >= 4 ? std::atoi(birth.substr(0, 4).c_str()) : 1970;
  int first = std::max(born + 1, 2021);
  if (first > 2026) first = 2026;
  std::vector<std::string> dates;
  for (int i = 0; i < k; ++i) {
    char d[16];
    std::snprintf(d, sizeof d, "%04d-%02d-%02d", first + below(2026 - first + 1), 1 + below(12),
                  1 + below(28));
    dates.emplace_back(d);
  }
  std::sort(dates.begin(), dates.end());
  for (int i = 0; i < k; ++i) {
    int age = std::atoi(dates[static_cast<size_t>(i)].substr(0, 4).c_str()) - born;
    // Tenths of a kilogram: children grow, adults weigh 50 to 110 kg.
    int tenths = age < 18 ? 30 + age * 35 + below(60) : 500 + below(600);
    char value[32];
    std::snprintf(value, sizeof value, "%d.%d", tenths / 10, tenths % 10);
    out += "{\"resourceType\":\"Observation\",\"id\":\"" + id + "-w" + std::to_string(i + 1) +
           "\",\"status\":\"final\",\"category\":[{\"coding\":[{\"system\":"
           "\"http://terminology.hl7.org/CodeSystem/"
           "observation-category\",\"code\":\"vital-signs\"}]}],"
           "\"code\":{\"coding\":[{\"system\":\"http://"
           "loinc.org\",\"code\":\"29463-7\",\"display\":\"Body "
           "weight\"}]},\"subject\":{\"reference\":\"Patient/" +
           id + "\"},\"effectiveDateTime\":\"" + dates[static_cast<size_t>(i)] +
           "\",\"valueQuantity\":{\"value\":" + value +
           ",\"unit\":\"kg\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"kg\"}}\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, truth_file;
  ehr::testing::MatchCorpusOptions o;
  o.persons = 100000;
  int per_patient = 5;
  for (int a = 1; a < argc; ++a) {
    std::string_view flag = argv[a];
    if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a + 1 >= argc) die(std::string(flag) + " needs a value", 64);
    const char* value = argv[++a];
    if (flag == "--out")
      out = value;
    else if (flag == "--truth")
      truth_file = value;
    else if (flag == "--persons")
      o.persons = static_cast<int>(parse_count(flag, value, false));
    else if (flag == "--observations-per-patient")
      per_patient = static_cast<int>(parse_count(flag, value, true));
    else if (flag == "--seed")
      o.seed = parse_count(flag, value, true);
    else
      die("unknown option " + std::string(flag), 64);
  }
  if (out.empty() || truth_file.empty()) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) die("cannot create " + out + ": " + ec.message());

  Output patients(fs::path(out) / "Patient.ndjson");
  Output observations(fs::path(out) / "Observation.ndjson");
  // A second record directly follows its person's first (match_corpus.h).
  std::vector<std::pair<std::string, std::string>> pairs;
  int last_person = -1;
  std::string last_id;
  std::uint64_t n_patients = 0, n_observations = 0;
  ehr::testing::generate_match_corpus(o, [&](ehr::testing::CorpusRecord&& rec) {
    const Json* idj = rec.patient.find("id");
    const Json* bd = rec.patient.find("birthDate");
    std::string id = idj != nullptr && idj->is_string() ? idj->text() : "";
    std::string birth = bd != nullptr && bd->is_string() ? bd->text() : "";
    if (id.empty()) die("a corpus Patient without an id");
    patients.buffer() += ehr::to_json(rec.patient);
    patients.buffer() += '\n';
    patients.maybe_flush();
    append_observations(observations.buffer(), id, birth, per_patient, o.seed, n_patients);
    observations.maybe_flush();
    ++n_patients;
    n_observations += static_cast<std::uint64_t>(per_patient);
    if (rec.duplicate) {
      if (rec.person != last_person)
        die("the second record " + id + " does not follow its person's first");
      pairs.push_back(last_id < id ? std::make_pair(last_id, id) : std::make_pair(id, last_id));
    }
    last_person = rec.person;
    last_id = id;
  });
  patients.close();
  observations.close();

  std::sort(pairs.begin(), pairs.end());
  Output truth(truth_file);
  for (const auto& [a, b] : pairs) truth.buffer() += a + "\t" + b + "\n";
  truth.close();
  std::printf("patients=%llu observations=%llu duplicate_pairs=%zu\n",
              static_cast<unsigned long long>(n_patients),
              static_cast<unsigned long long>(n_observations), pairs.size());
  return 0;
}
