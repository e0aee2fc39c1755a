// ehr_audit_bench: the `audit verify` part of `scripts/bench audit`.
//
//   ehr_audit_bench --build --dir DIR [--entries N]
//       creates DIR/audit.ehr (key file DIR/bench.key, user "bench": admin)
//       holding N audit entries (default 1,000,000) like those record show
//       writes (a patient id, Patient/<id>/$everything, a count), appended
//       through core's audit writer in transactions of 10,000, and prints the
//       append rate. Reuses a database already holding at least N entries.
//   ehr_audit_bench --verify --dir DIR --ehr PATH [--repeat R]
//       runs `ehr audit verify` on it R times (default 5) as whole processes
//       and prints the median, min and max wall time and the peak RSS against
//       the target (2 s). This phase is its own small process, so a child's
//       ru_maxrss is its own.
// Exits 0 after the report (whatever the figures), 64 on a usage error, 1
// when a step fails.

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "audit_log.h"
#include "crypto_sodium.h"
#include "ehr/session.h"
#include "ehr/store.h"
#include "session_impl.h"

extern char** environ;

namespace ehr::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kUser = "bench";
constexpr double kTargetSeconds = 2.0;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string key_hex(std::uint64_t seed) {
  std::string out;
  for (int i = 0; i < 32; ++i) out += fmt::format("{:02x}", static_cast<unsigned>((seed * (i + 7) * 2654435761u) >> 8) & 0xff);
  return out;
}

Secret key_secret(const std::string& hex) {
  std::vector<std::uint8_t> raw;
  if (!crypto::from_hex(hex, raw)) throw std::runtime_error("bench key is not hex");
  return Secret::key_file(raw).value();
}

int build(const std::string& dir, std::int64_t entries) {
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/audit.ehr", key_path = dir + "/bench.key";
  const std::string hex = key_hex(20241125);
  if (!std::filesystem::exists(key_path)) std::ofstream(key_path) << hex << "\n";
  std::filesystem::permissions(key_path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  SessionOptions o;
  o.user = kUser;
  Result<Session> session = std::filesystem::exists(db)
                                ? Session::open(db, key_secret(hex), o)
                                : Session::create(db, {kUser, "", KdfParams::moderate()}, key_secret(hex), o);
  if (!session.ok()) {
    std::fprintf(stderr, "ehr_audit_bench: %s\n", session.error().message().c_str());
    return 1;
  }
  SessionImpl& s = SessionImpl::of(*session);
  auto have = s.db().query_text("SELECT count(*) FROM audit");
  std::int64_t n = have.ok() ? std::stoll(*have) : 0;
  if (n >= entries) {
    std::printf("audit.ehr holds %lld entries already (delete %s to rebuild)\n", static_cast<long long>(n),
                dir.c_str());
    return 0;
  }
  auto t0 = Clock::now();
  std::int64_t added = 0;
  while (n + added < entries) {
    std::int64_t batch = std::min<std::int64_t>(10000, entries - n - added);
    Status st = s.transaction([&]() -> Status {
      for (std::int64_t i = 0; i < batch; ++i) {
        std::uint64_t k = static_cast<std::uint64_t>(n + added + i);
        std::string patient = fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", (k * 2654435761u) & 0xffffffff,
                                          k & 0xffff, (k >> 4) & 0xfff, (k >> 8) & 0xfff, k * 40503u);
        EHR_TRY(write_audit(s, {"read", "ok", patient, "Patient/" + patient + "/$everything", "",
                                static_cast<std::int64_t>(8 + k % 20), "Patient"}));
      }
      return {};
    });
    if (!st.ok()) {
      std::fprintf(stderr, "ehr_audit_bench: %s\n", st.error().message().c_str());
      return 1;
    }
    added += batch;
  }
  double secs = since(t0);
  std::printf("appended %lld audit entries in %.1f s (%.0f entries/s, chained), %lld in all\n",
              static_cast<long long>(added), secs, static_cast<double>(added) / secs,
              static_cast<long long>(n + added));
  return 0;
}

struct Run {
  double wall_s = 0;
  long maxrss_kib = 0;
  int status = 0;
};

Run run_child(const std::vector<std::string>& argv, const std::string& out_path) {
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  Run r;
  auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) {
    r.status = -1;
    posix_spawn_file_actions_destroy(&fa);
    return r;
  }
  posix_spawn_file_actions_destroy(&fa);
  rusage ru{};
  while (::wait4(pid, &r.status, 0, &ru) < 0 && errno == EINTR) {
  }
  r.wall_s = since(t0);
  r.maxrss_kib = ru.ru_maxrss;
  return r;
}

int verify(const std::string& dir, const std::string& ehr, int repeat) {
  const std::string db = dir + "/audit.ehr", key = dir + "/bench.key", out = dir + "/verify.out";
  std::vector<Run> runs;
  for (int i = 0; i < repeat; ++i) {
    Run r = run_child({ehr, "--db", db, "--user", kUser, "--key-file", key, "-q", "--format", "json", "audit", "verify"},
                      out);
    if (r.status != 0) {
      std::fprintf(stderr, "ehr_audit_bench: ehr audit verify failed (status %d); see %s\n", r.status, out.c_str());
      return 1;
    }
    runs.push_back(r);
  }
  std::ifstream in(out);
  std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string entries = "?";
  if (auto at = report.find("\"entries\": "); at != std::string::npos)
    entries = report.substr(at + 11, report.find_first_of(",\n", at + 11) - at - 11);
  std::vector<double> walls;
  long peak = 0;
  for (const auto& r : runs) {
    walls.push_back(r.wall_s);
    peak = std::max(peak, r.maxrss_kib);
  }
  std::sort(walls.begin(), walls.end());
  double median = walls[walls.size() / 2];
  std::printf("ehr audit verify of %s entries, %d runs: median %.2f s, min %.2f s, max %.2f s, peak RSS %.1f MiB\n",
              entries.c_str(), repeat, median, walls.front(), walls.back(), static_cast<double>(peak) / 1024.0);
  std::printf("target: under %.1f s: %s\n", kTargetSeconds, median < kTargetSeconds ? "met" : "MISSED");
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: ehr_audit_bench --build --dir DIR [--entries N]\n"
               "       ehr_audit_bench --verify --dir DIR --ehr PATH [--repeat R]\n");
  return 64;
}

}  // namespace
}  // namespace ehr::bench

int main(int argc, char** argv) {
  using namespace ehr::bench;
  std::string mode, dir, ehr_path;
  std::int64_t entries = 1000000;
  int repeat = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--build" || a == "--verify") mode = a;
    else if (a == "--dir") dir = value();
    else if (a == "--ehr") ehr_path = value();
    else if (a == "--entries") entries = std::atoll(value().c_str());
    else if (a == "--repeat") repeat = std::atoi(value().c_str());
    else return usage();
  }
  if (dir.empty() || entries <= 0 || repeat <= 0) return usage();
  if (mode == "--build") return build(dir, entries);
  if (mode == "--verify" && !ehr_path.empty()) return verify(dir, ehr_path, repeat);
  return usage();
}
