// Merge, unmerge, not-duplicate and the duplicate report
// (core/src/patient_merge.cc): what a merge moves and what it leaves, that
// unmerge gives back every resource and reference row exactly, the rules
// that keep merges unique, the access decision and the audit entries.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "ehr/builders.h"
#include "ehr/patient_merge.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "ehr/users.h"
#include "record_writer.h"
#include "session_impl.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

struct Fixture {
  TempDir dir;
  std::string path = dir.file("m.ehr");
  int tick = 0;
  SessionOptions options(const std::string& user) {
    SessionOptions o;
    o.user = user;
    o.first_user_roles = {"physician", "registrar"};
    o.now = [this] {
      int t = tick++;
      return "2026-12-01T10:" + std::string(t / 60 < 10 ? "0" : "") + std::to_string(t / 60) + ":" +
             std::string(t % 60 < 10 ? "0" : "") + std::to_string(t % 60) + ".000Z";
    };
    return o;
  }
  Session create() {
    auto s = Session::create(path, {"desk", "", testing::kFast}, Secret::passphrase("pw"), options("desk"));
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    return std::move(*s);
  }
};

Json parse(const std::string& text) {
  auto j = parse_json(text);
  REQUIRE_MESSAGE(j.ok(), text);
  return std::move(*j);
}

std::string make(Session& s, const std::string& json) {
  auto r = create_resource(s, parse(json));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  return r->id;
}

// A record of several patients (ehr/records.h kSeveralPatients): no
// care-team rule lets a clinician create or read it, so it is written as the
// importer writes, and read back from its row.
std::string make_raw(Session& s, const std::string& json) {
  SessionImpl& impl = SessionImpl::of(s);
  std::string id;
  Status st = impl.transaction([&]() -> Status {
    auto w = detail::write_created(impl, parse(json), "");
    if (!w.ok()) return w.error();
    id = w->id;
    return {};
  });
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().message()));
  return id;
}

Json stored(Session& s, const std::string& type, const std::string& id) {
  auto rows = SessionImpl::of(s).rows("SELECT json FROM resource WHERE type = ? AND id = ?", {type, id});
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  return parse((*rows)[0][0]);
}

Json current(Session& s, const std::string& type, const std::string& id) {
  auto r = read_resource(s, type, id);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  return r->resource;
}

// Every resource but Provenance, without meta, and every reference row, by
// the resource holding it: what "the same records" means across a merge
// and its unmerge.
struct State {
  std::map<std::string, std::string> resources;
  std::multiset<std::string> references;
  bool operator==(const State& o) const { return resources == o.resources && references == o.references; }
};

State state(Session& session) {
  SessionImpl& s = SessionImpl::of(session);
  State st;
  auto rows = s.rows("SELECT type, id, json FROM resource WHERE type <> 'Provenance'");
  REQUIRE(rows.ok());
  for (auto& r : *rows) {
    Json j = parse(r[2]);
    j.erase("meta");
    st.resources[r[0] + "/" + r[1]] = to_json_canonical(j);
  }
  auto refs = s.rows(
      "SELECT r.type || '/' || r.id || ' -> ' || f.target_type || '/' || f.target_id || ' ' || "
      "coalesce(r.patient, '') FROM reference f JOIN resource r ON r.rid = f.rid WHERE r.type <> 'Provenance'");
  REQUIRE(refs.ok());
  for (auto& r : *refs) st.references.insert(r[0]);
  return st;
}

std::string q1(Session& s, const std::string& sql) { return *SessionImpl::of(s).db().query_text(sql); }

const char* kObs = R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]})";

struct Chart {
  std::string S, T, other, obs, enc, prov, doc;
};

