// The tamper-evident audit trail (core/src/audit_chain.cc, audit_log.cc,
// audit_verify.cc): an untouched trail verifies; every kind of tampering
// (an edited, deleted, swapped entry, a truncated tail, a rewritten
// history) is caught and named. Tampering goes through the test-only path
// SessionImpl::of(s).db(), which writes the database directly, past the
// append-only triggers where the test drops them first.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "audit_chain.h"
#include "audit_log.h"
#include "deferred_audit.h"
#include "ehr/audit.h"
#include "ehr/builders.h"
#include "ehr/files.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "ehr/users.h"
#include "session_impl.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

// A database of alice (admin, physician) and andy (auditor) with ten audit
// entries: user-add x2, then four patients created and each read back.
struct Trail {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  int tick = 0;

  SessionOptions options(const std::string& user) {
    SessionOptions o;
    o.user = user;
    o.first_user_roles = {"physician"};
    o.now = [this] { return fmt_time(tick++); };
    return o;
  }
  static std::string fmt_time(int t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "2026-11-25T10:%02d:%02d.000Z", (t / 60) % 60, t % 60);
    return buf;
  }
  Session open(const std::string& user) {
    auto s = Session::open(path, Secret::passphrase("pw-" + user), options(user));
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    return std::move(*s);
  }
  Trail() {
    auto s = Session::create(path, {"alice", "", testing::kFast}, Secret::passphrase("pw-alice"),
                             options("alice"));
    REQUIRE(s.ok());
    REQUIRE(add_user(*s, {"andy", "", testing::kFast}, {"auditor"}, Secret::passphrase("pw-andy")).ok());
    for (const char* family : {"One", "Two", "Three", "Four"}) {
      PatientFields f;
      f.family = family;
      auto p = create_resource(*s, *build_patient(f));
      REQUIRE(p.ok());
      REQUIRE(read_resource(*s, "Patient", p->id).ok());
    }
  }
};

std::string sql(Session& s, const std::string& q) {
  auto r = SessionImpl::of(s).db().query_text(q);
  return r.ok() ? *r : "<error: " + r.error().message() + ">";
}

