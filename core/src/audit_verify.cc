// Verification of the audit chain and signed checkpoints (ehr/audit.h).
#include <fmt/format.h>

#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include "access.h"
#include "audit_chain.h"
#include "audit_log.h"
#include "crypto_sodium.h"
#include "ehr/audit.h"
#include "session_impl.h"

namespace ehr {

namespace {

constexpr std::string_view kMarker = "ehr-audit-checkpoint v1";

// The checkpoint's signed text: its line up to (not including) " sig=".
std::string signed_text(const Checkpoint& c) {
  return fmt::format("{} trail={} seq={} head={} time={} key={}", kMarker, c.trail_id, c.seq, c.head,
                     c.time, c.public_key);
}

bool is_hex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char ch : s)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  return true;
}

std::vector<std::uint8_t> bytes_of_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  (void)crypto::from_hex(hex, out);
  return out;
}

Result<crypto::SignKeys> keys_of(const Secret& seed) {
  if (seed.bytes().size() != crypto::kSignPublicBytes)
    return Error::invalid_argument("a signing key must hold exactly 32 bytes (make one with 'ehr key new')");
  return crypto::sign_keys_from_seed(seed.bytes());
}

// One audit row as the scan hands it to the chain: its sequence, its stored
// chain hash and (in the batch's bytes) its canonical encoding.
struct ScannedEntry {
  std::int64_t seq = 0;
  std::size_t offset = 0, length = 0;
  bool has_hash = false;  // a stored hash of the right size
  ChainHash stored{};
};

struct ScanBatch {
  std::string encoded;  // the entries' encodings, back to back
  std::vector<ScannedEntry> entries;
  void clear() {  // keeps the buffers for the next batch
    encoded.clear();
    entries.clear();
  }
};

bool g_two_threads = true;  // set_verify_on_two_threads_for_testing

constexpr std::size_t kBatchEntries = 1024;
constexpr std::size_t kBatchesInFlight = 2;

// Batches from the scan to the chain, and emptied ones back for reuse (a
// fresh half-megabyte buffer per batch costs page faults).
class BatchPipe {
 public:
  // Blocks while kBatchesInFlight batches wait.
  void push(ScanBatch b) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return full_.size() < kBatchesInFlight; });
    full_.push_back(std::move(b));
    cv_.notify_all();
  }
  // An emptied batch when one is back, else a new one.
  ScanBatch take_empty() {
    std::lock_guard lock(mu_);
    if (empty_.empty()) return {};
    ScanBatch b = std::move(empty_.back());
    empty_.pop_back();
    return b;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // The next batch; false once closed and drained.
  bool pop(ScanBatch& out) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !full_.empty() || closed_; });
    if (full_.empty()) return false;
    out = std::move(full_.front());
    full_.pop_front();
    cv_.notify_all();
    return true;
  }
  void give_back(ScanBatch b) {
    b.clear();
    std::lock_guard lock(mu_);
    empty_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ScanBatch> full_, empty_;
  bool closed_ = false;
};