// S and T are one person; `other` is a relative whose link names S; a
// Provenance and a versioned reference name S too.
Chart chart(Session& s) {
  Chart c;
  c.S = make(s, R"({"resourceType":"Patient","id":"s1","name":[{"family":"Smith","given":["John"]}],"gender":"male","birthDate":"1950-03-02"})");
  c.T = make(s, R"({"resourceType":"Patient","id":"t1","active":true,"name":[{"family":"Smith","given":["John"]}],"gender":"male","birthDate":"1950-03-02"})");
  c.other = make(s, R"({"resourceType":"Patient","id":"x1","name":[{"family":"Smith","given":["Mary"]}],"link":[{"other":{"reference":"Patient/s1"},"type":"seealso"}]})");
  c.obs = make(s, std::string(R"({"resourceType":"Observation","id":"o1",)") + kObs +
                      R"(,"subject":{"reference":"Patient/s1"},"performer":[{"reference":"Patient/s1"}],"valueQuantity":{"value":80,"unit":"kg"}})");
  c.enc = make(s, R"({"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/s1"}})");
  c.prov = make(s, R"({"resourceType":"Provenance","id":"p1","target":[{"reference":"Patient/s1"}],"recorded":"2026-01-01T00:00:00Z","agent":[{"who":{"display":"x"}}]})");
  c.doc = make_raw(s, R"({"resourceType":"DocumentReference","id":"d1","status":"current","content":[{"attachment":{"contentType":"text/plain"}}],"subject":{"reference":"Patient/t1"},"context":{"related":[{"reference":"Patient/s1/_history/1"}]}})");
  return c;
}

TEST_SUITE("patient merge") {

TEST_CASE("merge moves every reference to the source but Provenance's and versioned ones, and links the two") {
  Fixture fx;
  Session s = fx.create();
  Chart c = chart(s);
  auto m = merge_patients(s, "s1", "t1", "one man, two registrations");
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message()));
  CHECK(m->source == "s1");
  CHECK(m->target == "t1");
  CHECK(m->records == 3);  // o1, e1, x1
  Json obs = current(s, "Observation", "o1");
  CHECK(to_json(*obs.find("subject")) == R"({"reference":"Patient/t1"})");
  CHECK(to_json(*obs.find("performer")) == R"([{"reference":"Patient/t1"}])");
  CHECK(to_json(*current(s, "Encounter", "e1").find("subject")) == R"({"reference":"Patient/t1"})");
  CHECK(to_json(*current(s, "Patient", "x1").find("link")) ==
        R"([{"other":{"reference":"Patient/t1"},"type":"seealso"}])");
  CHECK(to_json(*current(s, "Provenance", "p1").find("target")) == R"([{"reference":"Patient/s1"}])");
  CHECK(to_json(*stored(s, "DocumentReference", "d1").find("context")) ==
        R"({"related":[{"reference":"Patient/s1/_history/1"}]})");
  Json src = current(s, "Patient", "s1");
  CHECK(to_json(*src.find("active")) == "false");
  CHECK(to_json(*src.find("link")) == R"([{"other":{"reference":"Patient/t1"},"type":"replaced-by"}])");
  CHECK(to_json(*current(s, "Patient", "t1").find("link")) ==
        R"([{"other":{"reference":"Patient/s1"},"type":"replaces"}])");
  // The index follows: the records are the target's now; the source has no
  // match keys. d1 names t1 and, by its versioned reference, s1: still several.
  CHECK(q1(s, "SELECT group_concat(id) FROM (SELECT id FROM resource WHERE patient = 't1' ORDER BY id)") ==
        "e1,o1,t1");
  CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'd1'") == "*");
  CHECK(q1(s, "SELECT count(*) FROM match_key k JOIN resource r ON r.rid = k.rid WHERE r.id = 's1'") == "0");
  // An import of the source's records lands them on the target.
  CHECK(q1(s, "SELECT type || ' ' || from_id || ' ' || to_id FROM import_alias") == "Patient s1 t1");
  // One Provenance names every version written, with the reason.
  // It names both patients: read back from its row (see make_raw).
  Json prov = stored(s, "Provenance", m->provenance);
  CHECK(prov.find("target")->size() == 5);
  CHECK(to_json(*prov.find("activity")->find("coding")->items()[0].find("code")) == R"("merge")");
  CHECK(to_json(*prov.find("reason")) == R"([{"text":"one man, two registrations"}])");
  CHECK(q1(s, "SELECT group_concat(action || ' ' || outcome || ' ' || patients || ' ' || count || ' ' || resources, '|') "
               "FROM audit WHERE action = 'merge'") == "merge ok s1 t1 5 Provenance/" + m->provenance);
}