std::string text_of(const std::string& path) {
  auto bytes = testing::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

Status raw(Session& s, const std::string& q) { return SessionImpl::of(s).db().exec(q); }

constexpr const char* kNoTriggers = "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ";

std::string problems(const VerifyReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += p + "\n";
  return out;
}

// Verifies as andy, against `checkpoints`.
VerifyReport verify(Trail& t, const std::vector<Checkpoint>& checkpoints = {}, const std::string& key = "") {
  Session andy = t.open("andy");
  auto r = verify_audit(andy, checkpoints, key);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  return *r;
}

Secret signing_key(std::uint8_t fill) {
  std::vector<std::uint8_t> bytes(32, fill);
  return Secret::key_file(bytes).value();
}

TEST_SUITE("audit") {

TEST_CASE("an untouched trail verifies, entry by entry, with the tool and purpose of each") {
  Trail t;
  VerifyReport r = verify(t);
  CHECK(problems(r) == "");
  CHECK(r.ok());
  CHECK(r.entries == 10);
  CHECK(r.last_seq == 10);
  CHECK(r.head.size() == 64);
  CHECK(r.trail_id.size() == 32);
  CHECK_FALSE(r.first_bad_seq.has_value());
  Session andy = t.open("andy");
  CHECK(sql(andy, "SELECT group_concat(action, ' ') FROM (SELECT action FROM audit ORDER BY seq)") ==
        "user-add user-add create read create read create read create read audit-verify");
  CHECK(sql(andy, "SELECT count(*) FROM audit WHERE length(hash) = 32 AND tool LIKE 'ehr %' "
                  "AND purpose = 'treatment'") == "11");
  // The entries of the verification itself chain on.
  CHECK(verify_audit(andy, {})->entries == 11);
}

TEST_CASE("the audit table refuses updates and deletes, and the chain key never changes") {
  Trail t;
  Session alice = t.open("alice");
  Status up = raw(alice, "UPDATE audit SET user = 'mallory' WHERE seq = 3");
  CHECK(up.error().message().find("the audit trail is append-only") != std::string::npos);
  Status del = raw(alice, "DELETE FROM audit WHERE seq = 10");
  CHECK(del.error().message().find("the audit trail is append-only") != std::string::npos);
  Status key = raw(alice, "UPDATE audit_chain SET chain_key = zeroblob(32)");
  CHECK(key.error().message().find("the audit chain key never changes") != std::string::npos);
  CHECK(sql(alice, "SELECT user FROM audit WHERE seq = 3") == "alice");
}

TEST_CASE("verify names the first bad entry for each kind of tampering") {
  struct Case {
    const char* name;
    const char* sql;
    std::int64_t first_bad;
    const char* problem;
  };
  const Case cases[] = {
      {"an edited user", "UPDATE audit SET user = 'mallory' WHERE seq = 4", 4,
       "entry 4 does not match its chain hash: edited, replaced or moved\n"},
      {"an edited patient list", "UPDATE audit SET patients = '' WHERE seq = 6", 6,
       "entry 6 does not match its chain hash: edited, replaced or moved\n"},
      {"an edited outcome", "UPDATE audit SET outcome = 'denied' WHERE seq = 10", 10,
       "entry 10 does not match its chain hash: edited, replaced or moved\n"},
      {"a flipped emergency flag", "UPDATE audit SET emergency = 1 WHERE seq = 5", 5,
       "entry 5 does not match its chain hash: edited, replaced or moved\n"},
      {"a deleted entry", "DELETE FROM audit WHERE seq = 5", 5,
       "entry 5 is missing: the trail goes from 4 to 6\n"},
      {"the first entry deleted", "DELETE FROM audit WHERE seq = 1", 1,
       "entry 1 is missing: the trail starts at entry 2\n"},
      {"two entries swapped",
       "UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; "
       "UPDATE audit SET seq = 4 WHERE seq = -1",
       3, "entry 3 does not match its chain hash: edited, replaced or moved\n"},
      {"a hash removed", "UPDATE audit SET hash = NULL WHERE seq = 7", 7, "entry 7 has no chain hash\n"},
      // A count that is no longer an integer is read as the text SQLite
      // makes of it ("8.5"), not as the integer it truncates to.
      {"a count made fractional", "UPDATE audit SET count = count + 0.5 WHERE seq = 6", 6,
       "entry 6 does not match its chain hash: edited, replaced or moved\n"},
      {"an entry inserted",
       "INSERT INTO audit(seq, time, user, roles, action, outcome, purpose, hash) "
       "SELECT 11, time, 'alice', 'admin', 'read', 'ok', 'treatment', hash FROM audit WHERE seq = 10",
       11, "entry 11 does not match its chain hash: edited, replaced or moved\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Trail t;
    {
      Session alice = t.open("alice");
      REQUIRE(raw(alice, std::string(kNoTriggers) + c.sql).ok());
    }
    VerifyReport r = verify(t);
    CHECK_FALSE(r.ok());
    REQUIRE(r.first_bad_seq.has_value());
    CHECK(*r.first_bad_seq == c.first_bad);
    CHECK(problems(r) == c.problem);
  }
}

TEST_CASE("verify reads a trail of many batches in order and names a bad entry past the first batches") {
  // The scan hands entries to the hashing thread in batches of 1024; without
  // a second thread it hashes each batch itself.
  struct Restore {
    ~Restore() { set_verify_on_two_threads_for_testing(true); }
  } restore;
  for (bool two_threads : {true, false}) {
    CAPTURE(two_threads);
    set_verify_on_two_threads_for_testing(two_threads);
    Trail t;
    {
      Session alice = t.open("alice");
      SessionImpl& s = SessionImpl::of(alice);
      REQUIRE(s.transaction([&]() -> Status {
                  for (int i = 0; i < 2600; ++i) {
                    EHR_TRY(write_audit(s, {"read", "ok", "p" + std::to_string(i),
                                            "Patient/p" + std::to_string(i), "", i, "Patient", i % 7 == 0}));
                  }
                  return {};
                }).ok());
    }
    // The trail's ten entries and the 2600 reads (a session's own open is
    // not an entry).
    VerifyReport r = verify(t);
    CHECK(problems(r) == "");
    CHECK(r.entries == 2610);
    CHECK(r.last_seq == 2610);
    {
      Session andy = t.open("andy");
      CHECK(r.head == sql(andy, "SELECT lower(hex(hash)) FROM audit WHERE seq = 2610"));
    }
    // An entry in the third batch edited, a later one deleted.
    {
      Session alice = t.open("alice");
      REQUIRE(raw(alice, std::string(kNoTriggers) +
                             "UPDATE audit SET count = 3 WHERE seq = 2049; DELETE FROM audit WHERE seq = 2500")
                  .ok());
    }
    VerifyReport bad = verify(t);
    CHECK(bad.first_bad_seq == std::optional<std::int64_t>(2049));
    CHECK(problems(bad) == "entry 2049 does not match its chain hash: edited, replaced or moved\n");
    CHECK(bad.entries == 2610);  // 2611 with the first verify's entry, less the deleted one
  }
}

TEST_CASE("a checkpoint catches a truncated tail and a rewritten history") {
  Trail t;
  Checkpoint cp;
  {
    Session andy = t.open("andy");
    auto c = make_checkpoint(andy, signing_key(7));
    REQUIRE_MESSAGE(c.ok(), c.error().message());
    cp = *c;
  }
  CHECK(cp.seq == 11);  // its own entry
  CHECK(checkpoint_signature_ok(cp));
  auto again = parse_checkpoint("Nov 25 10:00:00 host ehr-audit: " + cp.line() + "\n");
  REQUIRE(again.ok());
  CHECK(again->line() == cp.line());
  const std::string key = *signing_public_key(signing_key(7));
  CHECK(cp.public_key == key);
  CHECK(cp.line().rfind("ehr-audit-checkpoint v1 trail=" + cp.trail_id + " seq=11 head=" + cp.head, 0) == 0);

  SUBCASE("untouched, with later entries") {
    VerifyReport r = verify(t, {cp}, key);
    CHECK(problems(r) == "");
    CHECK(r.checkpoints_checked == 1);
  }
  SUBCASE("the newest entries deleted") {
    {
      Session alice = t.open("alice");
      REQUIRE(raw(alice, std::string(kNoTriggers) + "DELETE FROM audit WHERE seq >= 9").ok());
    }
    // The chain itself is consistent: only the checkpoint shows the loss.
    VerifyReport r = verify(t, {cp});
    CHECK(r.first_bad_seq == std::optional<std::int64_t>(9));  // the first entry gone (QA finding: was 11)
    CHECK(problems(r) == "checkpoint seq=11 time=" + cp.time +
                             ": the trail ends at entry 8: entries 9 to 11 are gone (truncated)\n");
  }
  SUBCASE("history rewritten with the chain key") {
    {
      Session alice = t.open("alice");
      SessionImpl& s = SessionImpl::of(alice);
      REQUIRE(raw(alice, std::string(kNoTriggers) + "UPDATE audit SET patients = '' WHERE seq = 4").ok());
      // Recompute every hash from the start, as someone holding a key could.
      auto st = s.db().prepare(std::string("SELECT ") + kAuditColumns + " FROM audit ORDER BY seq");
      REQUIRE(st.ok());
      ChainHash h = chain_genesis(s.chain());
      std::vector<std::pair<std::int64_t, ChainHash>> fixed;
      while (*st->step()) {
        AuditEntry e = audit_entry_of(*st);
        h = chain_step(s.chain(), h, e);
        fixed.emplace_back(e.seq, h);
      }
      REQUIRE(st->reset().ok());
      for (const auto& [seq, hash] : fixed) {
        auto up = s.db().prepare("UPDATE audit SET hash = ? WHERE seq = ?");
        REQUIRE(up->bind_blob(1, crypto::Bytes(hash.data(), hash.size())).ok());
        REQUIRE(up->bind_int(2, seq).ok());
        REQUIRE(up->step().ok());
      }
    }
    CHECK(verify(t).ok());  // on its own the rewritten chain holds
    VerifyReport r = verify(t, {cp});
    CHECK(problems(r) == "checkpoint seq=11 time=" + cp.time +
                             ": the trail up to entry 11 differs from the one signed: history rewritten\n");
  }
  SUBCASE("a forged checkpoint, another signer, another trail") {
    Checkpoint forged = cp;
    forged.head = std::string(64, '0');
    Checkpoint other = cp;
    other.trail_id = std::string(32, 'a');
    VerifyReport r = verify(t, {forged, cp}, *signing_public_key(signing_key(9)));
    CHECK(problems(r) == "checkpoint seq=11 time=" + cp.time + ": its signature does not verify\n" +
                             "checkpoint seq=11 time=" + cp.time + ": signed by key " + key +
                             ", not the required " + *signing_public_key(signing_key(9)) + "\n");
    // The checkpoints are bad, not entry 11 (QA finding: it was named the first bad entry).
    CHECK_FALSE(r.first_bad_seq.has_value());
    // Its trail id changed, the signature no longer covers it.
    CHECK_FALSE(checkpoint_signature_ok(other));
  }
}

TEST_CASE("checkpoint lines that do not parse name the field") {
  const std::string good =
      "ehr-audit-checkpoint v1 trail=" + std::string(32, 'a') + " seq=5 head=" + std::string(64, 'b') +
      " time=2026-11-25T10:00:00.000Z key=" + std::string(64, 'c') + " sig=" + std::string(128, 'd');
  REQUIRE(parse_checkpoint(good).ok());
  struct Case {
    std::string line;
    const char* message;
  };
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const Case cases[] = {
      {"hello", "no ehr-audit-checkpoint v1 statement in the line"},
      {with("trail=" + std::string(32, 'a'), "trail=xyz"), "checkpoint field trail: not 32 hex digits"},
      {with("seq=5", "seq=five"), "checkpoint field seq: not a sequence number"},
      {with("head=" + std::string(64, 'b'), "head=B"), "checkpoint field head: not 64 hex digits"},
      {with("time=2026-11-25T10:00:00.000Z", "time=yesterday"),
       "checkpoint field time: not a UTC instant YYYY-MM-DDTHH:MM:SS.mmmZ"},
      {with(" key=", " kee="), "checkpoint field key: missing (fields in order: trail, seq, head, time, key, sig)"},
      {with("sig=" + std::string(128, 'd'), "sig=dd"), "checkpoint field sig: not 128 hex digits"},
      {good + " extra", "checkpoint: unexpected text after sig"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto r = parse_checkpoint(c.line);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kInvalidData);
    CHECK(r.error().message() == c.message);
  }
}

TEST_CASE("only audit-read may verify or checkpoint, and the refusal is itself audited") {
  Trail t;
  auto no_key = [] { return Secret::key_file(std::vector<std::uint8_t>(32, 1)).value(); };
  {
    Session alice = t.open("alice");  // admin + physician: admin reads the trail
    CHECK(verify_audit(alice, {}).ok());
  }
  auto bob_ok = [&] {
    Session alice = t.open("alice");
    return add_user(alice, {"bob", "", testing::kFast}, {"physician"}, Secret::passphrase("pw-bob")).ok();
  };
  REQUIRE(bob_ok());
  Session bob = t.open("bob");
  auto r = verify_audit(bob, {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == ErrorCode::kAccessDenied);
  CHECK(r.error().message() ==
        "user bob (roles: physician) may not audit-read AuditEvent: no role of the user allows audit-read on AuditEvent");
  CHECK(make_checkpoint(bob, no_key()).error().code() == ErrorCode::kAccessDenied);
  CHECK(sql(bob, "SELECT action || ' ' || outcome || ' ' || user FROM audit ORDER BY seq DESC LIMIT 1") ==
        "audit-read denied bob");
  Session andy = t.open("andy");
  auto short_key = make_checkpoint(andy, *Secret::key_file(std::vector<std::uint8_t>(32, 2)));
  CHECK(short_key.ok());
  CHECK(verify_audit(andy, {})->ok());
}

TEST_CASE("failed opens wait in a journal beside the database and join the trail at the next open") {
  Trail t;
  const std::string journal = failed_opens_path(t.path);
  CHECK(journal == t.path + ".failed-opens");
  auto o = t.options("andy");
  auto wrong = Session::open(t.path, Secret::passphrase("guess"), o);
  CHECK(wrong.error().code() == ErrorCode::kAuthFailed);
  o.user = "eve il\n";
  CHECK(Session::open(t.path, Secret::passphrase("guess"), o).error().code() == ErrorCode::kAuthFailed);
  CHECK(text_of(journal) ==
        "2026-11-25T10:00:20.000Z andy wrong-secret\n2026-11-25T10:00:21.000Z eve%20il%0A wrong-secret\n");
  Session andy = t.open("andy");
  CHECK(text_of(journal) == "");
  CHECK(sql(andy, "SELECT group_concat(seq || ' ' || user || '|' || roles || '|' || action || ' ' || outcome "
                  "|| ' ' || detail, '; ') FROM audit WHERE seq > 10") ==
        "11 andy||login-failed auth-failed at 2026-11-25T10:00:20.000Z: wrong-secret; "
        "12 eve il\n||login-failed auth-failed at 2026-11-25T10:00:21.000Z: wrong-secret");
  CHECK(verify_audit(andy, {})->ok());
}

TEST_CASE(
    "opens without a session journal a wrong secret and a disabled user for the next session") {
  // ehr db info, db check, key list and db recover used to skip the journal
  // and let a disabled user's surviving slot in.
  Trail t;
  const std::string journal = failed_opens_path(t.path);
  auto clock = [] { return std::string("2026-11-25T11:00:00.000Z"); };
  auto recover_dirs = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(t.dir.path()))
      if (e.path().filename().string().find(".recover-") != std::string::npos) ++n;
    return n;
  };
  OpenOptions o;
  o.user = "andy";
  auto wrong = open_store_as_user(t.path, Secret::passphrase("guess"), o, clock);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code() == ErrorCode::kAuthFailed);
  CHECK(wrong.error().message() == "wrong passphrase or key");
  auto wrong_recover = recover_store_as_user(t.path, Secret::passphrase("guess"), o, clock);
  REQUIRE_FALSE(wrong_recover.ok());
  CHECK(wrong_recover.error().code() == ErrorCode::kAuthFailed);
  CHECK(recover_dirs() == 0);
  {
    // A good secret opens and leaves the journal for a session.
    auto good = open_store_as_user(t.path, Secret::passphrase("pw-andy"), o, clock);
    REQUIRE(good.ok());
  }
  CHECK(text_of(journal) ==
        "2026-11-25T11:00:00.000Z andy wrong-secret\n2026-11-25T11:00:00.000Z andy wrong-secret\n");
  {
    // As if andy's slot survived his disabling (a slot the header still lists).
    Session alice = t.open("alice");
    REQUIRE(raw(alice, "UPDATE users SET disabled = 1 WHERE name = 'andy'").ok());
  }
  CHECK(text_of(journal) == "");
  auto disabled = open_store_as_user(t.path, Secret::passphrase("pw-andy"), o, clock);
  REQUIRE_FALSE(disabled.ok());
  CHECK(disabled.error().code() == ErrorCode::kAuthFailed);
  CHECK(disabled.error().message() == "user andy is disabled");
  auto disabled_recover = recover_store_as_user(t.path, Secret::passphrase("pw-andy"), o, clock);
  REQUIRE_FALSE(disabled_recover.ok());
  CHECK(disabled_recover.error().message() == "user andy is disabled");
  CHECK(recover_dirs() == 0);
  CHECK(
      text_of(journal) ==
      "2026-11-25T11:00:00.000Z andy user-disabled\n2026-11-25T11:00:00.000Z andy user-disabled\n");
  Session alice = t.open("alice");
  CHECK(text_of(journal) == "");
  CHECK(sql(alice,
            "SELECT group_concat(seq || ' ' || user || ' ' || action || ' ' || outcome || ' ' || "
            "detail, '; ') "
            "FROM audit WHERE seq > 10 AND action = 'login-failed'") ==
        "11 andy login-failed auth-failed at 2026-11-25T11:00:00.000Z: wrong-secret; "
        "12 andy login-failed auth-failed at 2026-11-25T11:00:00.000Z: wrong-secret; "
        "13 andy login-failed auth-failed at 2026-11-25T11:00:00.000Z: user-disabled; "
        "14 andy login-failed auth-failed at 2026-11-25T11:00:00.000Z: user-disabled");
  CHECK(verify_audit(alice, {})->ok());
  // A slot without a user record authenticates by itself, as in a session.
  REQUIRE(alice.store().add_slot({"zed", "", testing::kFast}, Secret::passphrase("pw-zed")).ok());
  OpenOptions z;
  z.user = "zed";
  CHECK(open_store_as_user(t.path, Secret::passphrase("pw-zed"), z, clock).ok());
}

// QA finding ops 01: a denial while another process held the write lock past
// the busy timeout (a night's import) exited 77 and left no entry.
TEST_CASE("a denial that cannot be written now is sealed beside the database and joins the trail at the next open") {
  Trail t;
  const std::string journal = deferred_audit_path(t.path);
  CHECK(journal == t.path + ".deferred-audit");
  Session alice = t.open("alice");
  const std::string some = sql(alice, "SELECT id FROM resource WHERE type = 'Patient' LIMIT 1");
  auto o = t.options("andy");
  o.open.busy_timeout_ms = 50;
  auto andy = Session::open(t.path, Secret::passphrase("pw-andy"), o);
  REQUIRE(andy.ok());
  REQUIRE(raw(alice, "BEGIN IMMEDIATE").ok());  // the import's write lock
  auto read = read_resource(*andy, "Patient", some);  // an auditor reads no records
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().code() == ErrorCode::kAccessDenied);
  const std::string after_denial = Trail::fmt_time(t.tick);
  std::string line = text_of(journal);
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
  CHECK(line.find(some) == std::string::npos);  // sealed: no id, user or time in the clear
  CHECK(line.find("andy") == std::string::npos);
  CHECK(line.find("2026-") == std::string::npos);
  // An open while the lock is held keeps the journal for later instead of failing.
  auto busy = Session::open(t.path, Secret::passphrase("pw-andy"), o);
  REQUIRE_MESSAGE(busy.ok(), (busy.ok() ? "" : busy.error().message()));
  CHECK(text_of(journal) == line);
  REQUIRE(raw(alice, "ROLLBACK").ok());
  const std::string before = sql(alice, "SELECT max(seq) FROM audit");
  Session next = t.open("andy");
  CHECK(text_of(journal) == "");
  CHECK(sql(next, "SELECT group_concat(user || '|' || roles || '|' || action || '|' || outcome || '|' || patients, "
                  "'; ') FROM audit WHERE seq = " + before + " + 1") ==
        "andy|auditor|read|denied|" + some);
  // It keeps the time of the denial, before anything written since.
  CHECK(sql(next, "SELECT time < '" + after_denial + "' FROM audit WHERE seq = " + before + " + 1") == "1");
  // A torn or foreign line is counted, not lost without a word.
  REQUIRE(append_line(journal, "00ff").ok());
  Session again = t.open("andy");
  CHECK(text_of(journal) == "");
  CHECK(sql(again, "SELECT action || ' ' || outcome || ' ' || count || ' ' || detail FROM audit "
                   "WHERE action = 'audit-deferred'") ==
        "audit-deferred error 1 1 deferred entry did not open (torn or not this trail's)");
  CHECK(verify_audit(again, {})->ok());
}