// Reads the trail in sequence order and calls check(entry, encoding) for
// each row, in that order, on a second thread: the reading (SQLite, page
// decryption) and the hashing overlap, which on two cores takes a million
// entries from 2.3 s to 1.5 s (`scripts/bench audit`). `check` runs on that
// thread alone (or on this one when no thread can be started), and has
// returned for every row when this returns.
// Errors: those of the store (the rows before the error were checked).
template <typename Check>
Status scan_trail(store::Connection& db, Check& check) {
  auto st = db.prepare(fmt::format("SELECT {} FROM audit ORDER BY seq", kAuditColumns));
  if (!st.ok()) return st.error();
  BatchPipe pipe;
  auto check_batch = [&](const ScanBatch& b) {
    for (const ScannedEntry& e : b.entries) check(e, std::string_view(b.encoded).substr(e.offset, e.length));
  };
  // Without a second thread (the process may not start one), this one
  // checks each batch as it fills.
  std::optional<std::thread> chain;
  try {
    if (g_two_threads) chain.emplace([&] {
      ScanBatch b;
      while (pipe.pop(b)) {
        check_batch(b);
        pipe.give_back(std::move(b));
      }
    });
  } catch (const std::system_error&) {
  }
  auto hand_over = [&](ScanBatch& b) {
    if (chain) {
      pipe.push(std::move(b));
      b = pipe.take_empty();
    } else {
      check_batch(b);
      b.clear();
    }
  };
  Status status;
  ScanBatch batch;
  // Integer columns as decimal text, as SQLite's text conversion gives them
  // (which would allocate a copy in the row for each).
  char digits[3][24];
  auto decimal = [&](int column, char* buf) {
    std::optional<std::int64_t> v = st->column_integer(column);
    if (!v) return st->column_view(column);
    char* end = std::to_chars(buf, buf + sizeof digits[0], *v).ptr;
    return std::string_view(buf, static_cast<std::size_t>(end - buf));
  };
  for (;;) {
    auto row = st->step();
    if (!row.ok()) {
      status = row.error();
      break;
    }
    if (!*row) break;
    std::array<std::string_view, kEntryFields> fields;
    for (std::size_t c = 0; c < kEntryFields; ++c) {
      const int column = static_cast<int>(c);
      fields[c] = c == 0    ? decimal(column, digits[0])
                  : c == 10 ? decimal(column, digits[1])
                  : c == 12 ? decimal(column, digits[2])
                            : st->column_view(column);
    }
    ScannedEntry e;
    e.seq = st->column_int(0);
    std::span<const std::uint8_t> stored = st->column_bytes(15);
    e.has_hash = stored.size() == e.stored.size();
    if (e.has_hash) std::copy(stored.begin(), stored.end(), e.stored.begin());
    e.offset = batch.encoded.size();
    encode_entry_fields(batch.encoded, fields);
    e.length = batch.encoded.size() - e.offset;
    batch.entries.push_back(e);
    if (batch.entries.size() == kBatchEntries) hand_over(batch);
  }
  if (!batch.entries.empty()) hand_over(batch);
  pipe.close();
  if (chain) chain->join();
  return status;
}

}  // namespace

void set_verify_on_two_threads_for_testing(bool two) { g_two_threads = two; }

std::string Checkpoint::line() const { return signed_text(*this) + " sig=" + signature; }

Result<Checkpoint> parse_checkpoint(std::string_view line) {
  size_t at = line.find(kMarker);
  if (at == std::string_view::npos)
    return Error::invalid_data("no ehr-audit-checkpoint v1 statement in the line");
  std::string_view rest = line.substr(at + kMarker.size());
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' ')) rest.remove_suffix(1);
  Checkpoint c;
  const char* const kFields[] = {"trail", "seq", "head", "time", "key", "sig"};
  for (const char* name : kFields) {
    std::string prefix = std::string(" ") + name + "=";
    if (rest.substr(0, prefix.size()) != prefix)
      return Error::invalid_data(fmt::format("checkpoint field {}: missing (fields in order: trail, seq, head, "
                                             "time, key, sig)", name));
    rest.remove_prefix(prefix.size());
    size_t end = rest.find(' ');
    std::string value(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    std::string_view n = name;
    if (n == "trail") {
      if (!is_hex(value, 32)) return Error::invalid_data("checkpoint field trail: not 32 hex digits");
      c.trail_id = value;
    } else if (n == "seq") {
      if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string::npos)
        return Error::invalid_data("checkpoint field seq: not a sequence number");
      c.seq = std::stoll(value);
    } else if (n == "head") {
      if (!is_hex(value, 64)) return Error::invalid_data("checkpoint field head: not 64 hex digits");
      c.head = value;
    } else if (n == "time") {
      if (value.size() != 24 || value.back() != 'Z' || value[10] != 'T')
        return Error::invalid_data("checkpoint field time: not a UTC instant YYYY-MM-DDTHH:MM:SS.mmmZ");
      c.time = value;
    } else if (n == "key") {
      if (!is_hex(value, 64)) return Error::invalid_data("checkpoint field key: not 64 hex digits");
      c.public_key = value;
    } else {
      if (!is_hex(value, 128)) return Error::invalid_data("checkpoint field sig: not 128 hex digits");
      c.signature = value;
    }
  }
  if (!rest.empty()) return Error::invalid_data("checkpoint: unexpected text after sig");
  return c;
}

bool checkpoint_signature_ok(const Checkpoint& c) {
  std::string text = signed_text(c);
  return crypto::sign_verify(bytes_of_hex(c.public_key),
                             crypto::Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                             bytes_of_hex(c.signature));
}

Result<std::string> signing_public_key(const Secret& seed) {
  auto keys = keys_of(seed);
  if (!keys.ok()) return keys.error();
  return crypto::to_hex(keys->public_key);
}