TEST_CASE("unmerge gives back every resource and reference row exactly") {
  Fixture fx;
  Session s = fx.create();
  chart(s);
  State before = state(s);
  REQUIRE(merge_patients(s, "s1", "t1", "dup").ok());
  CHECK_FALSE(state(s) == before);
  auto u = unmerge_patient(s, "s1", "merged in error");
  REQUIRE_MESSAGE(u.ok(), (u.ok() ? "" : u.error().message()));
  CHECK(u->records == 3);
  State after = state(s);
  CHECK(after.resources == before.resources);
  CHECK(after.references == before.references);
  CHECK(q1(s, "SELECT count(*) FROM patient_merge") == "0");
  CHECK(q1(s, "SELECT count(*) FROM import_alias") == "0");
  // The source's match keys are back: it can be proposed and merged again.
  CHECK(q1(s, "SELECT count(*) > 0 FROM match_key k JOIN resource r ON r.rid = k.rid WHERE r.id = 's1'") == "1");
  CHECK(merge_patients(s, "s1", "t1", "again").ok());
}

TEST_CASE("a record naming the source by its MRN moves to the target, and unmerge gives it back") {
  // QA finding: the record was the source's (its subject, by identifier,
  // resolves to it) but merge moved nothing, so it never reached the chart.
  Fixture fx;
  Session s = fx.create();
  make(s, R"({"resourceType":"Patient","id":"s1","identifier":[{"system":"urn:mrn","value":"M5"}],"name":[{"family":"Smith"}]})");
  make(s, R"({"resourceType":"Patient","id":"t1","identifier":[{"system":"urn:mrn","value":"M4"}],"name":[{"family":"Smith"}]})");
  std::string obs = make(s, std::string(R"({"resourceType":"Observation","id":"o2",)") + kObs +
                                R"(,"subject":{"identifier":{"system":"urn:mrn","value":"M5"},"display":"J S"},"valueQuantity":{"value":70,"unit":"kg"}})");
  // Another patient's MRN, and an untyped Practitioner identifier, stay.
  make(s, std::string(R"({"resourceType":"Observation","id":"o3",)") + kObs +
              R"(,"subject":{"reference":"Patient/t1"},"performer":[{"type":"Practitioner","identifier":{"value":"M5"}}]})");
  CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'o2'") == "s1");
  State before = state(s);
  auto m = merge_patients(s, "s1", "t1", "dup");
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message()));
  CHECK(m->records == 1);
  CHECK(to_json(*current(s, "Observation", obs).find("subject")) == R"({"display":"J S","reference":"Patient/t1"})");
  CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'o2'") == "t1");
  CHECK(to_json(*current(s, "Observation", "o3").find("performer")) == R"([{"type":"Practitioner","identifier":{"value":"M5"}}])");
  auto u = unmerge_patient(s, "s1", "merged in error");
  REQUIRE_MESSAGE(u.ok(), (u.ok() ? "" : u.error().message()));
  State after = state(s);
  CHECK(after.resources == before.resources);
  CHECK(after.references == before.references);
  CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'o2'") == "s1");
}