TEST_CASE("fail closed: when the entry cannot be written, the operation fails and writes nothing") {
  Trail t;
  Session alice = t.open("alice");
  const std::string patients = sql(alice, "SELECT count(*) FROM resource WHERE type = 'Patient'");
  const std::string some = sql(alice, "SELECT id FROM resource WHERE type = 'Patient' LIMIT 1");
  REQUIRE(raw(alice, "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit BEGIN "
                     "SELECT RAISE(ABORT, 'audit refused'); END").ok());
  PatientFields f;
  f.family = "Unaudited";
  auto created = create_resource(alice, *build_patient(f));
  REQUIRE_FALSE(created.ok());
  CHECK(created.error().message().find("audit refused") != std::string::npos);
  CHECK(sql(alice, "SELECT count(*) FROM resource WHERE type = 'Patient'") == patients);
  auto read = read_resource(alice, "Patient", some);
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message().find("audit refused") != std::string::npos);
  RecordQuery q;
  q.patient = some;
  CHECK_FALSE(patient_records(alice, q).ok());
}

TEST_CASE("an open by a disabled user whose key still opens the file is recorded directly") {
  Trail t;
  {
    // As if andy's slot survived his disabling (a slot the header still lists).
    Session alice = t.open("alice");
    REQUIRE(raw(alice, "UPDATE users SET disabled = 1 WHERE name = 'andy'").ok());
  }
  auto r = Session::open(t.path, Secret::passphrase("pw-andy"), t.options("andy"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == ErrorCode::kAuthFailed);
  CHECK(r.error().message() == "user andy is disabled");
  CHECK_FALSE(testing::file_exists(failed_opens_path(t.path)));
  Session alice = t.open("alice");
  CHECK(sql(alice, "SELECT user || '|' || roles || '|' || action || ' ' || outcome || ' ' || detail FROM audit "
                   "ORDER BY seq DESC LIMIT 1") == "andy||login-failed auth-failed user is disabled");
  CHECK(verify_audit(alice, {})->ok());
}

TEST_CASE("migration 5 chains the entries written before it") {
  Trail t;
  {
    Session alice = t.open("alice");
    REQUIRE(raw(alice,
                "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TRIGGER audit_chain_no_update; "
                "DROP TRIGGER audit_chain_no_delete; DROP TABLE audit_chain; DROP INDEX audit_time; "
                "ALTER TABLE audit DROP COLUMN tool; ALTER TABLE audit DROP COLUMN recipient; "
                "ALTER TABLE audit DROP COLUMN hash; DROP TABLE import_alias; DROP TABLE export_job; DROP TABLE export_job_member; "
                "DROP TABLE match_key; DROP TABLE match_review; DROP TABLE match_decision; DROP TABLE patient_merge; "
                "DROP TABLE patient_link; DROP INDEX reference_patient; "
                "ALTER TABLE resource DROP COLUMN action; ALTER TABLE resource DROP COLUMN author; "
                "ALTER TABLE resource DROP COLUMN reason; DROP TABLE patient_key; PRAGMA user_version = 4")
                .ok());
  }
  VerifyReport r = verify(t);
  CHECK(problems(r) == "");
  CHECK(r.entries == 10);
  Session andy = t.open("andy");
  CHECK(sql(andy, "SELECT count(*) FROM audit WHERE hash IS NULL") == "0");
  CHECK(sql(andy, "SELECT count(*) FROM audit WHERE tool = ''") == "10");  // as written then
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