Result<Checkpoint> make_checkpoint(Session& session, const Secret& seed) {
  SessionImpl& s = SessionImpl::of(session);
  auto keys = keys_of(seed);
  if (!keys.ok()) return keys.error();
  auto gate = authorize(s, Action::kAuditRead, Target{"AuditEvent", "", "", ""});
  if (!gate.ok()) return gate.error();
  Checkpoint c;
  c.public_key = crypto::to_hex(keys->public_key);
  Status st = s.transaction([&]() -> Status {
    EHR_TRY(write_audit(s, {"audit-checkpoint", "ok", "", "", "", 0, "signed by key " + c.public_key}));
    if (!s.chain().head) return Error::internal("the checkpoint entry was not written");
    const auto& head = *s.chain().head;  // set by the entry just written
    c.trail_id = s.chain().trail_id;
    c.seq = head.first;
    c.head = crypto::to_hex(head.second);
    c.time = s.now();
    return {};
  });
  if (!st.ok()) return st.error();
  std::string text = signed_text(c);
  c.signature = crypto::to_hex(crypto::sign_detached(
      *keys, crypto::Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
  return c;
}

Result<VerifyReport> verify_audit(Session& session, const std::vector<Checkpoint>& checkpoints,
                                  const std::string& require_key) {
  SessionImpl& s = SessionImpl::of(session);
  auto gate = authorize(s, Action::kAuditRead, Target{"AuditEvent", "", "", ""});
  if (!gate.ok()) return gate.error();
  VerifyReport report;
  const AuditChain& chain = s.chain();
  report.trail_id = chain.trail_id;
  // The recomputed hash at each sequence a checkpoint names: empty until
  // the pass reaches that entry, so still empty after it when the entry is gone.
  std::map<std::int64_t, std::optional<ChainHash>> wanted;
  for (const auto& c : checkpoints) wanted.emplace(c.seq, std::nullopt);
  // The problem of the lowest sequence goes first.
  auto bad = [&](std::int64_t seq, std::string problem) {
    if (!report.first_bad_seq || seq < *report.first_bad_seq) {
      report.first_bad_seq = seq;
      report.problems.insert(report.problems.begin(), std::move(problem));
      return;
    }
    report.problems.push_back(std::move(problem));
  };
  ChainHash computed = chain_genesis(chain);  // the head once the scan is done
  // The entries that started a break-the-glass grant ("grant N until T"):
  // seq, and user, patient and detail as the grant's row must match them.
  struct GrantEntry {
    std::int64_t seq;
    std::string key;
  };
  std::vector<GrantEntry> grant_entries;
  auto grant_key = [](std::string_view user, std::string_view patient, std::string_view detail) {
    return fmt::format("{}\n{}\n{}", user, patient, detail);
  };
  auto check_entry = [&, chain_broken = false, expected = std::int64_t{1}](const ScannedEntry& e,
                                                                         std::string_view encoded) mutable {
    const std::int64_t seq = e.seq;
    ++report.entries;
    if (!chain_broken && seq != expected) {
      chain_broken = true;
      bad(expected, seq < expected ? fmt::format("entry {} is out of order", seq)
                    : expected == 1 ? fmt::format("entry 1 is missing: the trail starts at entry {}", seq)
                                    : fmt::format("entry {} is missing: the trail goes from {} to {}",
                                                  expected, expected - 1, seq));
    }
    computed = chain_step_encoded(chain, computed, encoded);
    if (auto f = split_entry_fields(encoded);
        f && (*f)[kFieldAction] == "emergency" && (*f)[kFieldOutcome] == "ok" && (*f)[kFieldDetail].starts_with("grant ")) {
      grant_entries.push_back({seq, grant_key((*f)[kFieldUser], (*f)[kFieldPatients], (*f)[kFieldDetail])});
    }
    if (!chain_broken) {
      if (!e.has_hash) {
        chain_broken = true;
        bad(seq, fmt::format("entry {} has no chain hash", seq));
      } else if (e.stored != computed) {
        chain_broken = true;
        bad(seq, fmt::format("entry {} does not match its chain hash: edited, replaced or moved", seq));
      }
    }
    if (auto it = wanted.find(seq); it != wanted.end()) it->second = computed;
    report.last_seq = seq;
    expected = seq + 1;
  };
  EHR_TRY(scan_trail(s.db(), check_entry));
  report.head = crypto::to_hex(computed);
  for (const auto& c : checkpoints) {
    ++report.checkpoints_checked;
    std::string which = fmt::format("checkpoint seq={} time={}", c.seq, c.time);
    // A checkpoint that cannot be trusted says nothing about any entry:
    // its problem names none.
    if (!checkpoint_signature_ok(c)) {
      report.problems.push_back(which + ": its signature does not verify");
    } else if (!require_key.empty() && c.public_key != require_key) {
      report.problems.push_back(
          fmt::format("{}: signed by key {}, not the required {}", which, c.public_key, require_key));
    } else if (c.trail_id != chain.trail_id) {
      report.problems.push_back(
          fmt::format("{}: made for trail {}, not this database's {}", which, c.trail_id, chain.trail_id));
    } else if (!wanted[c.seq]) {
      // The first entry gone is the first bad one.
      if (c.seq > report.last_seq) {
        bad(report.last_seq + 1, fmt::format("{}: the trail ends at entry {}: entries {} to {} are gone (truncated)",
                                             which, report.last_seq, report.last_seq + 1, c.seq));
      } else {
        bad(c.seq, fmt::format("{}: entry {} is gone", which, c.seq));
      }
    } else if (crypto::to_hex(*wanted[c.seq]) != c.head) {
      bad(c.seq, fmt::format("{}: the trail up to entry {} differs from the one signed: history rewritten",
                             which, c.seq));
    }
  }
  // Each break-the-glass grant has its chained entry, whose keyed hash of
  // the reason (query_hash) matches the reason the grant row holds now: the
  // reason is kept out of the trail (it may be clinical), so without this a
  // changed reason would hide why the glass was broken. A grant of an older
  // ehr sealed nothing (query_hash "").
  auto grants = s.db().prepare(
      "SELECT g.id, g.reason, e.seq, coalesce(e.query_hash, '') FROM emergency g "
      "LEFT JOIN audit e ON e.action = 'emergency' AND e.outcome = 'ok' AND e.user = g.user "
      "AND e.patients = g.patient AND e.detail = 'grant ' || g.id || ' until ' || g.expires ORDER BY g.id");
  if (!grants.ok()) return grants.error();
  for (;;) {
    auto row = grants->step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    std::int64_t grant = grants->column_int(0);
    std::string seal = grants->column_text(3);
    if (grants->column_is_null(2)) {
      report.problems.push_back(
          fmt::format("emergency grant {} has no audit entry: added or changed outside ehr", grant));
    } else if (!seal.empty() && seal != emergency_reason_seal(chain, grants->column_text(1))) {
      std::int64_t seq = grants->column_int(2);
      bad(seq, fmt::format("entry {}: the reason of emergency grant {} is not the one sealed: changed outside ehr",
                           seq, grant));
    }
  }
  // And each such entry still has its grant: a grant deleted outside ehr
  // (an older copy of its pages written back) would leave the emergency
  // review list without it while the trail still says the glass was broken.
  if (!grant_entries.empty()) {
    std::set<std::string> held;
    auto rows = s.db().prepare(kGrantRowsSql);
    if (!rows.ok()) return rows.error();
    for (;;) {
      auto row = rows->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      held.insert(grant_key(rows->column_text(0), rows->column_text(1), rows->column_text(2)));
    }
    for (const auto& g : grant_entries) {
      if (held.contains(g.key)) continue;
      std::string_view detail = std::string_view(g.key).substr(g.key.rfind('\n') + 1);
      bad(g.seq, fmt::format("entry {}: the emergency grant it started ({}) is gone from the emergency table: "
                             "deleted outside ehr",
                             g.seq, detail));
    }
  }
  // The first bad entry is the lowest sequence any problem names.
  std::string detail = report.ok()
                           ? fmt::format("{} entries intact, {} checkpoints", report.entries,
                                         report.checkpoints_checked)
                           : fmt::format("{} entries, first bad entry {}, {} checkpoints", report.entries,
                                         report.first_bad_seq ? std::to_string(*report.first_bad_seq) : "none",
                                         report.checkpoints_checked);
  Status logged = write_audit(s, {"audit-verify", report.ok() ? "ok" : "error", "", "", "", report.entries, detail});
  // A damaged head can refuse the entry; the damage is then the finding.
  if (!logged.ok() && report.ok()) return logged.error();
  return report;
}

}  // namespace ehr