TEST_CASE("a record naming a merged source by its MRN after the merge goes on the target's chart") {
  // QA finding: after the merge of s1 into t1, a result naming s1's MRN
  // landed in the chart of s1, inactive and merged away.
  Fixture fx;
  Session s = fx.create();
  make(s, R"({"resourceType":"Patient","id":"s1","identifier":[{"system":"urn:mrn","value":"M5"}],"name":[{"family":"Smith"}]})");
  make(s, R"({"resourceType":"Patient","id":"t1","identifier":[{"system":"urn:mrn","value":"M4"}],"name":[{"family":"Smith"}]})");
  REQUIRE(merge_patients(s, "s1", "t1", "dup").ok());
  make(s, std::string(R"({"resourceType":"Observation","id":"o5",)") + kObs +
              R"(,"subject":{"identifier":{"system":"urn:mrn","value":"M5"}},"valueQuantity":{"value":71,"unit":"kg"}})");
  CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'o5'") == "t1");
  // Unmerged: M5 names s1 again, and the result follows it.
  REQUIRE(unmerge_patient(s, "s1", "merged in error").ok());
  CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'o5'") == "s1");
}

TEST_CASE("a Reference with both the source's id and its MRN loses the MRN at a merge, and gets it back") {
  // Found in stop 26 and left then: the reference moved, the MRN stayed, so
  // an exported copy named Patient/t1 with s1's MRN.
  Fixture fx;
  Session s = fx.create();
  make(s, R"({"resourceType":"Patient","id":"s1","identifier":[{"system":"urn:mrn","value":"M5"}],"name":[{"family":"Smith"}]})");
  make(s, R"({"resourceType":"Patient","id":"t1","identifier":[{"system":"urn:mrn","value":"M4"}],"name":[{"family":"Smith"}]})");
  const std::string subject = R"({"display":"J S","identifier":{"system":"urn:mrn","value":"M5"},"reference":"Patient/s1"})";
  std::string obs = make(s, std::string(R"({"resourceType":"Observation","id":"o4",)") + kObs + R"(,"subject":)" +
                                subject + R"(,"valueQuantity":{"value":70,"unit":"kg"}})");
  State before = state(s);
  auto m = merge_patients(s, "s1", "t1", "dup");
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message()));
  CHECK(to_json(*current(s, "Observation", obs).find("subject")) == R"({"display":"J S","reference":"Patient/t1"})");
  CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'o4'") == "t1");
  auto u = unmerge_patient(s, "s1", "merged in error");
  REQUIRE_MESSAGE(u.ok(), (u.ok() ? "" : u.error().message()));
  CHECK(to_json(*current(s, "Observation", obs).find("subject")) == subject);
  State after = state(s);
  CHECK(after.resources == before.resources);
  CHECK(after.references == before.references);
}

TEST_CASE("unmerge names the source literally when its old MRN now names someone else or nobody") {
  // QA finding: unmerge put back {"identifier": MRN} word for word. After the
  // source's MRN was corrected, the record fell out of every chart; after the
  // MRN was also given to a new patient, it landed in that patient's chart.
  for (bool reissued : {false, true}) {
    CAPTURE(reissued);
    Fixture fx;
    Session s = fx.create();
    make(s, R"({"resourceType":"Patient","id":"s1","identifier":[{"system":"urn:mrn","value":"M5"}],"name":[{"family":"Smith"}]})");
    make(s, R"({"resourceType":"Patient","id":"t1","identifier":[{"system":"urn:mrn","value":"M4"}],"name":[{"family":"Smith"}]})");
    make(s, std::string(R"({"resourceType":"Observation","id":"o2",)") + kObs +
                R"(,"subject":{"identifier":{"system":"urn:mrn","value":"M5"},"display":"J S"},"valueQuantity":{"value":70,"unit":"kg"}})");
    auto m = merge_patients(s, "s1", "t1", "dup");
    REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message()));
    Json src = current(s, "Patient", "s1");
    Json ids = parse(R"([{"system":"urn:mrn","value":"M5-OLD"}])");
    src.set("identifier", ids);
    auto up = update_resource(s, src, "MRN corrected");
    REQUIRE_MESSAGE(up.ok(), (up.ok() ? "" : up.error().message()));
    if (reissued) make(s, R"({"resourceType":"Patient","id":"x1","identifier":[{"system":"urn:mrn","value":"M5"}],"name":[{"family":"Xavier"}]})");
    auto u = unmerge_patient(s, "s1", "merged in error");
    REQUIRE_MESSAGE(u.ok(), (u.ok() ? "" : u.error().message()));
    CHECK(u->records == 1);
    CHECK(to_json(*current(s, "Observation", "o2").find("subject")) == R"({"display":"J S","reference":"Patient/s1"})");
    CHECK(q1(s, "SELECT patient FROM resource WHERE id = 'o2'") == "s1");
  }
  // While the MRN still names the source alone, the Reference goes back as it was
  // (the test above).
}

TEST_CASE("no record is added for a merged-away patient; it names the target to use") {
  // QA finding: an allergy recorded on the source after the merge stayed
  // off the target's chart, so the target's orders were checked without it.
  Fixture fx;
  Session s = fx.create();
  chart(s);
  REQUIRE(merge_patients(s, "s1", "t1", "dup").ok());
  auto r = create_resource(s, parse(std::string(R"({"resourceType":"Observation",)") + kObs +
                                    R"(,"subject":{"reference":"Patient/s1"}})"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == ErrorCode::kConflict);
  CHECK(r.error().message() == "Patient/s1 was merged into Patient/t1: record it for Patient/t1");
  CHECK(q1(s, "SELECT count(*) FROM resource WHERE type = 'Observation' AND patient = 's1'") == "0");
  CHECK(create_resource(s, parse(std::string(R"({"resourceType":"Observation",)") + kObs +
                                 R"(,"subject":{"reference":"Patient/t1"}})"))
            .ok());
  // After an unmerge the source is charted on again.
  REQUIRE(unmerge_patient(s, "s1", "merged in error").ok());
  CHECK(create_resource(s, parse(std::string(R"({"resourceType":"Observation",)") + kObs +
                                 R"(,"subject":{"reference":"Patient/s1"}})"))
            .ok());
}

TEST_CASE("unmerge leaves what others changed after the merge, and the target's new records") {
  Fixture fx;
  Session s = fx.create();
  chart(s);
  REQUIRE(merge_patients(s, "s1", "t1", "dup").ok());
  // After the merge: e1 is pointed at x1 by someone; a new record for t1.
  Json enc = current(s, "Encounter", "e1");
  enc.set("subject", parse(R"({"reference":"Patient/x1"})"));
  REQUIRE(update_resource(s, enc, "wrong patient").ok());
  make(s, std::string(R"({"resourceType":"Observation","id":"o2",)") + kObs +
              R"(,"subject":{"reference":"Patient/t1"},"valueQuantity":{"value":81,"unit":"kg"}})");
  auto u = unmerge_patient(s, "s1", "merged in error");
  REQUIRE(u.ok());
  CHECK(u->records == 2);  // o1 and x1; e1 is the later writer's
  CHECK(to_json(*current(s, "Encounter", "e1").find("subject")) == R"({"reference":"Patient/x1"})");
  CHECK(to_json(*current(s, "Observation", "o2").find("subject")) == R"({"reference":"Patient/t1"})");
  CHECK(to_json(*current(s, "Observation", "o1").find("subject")) == R"({"reference":"Patient/s1"})");
  // The source's active element was absent: it is absent again; t1's was true and stays.
  CHECK(current(s, "Patient", "s1").find("active") == nullptr);
  CHECK(current(s, "Patient", "s1").find("link") == nullptr);
  CHECK(to_json(*current(s, "Patient", "t1").find("active")) == "true");
  CHECK(current(s, "Patient", "t1").find("link") == nullptr);
}

TEST_CASE("merges are unique and leave no chains; errors name the patients") {
  Fixture fx;
  Session s = fx.create();
  chart(s);
  make(s, R"({"resourceType":"Patient","id":"z1","name":[{"family":"Zed"}]})");
  auto err = [&](Result<MergeOutcome> r) { return r.ok() ? std::string("ok") : r.error().message(); };
  CHECK(err(merge_patients(s, "s1", "t1", "")) == "a merge needs a reason (--reason)");
  CHECK(err(merge_patients(s, "s1", "s1", "x")) == "s1 and s1 are the same patient (Patient/s1)");
  CHECK(err(merge_patients(s, "nobody", "t1", "x")) == "no patient nobody");
  REQUIRE(merge_patients(s, "s1", "t1", "dup").ok());
  CHECK(err(merge_patients(s, "s1", "z1", "x")) ==
        "Patient/s1 was merged into Patient/t1 already (ehr patient unmerge s1 undoes it)");
  CHECK(err(merge_patients(s, "z1", "s1", "x")) == "Patient/s1 was merged into Patient/t1: merge into Patient/t1");
  CHECK(err(merge_patients(s, "t1", "z1", "x")) ==
        "Patient/t1 holds the records of Patient/s1 merged into it: unmerge s1 first");
  CHECK(err(unmerge_patient(s, "t1", "x")) == "Patient/t1 is not merged");
  CHECK(err(unmerge_patient(s, "s1", "")) == "an unmerge needs a reason (--reason)");
  // A chain is built the right way round: z1 into t1 is fine.
  CHECK(err(merge_patients(s, "z1", "t1", "x")) == "ok");
}

TEST_CASE("only the merge permission may review, merge, unmerge or rule out; denials are audited") {
  Fixture fx;
  Session s = fx.create();
  chart(s);
  REQUIRE(add_user(s, {"nurse1", "", testing::kFast}, {"nurse"}, Secret::passphrase("pw-n")).ok());
  auto n = Session::open(fx.path, Secret::passphrase("pw-n"), fx.options("nurse1"));
  REQUIRE(n.ok());
  auto m = merge_patients(*n, "s1", "t1", "x");
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code() == ErrorCode::kAccessDenied);
  CHECK(m.error().message() ==
        "user nurse1 (roles: nurse) may not merge Patient s1: no role of the user allows merge on Patient");
  CHECK(mark_not_duplicate(*n, "s1", "t1", "x").error().code() == ErrorCode::kAccessDenied);
  auto d = find_duplicates(*n, MatchConfig::builtin(), DuplicateQuery{});
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code() == ErrorCode::kAccessDenied);
  CHECK(q1(*n, "SELECT count(*) FROM audit WHERE outcome = 'denied' AND user = 'nurse1'") == "3");
}

TEST_CASE("duplicates: a scan finds the pair, not-duplicate rules it out, a merge removes the source") {
  Fixture fx;
  Session s = fx.create();
  chart(s);
  auto d = find_duplicates(s, MatchConfig::builtin(), DuplicateQuery{});
  REQUIRE(d.ok());
  REQUIRE(d->pairs.size() >= 1);
  CHECK(d->pairs[0].a.id == "s1");
  CHECK(d->pairs[0].b.id == "t1");
  CHECK(d->pairs[0].a.name == "Smith, John");
  CHECK(d->pairs[0].found_by == "scan");
  CHECK(d->patients == 2);  // x1 has no birth date, identifier or phone: no blocking key
  DuplicateQuery one;
  one.patient = "t1";
  auto only = find_duplicates(s, MatchConfig::builtin(), one);
  REQUIRE(only.ok());
  REQUIRE(only->pairs.size() == 1);
  CHECK(only->pairs[0].a.id == "s1");
  DuplicateQuery high;
  high.min_score = 1e6;
  CHECK(find_duplicates(s, MatchConfig::builtin(), high)->pairs.empty());
  DuplicateQuery queue;
  queue.queue_only = true;
  CHECK(find_duplicates(s, MatchConfig::builtin(), queue)->pairs.empty());
  CHECK(q1(s, "SELECT action || ' ' || detail FROM audit ORDER BY seq DESC LIMIT 1") == "search duplicates");

  REQUIRE(mark_not_duplicate(s, "t1", "s1", "twins").ok());
  CHECK(q1(s, "SELECT a || ' ' || b || ' ' || decision || ' ' || reason FROM match_decision") ==
        "s1 t1 not-duplicate twins");
  CHECK(find_duplicates(s, MatchConfig::builtin(), DuplicateQuery{})->pairs.empty());
  CHECK(mark_not_duplicate(s, "s1", "s1", "x").error().message() == "s1 and s1 are the same patient (Patient/s1)");
  CHECK(mark_not_duplicate(s, "s1", "t1", "").error().message() ==
        "a not-duplicate decision needs a reason (--reason)");
}

// Issue 7: the reference table holds no row for a reference to the
// record's own patient (migration 11); a merge finds those records by their
// patient column and the others through reference_patient.
std::string own_patient_rows(Session& s) {
  return q1(s, "SELECT count(*) FROM reference f JOIN resource r ON r.rid = f.rid "
               "WHERE f.target_type = 'Patient' AND f.target_id = r.patient");
}

// o3 is x1's, and names s1 as its performer and focus: a reference to a
// patient that is not the record's own.
void add_other_patients_record(Session& s) {
  make_raw(s, std::string(R"({"resourceType":"Observation","id":"o3",)") + kObs +
              R"(,"subject":{"reference":"Patient/x1"},"performer":[{"reference":"Patient/s1"}],)"
              R"("focus":[{"reference":"Patient/s1"}],"valueQuantity":{"value":3,"unit":"kg"}})");
}

// What a merge of s1 into t1 did to the chart and o3.
void check_merged(Session& s, const MergeOutcome& m) {
  CHECK(m.records == 4);  // o1, e1, x1 (link), o3 (performer, focus)
  CHECK(to_json(*current(s, "Observation", "o1").find("subject")) == R"({"reference":"Patient/t1"})");
  CHECK(to_json(*current(s, "Observation", "o1").find("performer")) == R"([{"reference":"Patient/t1"}])");
  CHECK(to_json(*current(s, "Encounter", "e1").find("subject")) == R"({"reference":"Patient/t1"})");
  Json o3 = stored(s, "Observation", "o3");
  CHECK(to_json(*o3.find("subject")) == R"({"reference":"Patient/x1"})");
  CHECK(to_json(*o3.find("performer")) == R"([{"reference":"Patient/t1"}])");
  CHECK(to_json(*o3.find("focus")) == R"([{"reference":"Patient/t1"}])");
  CHECK(to_json(*current(s, "Patient", "x1").find("link")) ==
        R"([{"other":{"reference":"Patient/t1"},"type":"seealso"}])");
  // p1, a Provenance (which a merge leaves as it was), names s1 alone.
  CHECK(q1(s, "SELECT group_concat(id) FROM (SELECT id FROM resource WHERE patient = 's1' ORDER BY id)") == "p1,s1");
  // Nothing refers to s1 any more but Provenance, d1's versioned reference
  // (left as it was) and t1's link (replaces).
  CHECK(q1(s, "SELECT group_concat(x) FROM (SELECT r.type || '/' || r.id AS x FROM reference f JOIN resource r "
              "ON r.rid = f.rid WHERE f.target_type = 'Patient' AND f.target_id = 's1' AND r.type <> 'Provenance' "
              "ORDER BY 1)") == "DocumentReference/d1,Patient/t1");
}

TEST_CASE("issue 7: no reference row to a record's own patient; a merge still moves every reference") {
  Fixture fx;
  Session s = fx.create();
  chart(s);
  add_other_patients_record(s);
  CHECK(own_patient_rows(s) == "0");
  // o3 and d1 name several patients (x1 and s1, t1 and s1): each of their
  // references to a patient is a row; x1's link too.
  CHECK(q1(s, "SELECT group_concat(x, '|') FROM (SELECT r.id || '>' || f.target_id AS x FROM reference f "
              "JOIN resource r ON r.rid = f.rid WHERE f.target_type = 'Patient' AND r.type <> 'Provenance' "
              "ORDER BY 1)") == "d1>s1|d1>t1|o3>s1|o3>s1|o3>x1|x1>s1");
  auto m = merge_patients(s, "s1", "t1", "dup");
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message()));
  check_merged(s, *m);
  CHECK(own_patient_rows(s) == "0");
  // And back: the rows follow the references.
  REQUIRE(unmerge_patient(s, "s1", "merged in error").ok());
  CHECK(to_json(*stored(s, "Observation", "o3").find("focus")) == R"([{"reference":"Patient/s1"}])");
  CHECK(own_patient_rows(s) == "0");
}

TEST_CASE("issue 7: migration 11 drops the reference rows to a record's own patient; the merge is the same") {
  Fixture fx;
  {
    Session s = fx.create();
    chart(s);
    add_other_patients_record(s);
    // As schema 10 wrote them: a row for every reference to the own patient
    // too (o1 names s1 twice, as subject and performer).
    REQUIRE(SessionImpl::of(s).db().exec(
        "INSERT INTO reference(rid, target_type, target_id) "
        "SELECT rid, 'Patient', patient FROM resource WHERE patient IS NOT NULL AND type <> 'Patient'; "
        "INSERT INTO reference(rid, target_type, target_id) "
        "SELECT rid, 'Patient', patient FROM resource WHERE id = 'o1'; DROP TABLE patient_key; PRAGMA user_version = 10").ok());
    CHECK(own_patient_rows(s) == "6");  // o1 twice, e1, p1, d1, o3
  }
  auto s = Session::open(fx.path, Secret::passphrase("pw"), fx.options("desk"));
  REQUIRE(s.ok());
  CHECK(q1(*s, "PRAGMA user_version") == std::to_string(current_schema_version()));
  CHECK(own_patient_rows(*s) == "0");
  CHECK(q1(*s, "SELECT count(*) FROM reference f JOIN resource r ON r.rid = f.rid "
               "WHERE r.id = 'o3' AND f.target_type = 'Patient' AND f.target_id = 's1'") == "2");
  auto m = merge_patients(*s, "s1", "t1", "dup");
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message()));
  check_merged(*s, *m);
}

TEST_CASE("migration 10 gives the patients stored before it their match keys, merged sources none") {
  Fixture fx;
  std::string keys;
  {
    Session s = fx.create();
    chart(s);
    REQUIRE(merge_patients(s, "s1", "t1", "dup").ok());
    keys = q1(s, "SELECT group_concat(id || ' ' || key, '|') FROM (SELECT r.id, k.key FROM match_key k "
                 "JOIN resource r ON r.rid = k.rid ORDER BY r.id, k.key)");
    CHECK(keys.find("t1 fb:") != std::string::npos);
    CHECK(keys.find("s1 ") == std::string::npos);
    REQUIRE(SessionImpl::of(s).db().exec(
        "DROP TABLE match_key; DROP TABLE match_review; DROP TABLE match_decision; DROP TABLE patient_merge; "
        "DROP TABLE patient_link; DROP INDEX reference_patient; DROP TABLE patient_key; PRAGMA user_version = 9").ok());
  }
  auto s = Session::open(fx.path, Secret::passphrase("pw"), fx.options("desk"));
  REQUIRE(s.ok());
  CHECK(q1(*s, "PRAGMA user_version") == std::to_string(current_schema_version()));
  CHECK(q1(*s, "SELECT group_concat(id || ' ' || key, '|') FROM (SELECT r.id, k.key FROM match_key k "
               "JOIN resource r ON r.rid = k.rid ORDER BY r.id, k.key)") == keys);
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
