// The decision point through a Session on a real encrypted database
// (core/src/access.cc, users.cc, policy_store.cc): care teams, withheld
// records, break-the-glass grants, denials in failed transactions, users,
// roles and keys, installing a policy, and explained decisions.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "ehr/access.h"
#include "support/policy_lines.h"
#include "ehr/builders.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "ehr/users.h"
#include "record_writer.h"
#include "session_impl.h"
#include "support/header_faults.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

constexpr const char* kT0 = "2026-11-25T10:00:00.000Z";

// A database whose first user alice is admin and physician; every user's
// passphrase is "pw-<name>". The clock is whatever `now` says.
struct Fixture {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  std::string now = kT0;

  SessionOptions options(const std::string& user, const std::string& emergency = "") {
    SessionOptions o;
    o.user = user;
    o.emergency_reason = emergency;
    o.first_user_roles = {"physician"};
    o.now = [this] { return now; };
    return o;
  }
  Session create() {
    auto s = Session::create(path, {"alice", "", testing::kFast}, Secret::passphrase("pw-alice"),
                             options("alice"));
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    return std::move(*s);
  }
  Result<Session> try_open(const std::string& user, const std::string& emergency = "") {
    return Session::open(path, Secret::passphrase("pw-" + user), options(user, emergency));
  }
  Session open(const std::string& user, const std::string& emergency = "") {
    auto s = try_open(user, emergency);
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    return std::move(*s);
  }
  // Adds `user` with `roles` through `admin`.
  // Whether `user` opens the database with passphrase `pass`.
  bool opens(const std::string& user, const std::string& pass) {
    return Session::open(path, Secret::passphrase(pass), options(user)).ok();
  }
  void add(Session& admin, const std::string& user, const std::vector<std::string>& roles) {
    auto r = add_user(admin, {user, "", testing::kFast}, roles, Secret::passphrase("pw-" + user));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  }
};

// Index, user and label of each key slot: what ehr key list shows.
std::string slot_list(Session& s) {
  auto l = s.store().list_slots();
  REQUIRE_MESSAGE(l.ok(), (l.ok() ? "" : l.error().message()));
  std::string out;
  for (const auto& i : *l) out += std::to_string(i.index) + " " + i.user + " " + i.label + ";";
  return out;
}

std::string sql(Session& s, const std::string& q) {
  auto r = SessionImpl::of(s).db().query_text(q);
  return r.ok() ? *r : "<error: " + r.error().message() + ">";
}

std::string message(const Status& st) { return st.ok() ? "ok" : st.error().message(); }
template <typename T>
std::string message(const Result<T>& r) {
  return r.ok() ? "ok" : r.error().message();
}
// The error code; nullopt for success.
template <typename T>
std::optional<ErrorCode> code(const Result<T>& r) {
  if (r.ok()) return std::nullopt;
  return r.error().code();
}
std::optional<ErrorCode> code(const Status& st) {
  if (st.ok()) return std::nullopt;
  return st.error().code();
}

// A security label coding for meta.security.
Json label(const std::string& system, const std::string& code) {
  Json c = Json::object();
  c.set("system", Json::string(system));
  c.set("code", Json::string(code));
  return c;
}

const char* kConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
const char* kActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

Json with_label(Json r, const std::string& system, const std::string& code) {
  Json meta = Json::object();
  Json sec = Json::array();
  sec.push_back(label(system, code));
  meta.set("security", std::move(sec));
  r.set("meta", std::move(meta));
  return r;
}

std::string new_patient(Session& s, const std::string& family) {
  PatientFields f;
  f.family = family;
  f.given = {"Ann"};
  f.birth_date = "1970-01-01";
  f.phone = "555-0100";
  Json p = *build_patient(f);
  Json text = Json::object();
  text.set("status", Json::string("generated"));
  text.set("div", Json::string("<div xmlns=\"http://www.w3.org/1999/xhtml\">Ann " + family + "</div>"));
  p.set("text", std::move(text));
  auto r = create_resource(s, p);
  REQUIRE_MESSAGE(r.ok(), message(r));
  return r->id;
}

Json weight(const std::string& patient, const std::string& kg, const std::string& date = "2026-11-20") {
  RecordFields f;
  f.kind = "vital";
  f.patient = patient;
  f.code = "29463-7";
  f.value = kg;
  f.unit = "kg";
  f.date = date;
  auto r = build_record(f);
  REQUIRE_MESSAGE(r.ok(), message(r));
  return *r;
}

Json note(const std::string& patient, const std::string& text) {
  RecordFields f;
  f.kind = "note";
  f.patient = patient;
  f.value = text;
  f.date = "2026-11-20";
  auto r = build_record(f);
  REQUIRE_MESSAGE(r.ok(), message(r));
  return *r;
}

std::string add_record(Session& s, Json r) {
  auto out = create_resource(s, std::move(r));
  REQUIRE_MESSAGE(out.ok(), message(out));
  return out->id;
}

std::vector<std::string> types_of(const std::vector<StoredResource>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.type + (r.security.empty() ? "" : "[" + r.security + "]"));
  return out;
}

RecordQuery record_of(const std::string& patient) {
  RecordQuery q;
  q.patient = patient;
  return q;
}

// The ids a patient search by `name` returns to `s`, then the withheld count.
std::string found_by_name(Session& s, const std::string& name) {
  PatientQuery q;
  q.name = name;
  auto r = search_patients(s, q);
  if (!r.ok()) return "error: " + message(r);
  std::string out;
  for (const auto& p : *r) out += p.id + " ";
  return out + "withheld " + std::to_string(s.withheld());
}

// The care team the Patient row of `p` carries (migration 4).
std::string team_column(Session& s, const std::string& p) {
  return sql(s, "SELECT coalesce(team, 'NULL') FROM resource WHERE type = 'Patient' AND id = '" + p + "'");
}

TEST_SUITE("access") {

TEST_CASE("a physician's care team decides who reads a patient's record") {
  Fixture fx;
  std::string p;
  {
    Session alice = fx.create();
    fx.add(alice, "bob", {"physician"});
    fx.add(alice, "rita", {"registrar"});
    fx.add(alice, "phil", {"pharmacist"});
    p = new_patient(alice, "Care");
    add_record(alice, weight(p, "70"));
    // The creating physician joins the team.
    auto team = care_team(alice, p);
    REQUIRE_MESSAGE(team.ok(), message(team));
    REQUIRE(team->size() == 1);
    CHECK((*team)[0].user == "alice");
    CHECK((*team)[0].role == "creator");
    CHECK((*team)[0].added_by == "alice");
  }
  const std::string denied = "user bob (roles: physician) may not read Patient " + p +
                             ": role physician: not on the patient's care team "
                             "(break the glass with --emergency --reason TEXT)";
  {
    Session bob = fx.open("bob");
    // A search decides each match by the team the Patient row carries.
    CHECK(team_column(bob, p) == "alice");
    CHECK(found_by_name(bob, "care") == "withheld 1");
    auto r = patient_records(bob, record_of(p));
    CHECK(code(r) == ErrorCode::kAccessDenied);
    CHECK(message(r) == denied);
    CHECK(sql(bob, "SELECT action || ' ' || outcome || ' ' || patients FROM audit ORDER BY seq DESC LIMIT 1") ==
          "read denied " + p);
    // Nor may he put himself on the team.
    auto self = add_team_member(bob, p, "bob", "attending");
    CHECK(code(self) == ErrorCode::kAccessDenied);
    CHECK(message(self) == "user bob (roles: physician) may not update CareTeam of patient " + p +
                               ": role physician: not on the patient's care team");
  }
  {
    // A pharmacist does not manage care teams.
    Session phil = fx.open("phil");
    auto r = add_team_member(phil, p, "bob", "attending");
    CHECK(message(r) == "user phil (roles: pharmacist) may not update CareTeam of patient " + p +
                            ": no role of the user allows update on CareTeam");
  }
  {
    Session rita = fx.open("rita");
    REQUIRE(add_team_member(rita, p, "bob", "attending").ok());
    CHECK(team_column(rita, p) == "alice bob");
  }
  {
    Session bob = fx.open("bob");
    CHECK(found_by_name(bob, "care") == p + " withheld 0");
    auto r = patient_records(bob, record_of(p));
    REQUIRE_MESSAGE(r.ok(), message(r));
    CHECK(types_of(*r) == std::vector<std::string>{"Patient", "Observation"});
    CHECK(bob.withheld() == 0);
  }
  {
    Session alice = fx.open("alice");
    REQUIRE(remove_team_member(alice, p, "bob").ok());
    auto team = care_team(alice, p);
    REQUIRE(team.ok());
    CHECK(team->size() == 1);
    CHECK(sql(alice, "SELECT group_concat(action || ' ' || user || ' ' || patients, ', ') FROM audit "
                     "WHERE action LIKE 'team-%'") ==
          "team-add rita " + p + ", team-remove alice " + p);
  }
  {
    Session bob = fx.open("bob");
    CHECK(team_column(bob, p) == "alice");
    CHECK(found_by_name(bob, "care") == "withheld 1");
    auto r = patient_records(bob, record_of(p));
    CHECK(code(r) == ErrorCode::kAccessDenied);
    CHECK(message(r) == denied);
  }
}

TEST_CASE("migration 4 gives existing Patient rows their care team; new patients sit below the records") {
  Fixture fx;
  std::string p, q;
  {
    Session alice = fx.create();
    fx.add(alice, "bob", {"physician"});
    p = new_patient(alice, "Older");
    REQUIRE(add_team_member(alice, p, "bob", "attending").ok());
    add_record(alice, weight(p, "70"));
    // A care-team row written before its patient (as a bulk load may) is on
    // the new Patient row too.
    REQUIRE(SessionImpl::of(alice).db().exec(
        "INSERT INTO care_team VALUES('early', 'bob', 'attending', '', 'alice')").ok());
    PatientFields f;
    f.family = "Early";
    Json early = *build_patient(f);
    early.set("id", Json::string("early"));
    REQUIRE(create_resource(alice, early).ok());
    CHECK(team_column(alice, "early") == "alice bob");
    q = new_patient(alice, "Newer");
    // Patients take rids below 2^40, records from 2^40 up.
    CHECK(sql(alice, "SELECT group_concat(type || ' ' || (rid >= 1099511627776), ', ') FROM "
                     "(SELECT type, rid FROM resource ORDER BY rid)") ==
          "Patient 0, Patient 0, Patient 0, Observation 1");
    // Back to how a database of schema 3 looked.
    REQUIRE(SessionImpl::of(alice).db().exec(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TRIGGER audit_chain_no_update; "
        "DROP TRIGGER audit_chain_no_delete; DROP TABLE audit_chain; DROP INDEX audit_time; "
        "ALTER TABLE audit DROP COLUMN tool; ALTER TABLE audit DROP COLUMN recipient; "
        "ALTER TABLE audit DROP COLUMN hash; "
        "DROP TRIGGER care_team_added; DROP TRIGGER care_team_removed; "
        "ALTER TABLE resource DROP COLUMN team; ALTER TABLE resource DROP COLUMN sort_name; "
        "DROP TABLE import_alias; DROP TABLE export_job; DROP TABLE export_job_member; "
        "DROP TABLE match_key; DROP TABLE match_review; DROP TABLE match_decision; DROP TABLE patient_merge; "
        "DROP TABLE patient_link; DROP INDEX reference_patient; "
        "ALTER TABLE resource DROP COLUMN action; "
        "ALTER TABLE resource DROP COLUMN author; ALTER TABLE resource DROP COLUMN reason; "
        "DROP TABLE patient_key; PRAGMA user_version = 3").ok());
  }
  Session bob = fx.open("bob");
  CHECK(sql(bob, "PRAGMA user_version") == std::to_string(current_schema_version()));
  CHECK(team_column(bob, p) == "alice bob");
  CHECK(team_column(bob, q) == "alice");
  CHECK(sql(bob, "SELECT count(*) FROM resource WHERE team IS NOT NULL") == "3");
  // And their sort key, as ehr folds names.
  CHECK(sql(bob, "SELECT group_concat(replace(sort_name, char(1), '|'), ', ') FROM "
                 "(SELECT sort_name FROM resource WHERE type = 'Patient' ORDER BY rid)") ==
        "older|ann, early|, newer|ann");
  CHECK(found_by_name(bob, "older") == p + " withheld 0");
  CHECK(found_by_name(bob, "newer") == "withheld 1");
}

TEST_CASE("records a role may not see are withheld and counted; a registrar sees demographics only") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "rita", {"registrar"});
  fx.add(alice, "nina", {"nurse"});
  std::string p = new_patient(alice, "Withheld");
  add_record(alice, weight(p, "70"));
  // An earlier date: a record lists each type newest first.
  add_record(alice, with_label(weight(p, "71", "2026-11-19"), kConfidentiality, "R"));
  std::string psy = add_record(alice, with_label(note(p, "session 3"), kActCode, "PSYTHPN"));
  REQUIRE(add_team_member(alice, p, "nina", "nurse").ok());

  {
    Session rita = fx.open("rita");
    auto r = patient_records(rita, record_of(p));
    REQUIRE_MESSAGE(r.ok(), message(r));
    REQUIRE(r->size() == 1);
    CHECK(rita.withheld() == 3);
    const Json& shown = r->front().resource;
    CHECK(shown.find("text") == nullptr);
    CHECK(shown.find("name") != nullptr);
    CHECK(shown.find("birthDate") != nullptr);
    CHECK(to_json(*shown.find("meta")->find("security")) ==
          R"([{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"REDACTED","display":"redacted"}])");
    CHECK(sql(rita, "SELECT count || ' ' || detail FROM audit ORDER BY seq DESC LIMIT 1") ==
          "1 record withheld 3");

    // Her update of the filtered copy changes what she sees and keeps the rest.
    Json changed = shown;
    changed.set("gender", Json::string("female"));
    auto u = update_resource(rita, changed, "gender at check-in");
    REQUIRE_MESSAGE(u.ok(), message(u));
    CHECK(u->version == 2);
    CHECK(u->resource.find("text") != nullptr);
    CHECK(u->resource.find("meta")->find("security") == nullptr);
  }
  {
    // The nurse is cleared for restricted records, not for psychotherapy notes.
    Session nina = fx.open("nina");
    auto r = patient_records(nina, record_of(p));
    REQUIRE_MESSAGE(r.ok(), message(r));
    CHECK(types_of(*r) == std::vector<std::string>{"Patient", "Observation", "Observation[R]"});
    CHECK(nina.withheld() == 1);
    auto one = read_resource(nina, "DocumentReference", psy);
    CHECK(code(one) == ErrorCode::kAccessDenied);
    CHECK(message(one) == "user nina (roles: nurse) may not read DocumentReference of patient " + p +
                              ": role nurse is not cleared for records labelled psychotherapy");
  }
  {
    auto r = patient_records(alice, record_of(p));
    REQUIRE_MESSAGE(r.ok(), message(r));
    CHECK(types_of(*r) ==
          std::vector<std::string>{"Patient", "DocumentReference[PSYTHPN]", "Observation", "Observation[R]"});
    CHECK(alice.withheld() == 0);
  }
}

TEST_CASE("break-the-glass reads outside the care team for the policy's minutes, flagged and audited") {
  Fixture fx;
  std::string p;
  {
    Session alice = fx.create();
    fx.add(alice, "bob", {"physician"});
    fx.add(alice, "phil", {"pharmacist"});
    p = new_patient(alice, "Glass");
    add_record(alice, weight(p, "70"));
  }
  fx.now = "2026-11-25T11:00:00.000Z";
  {
    Session bob = fx.open("bob", "unconscious in the ED");
    auto r = patient_records(bob, record_of(p));
    REQUIRE_MESSAGE(r.ok(), message(r));
    CHECK(r->size() == 2);
    CHECK(sql(bob, "SELECT user || '|' || patient || '|' || reason || '|' || started || '|' || expires "
                   "FROM emergency") ==
          "bob|" + p + "|unconscious in the ED|2026-11-25T11:00:00.000Z|2026-11-25T12:00:00.000Z");
    CHECK(sql(bob, "SELECT group_concat(action || ':' || outcome || ':' || emergency, ',') FROM audit "
                   "WHERE user = 'bob'") == "emergency:ok:1,read:ok:1");
    // Break-the-glass reads: it does not write, nor join the care team.
    auto w = create_resource(bob, weight(p, "72"));
    CHECK(code(w) == ErrorCode::kAccessDenied);
    CHECK(message(w) == "user bob (roles: physician) may not create Observation of patient " + p +
                            ": role physician: not on the patient's care team");
    auto join = add_team_member(bob, p, "bob", "attending");
    CHECK(code(join) == ErrorCode::kAccessDenied);
    CHECK(sql(bob, "SELECT count(*) FROM care_team WHERE user = 'bob'") == "0");
  }
  fx.now = "2026-11-25T11:59:59.000Z";
  {
    // The grant is still active: no reason needed, still flagged.
    Session bob = fx.open("bob");
    auto r = patient_records(bob, record_of(p));
    REQUIRE_MESSAGE(r.ok(), message(r));
    CHECK(sql(bob, "SELECT emergency FROM audit ORDER BY seq DESC LIMIT 1") == "1");
    CHECK(sql(bob, "SELECT count(*) FROM emergency") == "1");
    // In the same session, the grant ends when its time is up.
    fx.now = "2026-11-25T12:00:01.000Z";
    auto later = patient_records(bob, record_of(p));
    CHECK(code(later) == ErrorCode::kAccessDenied);
  }
  {
    Session bob = fx.open("bob");
    auto r = patient_records(bob, record_of(p));
    CHECK(code(r) == ErrorCode::kAccessDenied);
    CHECK(message(r) == "user bob (roles: physician) may not read Patient " + p +
                            ": role physician: not on the patient's care team "
                            "(break the glass with --emergency --reason TEXT)");
  }
  {
    // A role the policy does not make eligible cannot break the glass.
    Session phil = fx.open("phil", "covering the night shift");
    auto r = patient_records(phil, record_of(p));
    CHECK(code(r) == ErrorCode::kAccessDenied);
    CHECK(message(r) == "user phil (roles: pharmacist) may not read Patient " + p +
                            ": role pharmacist: not on the patient's care team");
    CHECK(sql(phil, "SELECT count(*) FROM emergency WHERE user = 'phil'") == "0");
  }
}

// The patient column of type/id, "NULL" when none.
std::string patient_column(Session& s, const std::string& type, const std::string& id) {
  return sql(s, "SELECT coalesce(patient, 'NULL') FROM resource WHERE type = '" + type + "' AND id = '" + id + "'");
}

Json parsed(const std::string& text) {
  auto j = parse_json(text);
  REQUIRE_MESSAGE(j.ok(), message(j));
  return *j;
}

// Security finding 1: a record belonged to a patient only through subject,
// patient or beneficiary, so an Appointment, a Task, a ResearchSubject was
// every clinician's to read, and its audit rows named no patient.
TEST_CASE("a record belongs to the patient it references anywhere; several patients or an unknown one are nobody's") {
  Fixture fx;
  std::string a, b;
  {
    Session alice = fx.create();
    fx.add(alice, "nina", {"nurse"});
    fx.add(alice, "bob", {"physician"});
    fx.add(alice, "rita", {"registrar"});
    a = new_patient(alice, "Alpha");
    PatientFields f;
    f.family = "Bravo";
    f.mrn = "MRNB";
    f.mrn_system = "urn:test:mrn";
    b = create_resource(alice, *build_patient(f))->id;
    REQUIRE(add_team_member(alice, a, "nina", "nurse").ok());
    add_record(alice, parsed(R"({"resourceType":"Appointment","id":"appt","status":"booked",)"
                             R"("participant":[{"actor":{"reference":"Practitioner/dr"},"status":"accepted"},)"
                             R"({"actor":{"reference":"Patient/)" + b + R"("},"status":"accepted"}]})"));
    add_record(alice, parsed(R"({"resourceType":"Task","id":"task","status":"requested","intent":"order",)"
                             R"("for":{"reference":"Patient/)" + b + R"("}})"));
    add_record(alice, parsed(R"({"resourceType":"ResearchSubject","id":"rs","status":"on-study",)"
                             R"("study":{"reference":"ResearchStudy/s1"},"individual":{"reference":"Patient/)" + b +
                             R"("}})"));
    add_record(alice, parsed(R"({"resourceType":"Device","id":"dev","patient":{"reference":"Patient/)" + b + R"("}})"));
    // By identifier: the MRN of exactly one stored patient, then of none.
    add_record(alice, parsed(R"({"resourceType":"Observation","id":"by-mrn","status":"final",)"
                             R"("code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},)"
                             R"("subject":{"identifier":{"system":"urn:test:mrn","value":"MRNB"}}})"));
    // A record of an unknown patient, or of several, no care-team rule lets
    // alice create (an import brings them): written as the importer writes.
    Json unknown = parsed(R"({"resourceType":"Observation","id":"by-unknown","status":"final",)"
                          R"("code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},)"
                          R"("subject":{"identifier":{"system":"urn:test:mrn","value":"NOBODY"}}})");
    Json group = parsed(R"({"resourceType":"Group","id":"grp","type":"person","actual":true,"member":[)"
                        R"({"entity":{"reference":"Patient/)" + a + R"("}},{"entity":{"reference":"Patient/)" + b +
                        R"("}}]})");
    auto denied = create_resource(alice, group);
    CHECK(message(denied) == "user alice (roles: admin physician) may not create Group of several patients: the "
                             "record belongs to several patients; rules limited to the care team never allow it");
    SessionImpl& impl = SessionImpl::of(alice);
    for (Json* r : {&unknown, &group})
      REQUIRE(impl.transaction([&]() -> Status {
                    auto w = detail::write_created(impl, *r, "");
                    return w.ok() ? Status() : Status(w.error());
                  }).ok());
    CHECK(patient_column(alice, "Appointment", "appt") == b);
    CHECK(patient_column(alice, "Task", "task") == b);
    CHECK(patient_column(alice, "ResearchSubject", "rs") == b);
    CHECK(patient_column(alice, "Device", "dev") == b);
    CHECK(patient_column(alice, "Observation", "by-mrn") == b);
    CHECK(patient_column(alice, "Observation", "by-unknown") == "?");
    CHECK(patient_column(alice, "Group", "grp") == "*");
    // A record of several patients keeps its reference rows to all of them
    // (a merge finds it by them).
    CHECK(sql(alice, "SELECT count(*) FROM reference f JOIN resource r ON r.rid = f.rid "
                     "WHERE r.id = 'grp' AND f.target_type = 'Patient'") == "2");
    // The audit entry of a read names the patient; of a record of several, each.
    REQUIRE(read_resource(alice, "Task", "task").ok());
    CHECK(sql(alice, "SELECT patients FROM audit ORDER BY seq DESC LIMIT 1") == b);
    // alice is on both teams, yet no care-team rule allows a record of several patients.
    auto g = read_resource(alice, "Group", "grp");
    CHECK(code(g) == ErrorCode::kAccessDenied);
    CHECK(message(g) == "user alice (roles: admin physician) may not read Group of several patients: the record "
                        "belongs to several patients; rules limited to the care team never allow it");
    auto u = read_resource(alice, "Observation", "by-unknown");
    CHECK(message(u) == "user alice (roles: admin physician) may not read Observation of an unidentified patient: "
                        "the record's patient is given by an identifier that names no one stored patient; "
                        "rules limited to the care team never allow it");
    CHECK(sql(alice, "SELECT action || ' ' || outcome || ' [' || patients || ']' FROM audit ORDER BY seq DESC "
                     "LIMIT 1") == "read denied []");
  }
  {
    // nina, on a's team only, sees none of b's records, nor the others.
    Session nina = fx.open("nina");
    RecordQuery q;
    auto l = list_resources(nina, q);
    REQUIRE_MESSAGE(l.ok(), message(l));
    CHECK(types_of(*l) == std::vector<std::string>{"Patient"});
    CHECK(nina.withheld() == 8);
    for (auto [type, id] : std::vector<std::pair<std::string, std::string>>{
             {"Appointment", "appt"}, {"Task", "task"}, {"ResearchSubject", "rs"}, {"Observation", "by-mrn"}}) {
      auto r = read_resource(nina, type, id);
      CHECK(message(r) == "user nina (roles: nurse) may not read " + type + " of patient " + b +
                              ": role nurse: not on the patient's care team "
                              "(break the glass with --emergency --reason TEXT)");
    }
  }
  {
    // Break the glass covers one patient's records, never a record of several.
    Session bob = fx.open("bob", "collapsed in the waiting room");
    auto g = read_resource(bob, "Group", "grp");
    CHECK(code(g) == ErrorCode::kAccessDenied);
    auto u = read_resource(bob, "Observation", "by-unknown");
    CHECK(code(u) == ErrorCode::kAccessDenied);
    CHECK(sql(bob, "SELECT count(*) FROM emergency") == "0");
    auto t = read_resource(bob, "Task", "task");
    REQUIRE_MESSAGE(t.ok(), message(t));
    CHECK(sql(bob, "SELECT patient FROM emergency") == b);
    auto g2 = read_resource(bob, "Group", "grp");
    CHECK(code(g2) == ErrorCode::kAccessDenied);
  }
  {
    // Older databases: migration 12 computes every record's patient again.
    Session alice = fx.open("alice");
    REQUIRE(SessionImpl::of(alice).db().exec(
        "UPDATE resource SET patient = NULL WHERE type IN ('Appointment', 'Task', 'Group'); "
        "UPDATE resource SET patient = 'MRNB' WHERE id = 'by-mrn'; "
        "INSERT INTO reference SELECT rid, 'Patient', '" + b + "' FROM resource WHERE id = 'task'; "
        "DELETE FROM reference WHERE rid = (SELECT rid FROM resource WHERE id = 'grp'); "
        "DROP TABLE patient_key; PRAGMA user_version = 11").ok());
  }
  Session alice = fx.open("alice");
  CHECK(sql(alice, "PRAGMA user_version") == std::to_string(current_schema_version()));
  CHECK(patient_column(alice, "Appointment", "appt") == b);
  CHECK(patient_column(alice, "Task", "task") == b);
  CHECK(patient_column(alice, "Observation", "by-mrn") == b);
  CHECK(patient_column(alice, "Group", "grp") == "*");
  CHECK(sql(alice, "SELECT count(*) FROM reference f JOIN resource r ON r.rid = f.rid "
                   "WHERE r.id IN ('grp', 'task') AND f.target_type = 'Patient'") == "2");
}

// QA finding (interop sweep, 07): a result naming its patient only by MRN,
// written before the Patient (a lab feed ahead of registration), stayed in
// no chart for good. Writing a Patient now moves the records keyed on an
// identifier it gains or loses, audited, as far as its writer may move them.
TEST_CASE("records naming their patient by identifier follow the Patients that hold it") {
  Fixture fx;
  {
    Session alice = fx.create();
    fx.add(alice, "feed", {"service"});
  }
  Session feed = fx.open("feed");
  SessionImpl& impl = SessionImpl::of(feed);
  // Writes as an import does (the service role imports).
  auto write = [&](Json r) -> std::string {
    std::string id;
    REQUIRE(impl.transaction([&]() -> Status {
                  auto w = detail::write_created(impl, std::move(r), "");
                  if (w.ok()) id = w->id;
                  return w.ok() ? Status() : Status(w.error());
                }).ok());
    return id;
  };
  auto update = [&](const std::string& type, const std::string& id, const std::function<void(Json&)>& change) {
    REQUIRE(impl.transaction([&]() -> Status {
                  auto cur = detail::load_resource(impl, type, id);
                  if (!cur.ok()) return cur.error();
                  Json next = (*cur)->resource;
                  change(next);
                  auto w = detail::write_version(impl, **cur, std::move(next), "update", "", nullptr);
                  return w.ok() ? Status() : Status(w.error());
                }).ok());
  };
  auto obs = [](const std::string& id, const std::string& subject) {
    return parsed(R"({"resourceType":"Observation","id":")" + id + R"(","status":"final",)"
                  R"("code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},"subject":)" + subject + "}");
  };
  auto patient = [](const std::string& id, const std::string& system, const std::string& mrn) {
    return parsed(R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":")" + id +
                  R"("}],"identifier":[{"system":")" + system + R"(","value":")" + mrn + R"("}]})");
  };
  auto links = [&]() {
    return sql(feed, "SELECT group_concat(user || ' [' || patients || '] [' || resources || '] ' || count, '; ') "
                     "FROM (SELECT * FROM audit WHERE action = 'link' ORDER BY seq)");
  };
  write(obs("early", R"({"identifier":{"system":"urn:test:mrn","value":"MRN-7"}})"));
  write(obs("loose", R"({"identifier":{"value":"NOBODY"}})"));
  write(obs("gone", R"({"identifier":{"system":"urn:test:mrn","value":"GONE"}})"));
  CHECK(patient_column(feed, "Observation", "early") == "?");
  CHECK(sql(feed, "SELECT group_concat(r.id || ' ' || k.system || '|' || k.value, ', ') FROM "
                  "(SELECT * FROM patient_key ORDER BY rid) k JOIN resource r ON r.rid = k.rid") ==
        "early urn:test:mrn|MRN-7, loose |NOBODY, gone urn:test:mrn|GONE");
  // Another system's MRN-7 moves nothing.
  write(patient("elsewhere", "urn:test:other", "MRN-7"));
  CHECK(patient_column(feed, "Observation", "early") == "?");
  CHECK(links() == "");
  // Registered, with a typo: MRN-7 is p1's now, and the result joins p1's chart.
  write(patient("p1", "urn:test:mrn", "MRN-7"));
  CHECK(patient_column(feed, "Observation", "early") == "p1");
  CHECK(links() == "feed [p1] [Observation/early] 1");
  // Its version stays; its change sequence is later than p1's, so that an
  // incremental export of p1's records (export --job) finds it.
  CHECK(sql(feed, "SELECT (SELECT version FROM resource WHERE id = 'early') || ' ' || "
                  "((SELECT seq FROM resource WHERE id = 'early') > (SELECT seq FROM resource WHERE id = 'p1'))") ==
        "1 1");
  CHECK(sql(feed, "SELECT group_concat(type || '/' || id, ' ') FROM (SELECT type, id FROM resource "
                  "WHERE patient = 'p1' ORDER BY type)") == "Observation/early Patient/p1");
  // The typo corrected: the result leaves p1's chart and waits.
  update("Patient", "p1", [](Json& p) { p.erase("identifier"); });
  CHECK(patient_column(feed, "Observation", "early") == "?");
  // The real MRN-7 patient, and then a duplicate holding it too: ambiguous, no one's.
  write(patient("p9", "urn:test:mrn", "MRN-7"));
  CHECK(patient_column(feed, "Observation", "early") == "p9");
  write(patient("dup", "urn:test:mrn", "MRN-7"));
  CHECK(patient_column(feed, "Observation", "early") == "?");
  // The duplicate entered in error: MRN-7 is p9's alone again.
  update("Patient", "dup", [](Json& p) { p.set("active", Json::boolean(false)); });
  CHECK(patient_column(feed, "Observation", "early") == "?");  // inactive still holds it
  REQUIRE(impl.transaction([&]() -> Status {
                auto cur = detail::load_resource(impl, "Patient", "dup");
                if (!cur.ok()) return cur.error();
                auto w = detail::write_version(impl, **cur, detail::retracted_content((*cur)->resource), "retract",
                                               "duplicate", nullptr);
                return w.ok() ? Status() : Status(w.error());
              }).ok());
  CHECK(patient_column(feed, "Observation", "early") == "p9");
  CHECK(links() == "feed [p1] [Observation/early] 1; feed [p1] [Observation/early] 1; "
                   "feed [p9] [Observation/early] 1; feed [dup p9] [Observation/early] 1; "
                   "feed [dup p9] [Observation/early] 1");
  // A purged record's keys go with it; a new version's keys replace the old.
  {
    Session alice = fx.open("alice");
    REQUIRE(purge_resource(alice, "Observation", "gone", "test").ok());
  }
  update("Observation", "loose", [](Json& o) { o.set("subject", parsed(R"({"reference":"Patient/p9"})")); });
  CHECK(sql(feed, "SELECT group_concat(r.id || ' ' || k.system || '|' || k.value, ', ') FROM patient_key k "
                  "JOIN resource r ON r.rid = k.rid") == "early urn:test:mrn|MRN-7");
}

// QA finding (review of the above): a physician registered a Patient with
// ten guessed MRNs and so pulled other people's waiting results into a
// chart of their own. A record moves only if the writer may update or
// import it where it is: records of an unidentified patient stay.
TEST_CASE("registering a Patient does not move records its writer may not update") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "feed", {"service"});
  SessionImpl& impl = SessionImpl::of(alice);
  Json early = parsed(R"({"resourceType":"Observation","id":"early","status":"final",)"
                      R"("code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},)"
                      R"("subject":{"identifier":{"system":"urn:test:mrn","value":"MRN-1001"}}})");
  REQUIRE(impl.transaction([&]() -> Status {
                auto w = detail::write_created(impl, early, "");
                return w.ok() ? Status() : Status(w.error());
              }).ok());
  PatientFields f;
  f.family = "Guess";
  f.mrn = "MRN-1001";
  f.mrn_system = "urn:test:mrn";
  auto p = create_resource(alice, *build_patient(f));
  REQUIRE_MESSAGE(p.ok(), message(p));
  CHECK(patient_column(alice, "Observation", "early") == "?");
  CHECK(sql(alice, "SELECT count(*) FROM audit WHERE action = 'link'") == "0");
  CHECK(code(read_resource(alice, "Observation", "early")) == ErrorCode::kAccessDenied);
  // The feed's next write of that Patient moves it.
  Session feed = fx.open("feed");
  SessionImpl& fimpl = SessionImpl::of(feed);
  REQUIRE(fimpl.transaction([&]() -> Status {
                auto cur = detail::load_resource(fimpl, "Patient", p->id);
                if (!cur.ok()) return cur.error();
                Json next = (*cur)->resource;
                next.set("gender", Json::string("female"));
                auto w = detail::write_version(fimpl, **cur, std::move(next), "update", "", nullptr);
                return w.ok() ? Status() : Status(w.error());
              }).ok());
  CHECK(patient_column(feed, "Observation", "early") == p->id);
}

// Stop 29's list: an admin (who may neither update nor import records)
// purged a Patient, and the records its MRN gave it stayed in the
// tombstone's chart. Removing a Patient takes them out of its chart.
TEST_CASE("purging a Patient moves the records its identifiers gave it out of its chart") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "feed", {"service"});
  fx.add(alice, "adm", {"admin"});
  Session feed = fx.open("feed");
  SessionImpl& impl = SessionImpl::of(feed);
  for (const char* json :
       {R"({"resourceType":"Patient","id":"p1","name":[{"family":"One"}],)"
        R"("identifier":[{"system":"urn:test:mrn","value":"MRN-7"}]})",
        R"({"resourceType":"Observation","id":"early","status":"final",)"
        R"("code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},)"
        R"("subject":{"identifier":{"system":"urn:test:mrn","value":"MRN-7"}}})"})
    REQUIRE(impl.transaction([&]() -> Status {
                  auto w = detail::write_created(impl, parsed(json), "");
                  return w.ok() ? Status() : Status(w.error());
                }).ok());
  CHECK(patient_column(feed, "Observation", "early") == "p1");
  {
    Session adm = fx.open("adm");
    REQUIRE(purge_resource(adm, "Patient", "p1", "registered in error").ok());
    CHECK(sql(adm, "SELECT user || ' [' || patients || '] [' || resources || '] ' || count FROM audit "
                   "WHERE action = 'link' ORDER BY seq DESC LIMIT 1") == "adm [p1] [Observation/early] 1");
  }
  CHECK(patient_column(feed, "Observation", "early") == "?");
}

// Migration 14 writes the keys of stored records and moves none of them (a
// migration has no user to audit the move as).
TEST_CASE("migration 14 indexes the patient keys of stored records") {
  Fixture fx;
  Session alice = fx.create();
  SessionImpl& impl = SessionImpl::of(alice);
  Json early = parsed(R"({"resourceType":"Observation","id":"early","status":"final",)"
                      R"("code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},)"
                      R"("subject":{"identifier":{"system":"urn:test:mrn","value":"STILL"}}})");
  REQUIRE(impl.transaction([&]() -> Status {
                auto w = detail::write_created(impl, early, "");
                return w.ok() ? Status() : Status(w.error());
              }).ok());
  REQUIRE(impl.db().exec("DROP TABLE patient_key; PRAGMA user_version = 13").ok());
  Session again = fx.open("alice");
  CHECK(sql(again, "PRAGMA user_version") == std::to_string(current_schema_version()));
  CHECK(sql(again, "SELECT group_concat(k.system || '|' || k.value) FROM patient_key k") == "urn:test:mrn|STILL");
  CHECK(sql(again, "SELECT count(*) FROM audit WHERE action = 'link'") == "0");
}

// Security finding 2: a history was decided on its newest version only, so
// the versions before a label or a code was dropped were shown.
TEST_CASE("a history withholds each earlier version the reader may not see, counts them and audits the count") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "nina", {"nurse"});
  fx.add(alice, "phil", {"pharmacist"});
  std::string p = new_patient(alice, "History");
  REQUIRE(add_team_member(alice, p, "nina", "nurse").ok());
  REQUIRE(add_team_member(alice, p, "phil", "pharmacy").ok());
  std::string psy = add_record(alice, with_label(note(p, "session 3"), kActCode, "PSYTHPN"));
  RecordFields lab;
  lab.kind = "lab";
  lab.patient = p;
  lab.code = "2345-7";
  lab.value = "13.3";
  lab.unit = "mmol/L";
  lab.date = "2026-11-20";
  std::string glu = add_record(alice, *build_record(lab));
  {
    Session nina = fx.open("nina");
    CHECK(code(resource_history(nina, "DocumentReference", psy)) == ErrorCode::kAccessDenied);
    Session phil = fx.open("phil");
    CHECK(code(resource_history(phil, "Observation", glu)) == ErrorCode::kAccessDenied);
  }
  // The label dropped in version 2; the lab recoded to a body weight.
  Json v2 = read_resource(alice, "DocumentReference", psy)->resource;
  v2.erase("meta");
  REQUIRE(update_resource(alice, v2, "publish a summary").ok());
  Json o2 = weight(p, "70");
  o2.set("id", Json::string(glu));
  REQUIRE(update_resource(alice, o2, "recode").ok());
  REQUIRE(retract_resource(alice, "Observation", glu, "wrong patient").ok());
  {
    Session nina = fx.open("nina");
    auto h = resource_history(nina, "DocumentReference", psy);
    REQUIRE_MESSAGE(h.ok(), message(h));
    REQUIRE(h->size() == 1);
    CHECK(h->front().version == 2);
    CHECK(nina.withheld() == 1);
    CHECK(sql(nina, "SELECT patients || '|' || resources || '|' || count || '|' || detail FROM audit "
                    "ORDER BY seq DESC LIMIT 1") ==
          p + "|DocumentReference/" + psy + "/_history|1|DocumentReference withheld 1");
  }
  {
    Session phil = fx.open("phil");
    auto h = resource_history(phil, "Observation", glu);
    REQUIRE_MESSAGE(h.ok(), message(h));
    std::vector<std::int64_t> versions;
    for (const auto& v : *h) versions.push_back(v.version);
    CHECK(versions == std::vector<std::int64_t>{2, 3});
    CHECK(phil.withheld() == 1);
  }
  {
    // The physician sees every version.
    auto h = resource_history(alice, "DocumentReference", psy);
    REQUIRE(h.ok());
    CHECK(h->size() == 2);
    CHECK(alice.withheld() == 0);
    CHECK(sql(alice, "SELECT count || '|' || detail FROM audit ORDER BY seq DESC LIMIT 1") == "2|DocumentReference");
  }
}

// Security finding 3: record list and patient list wrote entries naming no
// patient, so emergencies and disclosures missed them.
TEST_CASE("a list's audit entry names the patients it returned and is flagged when a grant was used") {
  Fixture fx;
  std::string p, q;
  {
    Session alice = fx.create();
    fx.add(alice, "bob", {"physician"});
    p = new_patient(alice, "Listed");
    q = new_patient(alice, "Other");
    add_record(alice, weight(p, "70"));
    add_record(alice, weight(q, "80"));
    RecordQuery all;
    all.types = {"Patient"};
    REQUIRE(list_resources(alice, all).ok());
    std::string both = p < q ? p + " " + q : q + " " + p;
    CHECK(sql(alice, "SELECT patients || '|' || count || '|' || emergency FROM audit ORDER BY seq DESC LIMIT 1") ==
          both + "|2|0");
  }
  {
    Session bob = fx.open("bob", "seizure in the lobby");
    REQUIRE(read_resource(bob, "Patient", p).ok());
  }
  Session bob = fx.open("bob");
  RecordQuery obs;
  obs.types = {"Observation"};
  auto l = list_resources(bob, obs);
  REQUIRE_MESSAGE(l.ok(), message(l));
  CHECK(l->size() == 1);
  CHECK(bob.withheld() == 1);
  CHECK(sql(bob, "SELECT action || '|' || patients || '|' || count || '|' || emergency FROM audit "
                 "ORDER BY seq DESC LIMIT 1") == "search|" + p + "|1|1");
}

TEST_CASE("an update that marks a record entered-in-error needs the retract permission") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "nina", {"nurse"});
  std::string p = new_patient(alice, "Retract");
  std::string obs = add_record(alice, weight(p, "70"));
  REQUIRE(add_team_member(alice, p, "nina", "nurse").ok());
  auto stored = read_resource(alice, "Observation", obs);
  REQUIRE(stored.ok());
  Json wrong = stored->resource;
  wrong.set("status", Json::string("entered-in-error"));
  {
    // A nurse updates (a corrected value) but does not retract.
    Session nina = fx.open("nina");
    Json corrected = stored->resource;
    corrected.find("valueQuantity")->set("value", Json::number(70.5));
    REQUIRE(update_resource(nina, corrected, "typo").ok());
    wrong.find("meta")->set("versionId", Json::string("2"));
    auto r = update_resource(nina, wrong, "wrong patient");
    CHECK(code(r) == ErrorCode::kAccessDenied);
    CHECK(message(r) == "user nina (roles: nurse) may not retract Observation of patient " + p +
                            ": no role of the user allows retract on Observation");
    CHECK(sql(nina, "SELECT version || ' ' || retracted FROM resource WHERE id = '" + obs + "'") == "2 0");
    CHECK(sql(nina, "SELECT action || ' ' || outcome FROM audit ORDER BY seq DESC LIMIT 1") == "retract denied");
  }
  auto r = update_resource(alice, wrong, "wrong patient");
  REQUIRE_MESSAGE(r.ok(), message(r));
  CHECK(r->retracted);
}

TEST_CASE("a denial inside a transaction that fails still leaves its audit entry") {
  Fixture fx;
  std::string mine, theirs, obs;
  {
    Session alice = fx.create();
    fx.add(alice, "bob", {"physician"});
    mine = new_patient(alice, "Mine");
  }
  {
    Session bob = fx.open("bob");
    theirs = new_patient(bob, "Theirs");
    obs = add_record(bob, weight(theirs, "80"));
  }
  Session alice = fx.open("alice");
  // The new content names alice's patient (allowed); the stored record is of
  // bob's (denied, inside the update's transaction).
  Json moved = weight(mine, "81");
  moved.set("id", Json::string(obs));
  auto r = update_resource(alice, moved, "wrong chart");
  CHECK(code(r) == ErrorCode::kAccessDenied);
  // (No break-the-glass hint: it would not allow an update.)
  CHECK(message(r) == "user alice (roles: admin physician) may not update Observation of patient " + theirs +
                          ": role physician: not on the patient's care team");
  CHECK(sql(alice, "SELECT action || ' ' || outcome || ' ' || patients || ' ' || detail FROM audit "
                   "ORDER BY seq DESC LIMIT 1") == "update denied " + theirs + " Observation");
  CHECK(sql(alice, "SELECT version || ' ' || patient FROM resource WHERE id = '" + obs + "'") == "1 " + theirs);
}

TEST_CASE("a session keeps working after another session commits between its reads and writes") {
  // Each one-row lookup (the user at open, a record, the care team, a grant)
  // must release its read snapshot: one left open makes the session's next
  // write fail with "database is locked" once anyone else has committed.
  Fixture fx;
  std::string p, obs;
  {
    Session alice = fx.create();
    fx.add(alice, "bob", {"physician"});
    p = new_patient(alice, "Busy");
    obs = add_record(alice, weight(p, "70"));
  }
  Session alice = fx.open("alice");
  {
    Session bob = fx.open("bob");  // commits an audit entry (a denial)
    REQUIRE(code(read_resource(bob, "Patient", p)) == ErrorCode::kAccessDenied);
  }
  auto team = add_team_member(alice, p, "bob", "attending");
  REQUIRE_MESSAGE(team.ok(), message(team));
  REQUIRE(read_resource(alice, "Observation", obs).ok());
  {
    Session bob = fx.open("bob");
    REQUIRE(read_resource(bob, "Patient", p).ok());
  }
  auto again = remove_team_member(alice, p, "bob");
  CHECK_MESSAGE(again.ok(), message(again));
  auto w = create_resource(alice, weight(p, "71"));
  CHECK_MESSAGE(w.ok(), message(w));
}

TEST_CASE("users: add, disable, enable, roles and keys, each with its errors and audit entry") {
  Fixture fx;
  Session alice = fx.create();
  const std::string policy_roles = "admin, physician, nurse, pharmacist, lab, registrar, auditor, service";

  SUBCASE("add_user") {
    auto r = add_user(alice, {"bob", "desk", testing::kFast}, {"physician"}, Secret::passphrase("pw-bob"));
    REQUIRE_MESSAGE(r.ok(), message(r));
    CHECK(*r == 1);
    auto u = get_user(alice, "bob");
    REQUIRE(u.ok());
    CHECK(u->roles == std::vector<std::string>{"physician"});
    CHECK_FALSE(u->disabled);
    CHECK(u->created == kT0);
    CHECK(u->created_by == "alice");
    CHECK(u->slots == std::vector<int>{1});

    struct Case {
      std::string what;
      std::string user;
      std::string label;
      std::vector<std::string> roles;
      ErrorCode code;
      std::string message;
    };
    std::vector<Case> cases = {
        {"bad name", "Bob!", "", {"nurse"}, ErrorCode::kInvalidArgument,
         "user name must be 1-32 of a-z, 0-9, '.', '-', '_'"},
        {"name too long", std::string(33, 'x'), "", {"nurse"}, ErrorCode::kInvalidArgument,
         "user name must be 1-32 of a-z, 0-9, '.', '-', '_'"},
        {"no roles", "carl", "", {}, ErrorCode::kInvalidArgument, "give at least one role (--role)"},
        {"unknown role", "carl", "", {"nurse", "surgeon"}, ErrorCode::kInvalidArgument,
         "unknown role surgeon (the policy has: " + policy_roles + ")"},
        {"exists", "bob", "", {"nurse"}, ErrorCode::kAlreadyExists, "user bob exists"},
        {"slot error", "carl", std::string(49, 'l'), {"nurse"}, ErrorCode::kInvalidArgument,
         "label too long (max 48 bytes)"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      auto e = add_user(alice, {c.user, c.label, testing::kFast}, c.roles, Secret::passphrase("pw"));
      CHECK(code(e) == c.code);
      CHECK(message(e) == c.message);
    }
    CHECK(sql(alice, "SELECT count(*) FROM users WHERE name = 'carl'") == "0");

    // A slot of a name without a user record would authenticate the new user.
    auto orphan = alice.store().add_slot({"zed", "", testing::kFast}, Secret::passphrase("pw-zed"));
    REQUIRE(orphan.ok());
    auto z = add_user(alice, {"zed", "", testing::kFast}, {"nurse"}, Secret::passphrase("pw-zed"));
    CHECK(code(z) == ErrorCode::kConflict);
    CHECK(message(z) == "key slot 2 already opens as zed; remove it first (ehr key remove 2)");

    Session bob = fx.open("bob");
    auto nope = add_user(bob, {"carl", "", testing::kFast}, {"nurse"}, Secret::passphrase("pw"));
    CHECK(code(nope) == ErrorCode::kAccessDenied);
    CHECK(message(nope) == "user bob (roles: physician) may not admin User: no role of the user allows admin on User");
    // A denial is recorded under the policy's action and type.
    CHECK(sql(alice, "SELECT group_concat(action || ' ' || outcome || ' ' || detail, '; ') FROM audit "
                     "WHERE action IN ('user-add', 'admin')") ==
          "user-add ok user alice roles admin physician slot 0 (ehr init); "
          "user-add ok user bob roles physician slot 1; admin denied User");
  }

  SUBCASE("disable_user and enable_user") {
    fx.add(alice, "bob", {"physician"});
    REQUIRE(disable_user(alice, "bob").ok());
    auto info = get_user(alice, "bob");
    REQUIRE(info.ok());
    CHECK(info->disabled);
    CHECK(info->slots.empty());
    CHECK(info->changed == kT0);
    // Their slots are gone: their secret no longer opens the file.
    auto gone = fx.try_open("bob");
    CHECK(code(gone) == ErrorCode::kAuthFailed);
    CHECK(message(gone) == "wrong passphrase or key");

    CHECK(message(disable_user(alice, "bob")) == "user bob is already disabled");
    CHECK(code(disable_user(alice, "bob")) == ErrorCode::kConflict);
    CHECK(message(disable_user(alice, "alice")) == "you cannot disable yourself");
    CHECK(code(disable_user(alice, "alice")) == ErrorCode::kConflict);
    CHECK(message(disable_user(alice, "ghost")) == "no user ghost");
    CHECK(code(disable_user(alice, "ghost")) == ErrorCode::kNotFound);

    fx.add(alice, "carl", {"nurse"});
    auto again = enable_user(alice, {"carl", "", testing::kFast}, Secret::passphrase("x"));
    CHECK(code(again) == ErrorCode::kConflict);
    CHECK(message(again) == "user carl is not disabled");
    auto ghost = enable_user(alice, {"ghost", "", testing::kFast}, Secret::passphrase("x"));
    CHECK(code(ghost) == ErrorCode::kNotFound);
    CHECK(message(ghost) == "no user ghost");
    {
      Session carl = fx.open("carl");
      CHECK(message(disable_user(carl, "bob")) ==
            "user carl (roles: nurse) may not admin User: no role of the user allows admin on User");
      auto e = enable_user(carl, {"bob", "", testing::kFast}, Secret::passphrase("pw-bob"));
      CHECK(code(e) == ErrorCode::kAccessDenied);
    }

    fx.now = "2026-11-25T10:05:00.000Z";
    auto slot = enable_user(alice, {"bob", "", testing::kFast}, Secret::passphrase("pw-bob"));
    REQUIRE_MESSAGE(slot.ok(), message(slot));
    Session bob = fx.open("bob");
    CHECK(bob.roles() == std::vector<std::string>{"physician"});
    CHECK(get_user(alice, "bob")->changed == "2026-11-25T10:05:00.000Z");
    CHECK(sql(alice, "SELECT group_concat(action || ' ' || detail, '; ') FROM audit "
                     "WHERE action IN ('user-disable', 'user-enable') AND outcome = 'ok'") ==
          "user-disable user bob slots 1; user-enable user bob slot " + std::to_string(*slot));
  }

  SUBCASE("a disabled user with a slot left cannot open") {
    fx.add(alice, "bob", {"physician"});
    REQUIRE(disable_user(alice, "bob").ok());
    // A slot put back around the user API (an old header copy would do the same).
    REQUIRE(alice.store().add_slot({"bob", "", testing::kFast}, Secret::passphrase("pw-bob")).ok());
    auto s = fx.try_open("bob");
    CHECK(code(s) == ErrorCode::kAuthFailed);
    CHECK(message(s) == "user bob is disabled");
  }

  SUBCASE("grant_roles and revoke_roles") {
    fx.add(alice, "bob", {"physician"});
    REQUIRE(grant_roles(alice, "bob", {"nurse", "physician"}).ok());
    CHECK(get_user(alice, "bob")->roles == std::vector<std::string>{"physician", "nurse"});
    REQUIRE(revoke_roles(alice, "bob", {"physician"}).ok());
    CHECK(get_user(alice, "bob")->roles == std::vector<std::string>{"nurse"});

    struct Case {
      std::string what;
      Status st;
      ErrorCode code;
      std::string message;
    };
    std::vector<Case> cases;
    cases.push_back({"grant unknown role", grant_roles(alice, "bob", {"surgeon"}), ErrorCode::kInvalidArgument,
                     "unknown role surgeon (the policy has: " + policy_roles + ")"});
    cases.push_back({"grant no role", grant_roles(alice, "bob", {}), ErrorCode::kInvalidArgument,
                     "give at least one role (--role)"});
    cases.push_back({"grant to nobody", grant_roles(alice, "ghost", {"nurse"}), ErrorCode::kNotFound,
                     "no user ghost"});
    cases.push_back({"revoke no role", revoke_roles(alice, "bob", {}), ErrorCode::kInvalidArgument,
                     "give at least one role (--role)"});
    cases.push_back({"revoke a role not held", revoke_roles(alice, "bob", {"lab"}), ErrorCode::kConflict,
                     "user bob does not have role lab"});
    cases.push_back({"revoke the last role", revoke_roles(alice, "bob", {"nurse"}), ErrorCode::kConflict,
                     "user bob would have no role left; disable the user instead"});
    cases.push_back({"revoke the last admin", revoke_roles(alice, "alice", {"admin"}), ErrorCode::kConflict,
                     "alice is the last enabled admin with a key slot"});
    // Separation of duties: an admin does not grant themselves a role.
    cases.push_back({"grant a role to oneself", grant_roles(alice, "alice", {"nurse"}), ErrorCode::kAccessDenied,
                     "user alice may not grant roles to themselves; another admin can (ehr init --role gives "
                     "the first admin a role at creation)"});
    for (const auto& c : cases) {
      CAPTURE(c.what);
      CHECK(code(c.st) == c.code);
      CHECK(message(c.st) == c.message);
    }
    {
      Session bob = fx.open("bob");
      CHECK(code(grant_roles(bob, "bob", {"admin"})) == ErrorCode::kAccessDenied);
    }
    // With a second admin, alice may give hers up; her session follows.
    REQUIRE(grant_roles(alice, "bob", {"admin"}).ok());
    REQUIRE(revoke_roles(alice, "alice", {"admin"}).ok());
    CHECK(alice.roles() == std::vector<std::string>{"physician"});
    CHECK(code(list_users(alice)) == ErrorCode::kAccessDenied);
    CHECK(sql(alice, "SELECT group_concat(action || ' ' || detail, '; ') FROM audit "
                     "WHERE action LIKE 'role-%' AND outcome = 'ok'") ==
          "role-grant user bob roles nurse physician now physician nurse; "
          "role-revoke user bob roles physician now nurse; "
          "role-grant user bob roles admin now nurse admin; "
          "role-revoke user alice roles admin now physician");
    CHECK(sql(alice, "SELECT group_concat(user || ' ' || action || ' ' || detail, '; ') FROM audit "
                     "WHERE action = 'role-grant' AND outcome = 'denied'") ==
          "alice role-grant user alice roles nurse");
    // Bob, an admin now, may grant alice a role.
    {
      Session bob = fx.open("bob");
      CHECK(grant_roles(bob, "alice", {"nurse"}).ok());
    }
  }

  SUBCASE("add_key and remove_key") {
    fx.add(alice, "bob", {"physician"});
    fx.add(alice, "carl", {"nurse"});
    // The last slot of the last admin stays.
    auto last = remove_key(alice, 0);
    CHECK(code(last) == ErrorCode::kConflict);
    CHECK(message(last) == "slot 0 is the last of alice, the last enabled admin with a key slot");
    CHECK(message(remove_key(alice, 7)) == "no key slot 7");
    CHECK(code(remove_key(alice, 7)) == ErrorCode::kNotFound);
    auto ghost = add_key(alice, {"ghost", "", testing::kFast}, Secret::passphrase("x"));
    CHECK(code(ghost) == ErrorCode::kNotFound);
    CHECK(message(ghost) == "no user ghost");
    {
      // A user manages their own keys, nobody else's.
      Session bob = fx.open("bob");
      auto mine = add_key(bob, {"bob", "phone", testing::kFast}, Secret::passphrase("pw-bob-2"));
      REQUIRE_MESSAGE(mine.ok(), message(mine));
      CHECK(*mine == 3);
      auto other = add_key(bob, {"carl", "", testing::kFast}, Secret::passphrase("x"));
      CHECK(code(other) == ErrorCode::kAccessDenied);
      CHECK(message(other) == "user bob (roles: physician) may not admin Key: no role of the user allows admin on Key");
      CHECK(message(remove_key(bob, 2)) ==
            "user bob (roles: physician) may not admin Key: no role of the user allows admin on Key");
      REQUIRE(remove_key(bob, 3).ok());
    }
    REQUIRE(disable_user(alice, "carl").ok());
    auto disabled = add_key(alice, {"carl", "", testing::kFast}, Secret::passphrase("x"));
    CHECK(code(disabled) == ErrorCode::kConflict);
    CHECK(message(disabled) == "user carl is disabled; ehr user enable gives a new slot");
    // An admin adds a key for another user.
    auto theirs = add_key(alice, {"bob", "spare", testing::kFast}, Secret::passphrase("pw-bob-3"));
    REQUIRE_MESSAGE(theirs.ok(), message(theirs));
    CHECK(sql(alice, "SELECT group_concat(user || ' ' || action || ' ' || detail, '; ') FROM audit "
                     "WHERE action LIKE 'key-%' AND outcome = 'ok'") ==
          "bob key-add user bob slot 3; bob key-remove user bob slot 3; alice key-add user bob slot " +
              std::to_string(*theirs));
  }

  SUBCASE("change_own_secret keeps the slot's type") {
    // ehr key passwd used to turn a service's key-file slot into a
    // passphrase slot, locking the service out.
    auto feed_key = Secret::key_file(std::vector<std::uint8_t>(32, 7));
    REQUIRE(add_user(alice, {"feed", "", testing::kFast}, {"service"}, *feed_key).ok());
    Secret recovery = new_recovery_code();
    auto code_slot = add_key(alice, {"alice", "recovery code", testing::kFast}, recovery);
    REQUIRE(code_slot.ok());
    CHECK(*code_slot == 2);
    {
      auto feed = Session::open(fx.path, *feed_key, fx.options("feed"));
      REQUIRE(feed.ok());
      auto st = change_own_secret(*feed, Secret::passphrase("pw"), testing::kFast);
      CHECK(code(st) == ErrorCode::kConflict);
      CHECK(message(st) == "slot 1 opens with a key file, not a passphrase");
      CHECK(message(check_own_slot_takes(*feed, Secret::Kind::kPassphrase)) ==
            "slot 1 opens with a key file, not a passphrase");
      CHECK(message(check_own_slot_takes(*feed, Secret::Kind::kRecoveryCode)) ==
            "slot 1 opens with a key file, not a recovery code");
      CHECK(check_own_slot_takes(*feed, Secret::Kind::kKeyFile).ok());
    }
    CHECK(Session::open(fx.path, *feed_key, fx.options("feed")).ok());
    {
      auto by_code = Session::open(fx.path, recovery, fx.options("alice"));
      REQUIRE(by_code.ok());
      CHECK(message(change_own_secret(*by_code, Secret::passphrase("pw"), testing::kFast)) ==
            "slot 2 opens with a recovery code, not a passphrase");
    }
    CHECK(message(change_own_secret(alice, *Secret::key_file(std::vector<std::uint8_t>(32, 8)),
                                    testing::kFast)) ==
          "slot 0 opens with a passphrase, not a key file");
    CHECK(sql(alice, "SELECT count(*) FROM audit WHERE action = 'key-passwd'") == "0");
    {
      // A secret of the slot's kind replaces it in place.
      auto feed = Session::open(fx.path, *feed_key, fx.options("feed"));
      REQUIRE(feed.ok());
      auto new_key = Secret::key_file(std::vector<std::uint8_t>(32, 9));
      REQUIRE(change_own_secret(*feed, *new_key, testing::kFast).ok());
    }
    CHECK(code(Session::open(fx.path, *feed_key, fx.options("feed"))) == ErrorCode::kAuthFailed);
    CHECK(Session::open(fx.path, *Secret::key_file(std::vector<std::uint8_t>(32, 9)),
                        fx.options("feed"))
              .ok());
    auto slots = alice.store().list_slots();
    REQUIRE(slots.ok());
    CHECK((*slots)[1].type == SlotType::kKeyFile);
    CHECK(sql(alice, "SELECT count(*) FROM audit WHERE action = 'key-passwd'") == "1");
  }

  SUBCASE("the last enabled admin cannot be disabled, even by a user-admin role") {
    // A policy whose helpdesk role administers users and keys but is no admin.
    std::string text(Policy::builtin_text());
    text += "\n  helpdesk:\n    allow:\n      - actions: [admin]\n        types: [User, Key]\n";
    auto v = apply_policy(alice, text, "helpdesk.yaml");
    REQUIRE_MESSAGE(v.ok(), message(v));
    fx.add(alice, "bob", {"admin", "physician"});
    fx.add(alice, "hd", {"helpdesk"});
    REQUIRE(revoke_roles(alice, "alice", {"admin"}).ok());
    Session hd = fx.open("hd");
    auto st = disable_user(hd, "bob");
    CHECK(code(st) == ErrorCode::kConflict);
    CHECK(message(st) == "bob is the last enabled admin with a key slot");
    CHECK(message(revoke_roles(hd, "bob", {"admin"})) == "bob is the last enabled admin with a key slot");
    CHECK(message(remove_key(hd, 1)) == "slot 1 is the last of bob, the last enabled admin with a key slot");
    REQUIRE(disable_user(hd, "alice").ok());
  }

  SUBCASE("an admin with no key slot left does not count as one who can manage the database") {
    // Found by QA: with adm2's last slot gone, alice could revoke her own
    // admin role or remove her last slot, and nobody could manage users,
    // keys or the policy again.
    fx.add(alice, "adm2", {"admin"});
    Session adm2 = fx.open("adm2");
    REQUIRE(remove_key(adm2, 1).ok());  // allowed: alice still opens it
    CHECK(message(revoke_roles(alice, "alice", {"admin"})) == "alice is the last enabled admin with a key slot");
    CHECK(message(remove_key(alice, 0)) == "slot 0 is the last of alice, the last enabled admin with a key slot");
    // With a slot again, adm2 counts.
    REQUIRE(add_key(alice, {"adm2", "", testing::kFast}, Secret::passphrase("pw-adm2")).ok());
    CHECK(revoke_roles(alice, "alice", {"admin"}).ok());
  }

  SUBCASE("a disabled user whose only role a policy dropped can be enabled by following the hints") {
    // QA finding: enable said "revoke the role first", and revoke refused
    // ("would have no role left; disable the user instead").
    std::string text(Policy::builtin_text());
    text += "\n  clerk:\n    allow:\n      - actions: [read]\n        types: [Patient]\n";
    REQUIRE(apply_policy(alice, text, "clerk.yaml").ok());
    fx.add(alice, "cal", {"clerk"});
    REQUIRE(disable_user(alice, "cal").ok());
    REQUIRE(apply_policy(alice, std::string(Policy::builtin_text()), "builtin.yaml").ok());
    auto e = enable_user(alice, {"cal", "", testing::kFast}, Secret::passphrase("pw-cal"));
    CHECK(message(e) == "role clerk of user cal is not in the policy in force; ehr user revoke cal --role clerk first");
    REQUIRE(revoke_roles(alice, "cal", {"clerk"}).ok());
    e = enable_user(alice, {"cal", "", testing::kFast}, Secret::passphrase("pw-cal"));
    CHECK(message(e) == "user cal has no role; ehr user grant cal --role ROLE first");
    REQUIRE(grant_roles(alice, "cal", {"registrar"}).ok());
    e = enable_user(alice, {"cal", "", testing::kFast}, Secret::passphrase("pw-cal"));
    REQUIRE_MESSAGE(e.ok(), message(e));
    // An enabled user still keeps at least one role.
    CHECK(message(revoke_roles(alice, "cal", {"registrar"})) ==
          "user cal would have no role left; disable the user instead");
  }

  SUBCASE("only admins list users; anyone sees themself") {
    fx.add(alice, "bob", {"physician"});
    auto all = list_users(alice);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].name == "alice");
    CHECK((*all)[0].roles == std::vector<std::string>{"admin", "physician"});
    CHECK((*all)[1].name == "bob");
    Session bob = fx.open("bob");
    auto l = list_users(bob);
    CHECK(code(l) == ErrorCode::kAccessDenied);
    CHECK(message(l) == "user bob (roles: physician) may not admin User: no role of the user allows admin on User");
    CHECK(get_user(bob, "bob").ok());
    CHECK(code(get_user(bob, "alice")) == ErrorCode::kAccessDenied);
    CHECK(message(get_user(alice, "ghost")) == "no user ghost");
    CHECK(code(get_user(alice, "ghost")) == ErrorCode::kNotFound);
  }
}

// remove_key and change_own_secret used to commit their audit entry and
// only then change the file header: a failed header write left a
// key-remove or key-passwd entry for a change that never happened. Each
// failure point now leaves the slots as they were and no entry.
TEST_CASE("a key slot change and its audit entry stand or fail together") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "bob", {"physician"});
  auto bob_spare = add_key(alice, {"bob", "spare", testing::kFast}, Secret::passphrase("pw-bob-2"));
  REQUIRE_MESSAGE(bob_spare.ok(), message(bob_spare));
  REQUIRE(*bob_spare == 2);
  sqlite3* db = SessionImpl::of(alice).db().handle();
  auto slots = [&] { return slot_list(alice); };
  const std::string before = slots();
  CHECK(before == "0 alice ;1 bob ;2 bob spare;");
  auto entries = [&](const std::string& action) {
    return sql(alice, "SELECT count(*) FROM audit WHERE action = '" + action + "'");
  };
  auto opens = [&](const std::string& user, const std::string& pass) { return fx.opens(user, pass); };
  const std::string header_error = fx.path + ": cannot write the header: disk I/O error";

  SUBCASE("remove_key: the header write fails") {
    testing::FailHeaderWrites fault(db);
    auto st = remove_key(alice, 2);
    CHECK(code(st) == ErrorCode::kIoError);
    CHECK(message(st) == header_error);
    CHECK(fault.failed() == 1);
  }
  SUBCASE("remove_key: the new header copy lands, its mirror fails") {
    // The store reports the failure and writes the old slots back.
    testing::FailHeaderWrites fault(db, 2, false);
    auto st = remove_key(alice, 2);
    CHECK(message(st) == header_error);
    CHECK(fault.header_writes() == 4);  // the new copy, its mirror, the old slots twice
  }
  SUBCASE("remove_key: the commit fails after the header changed") {
    testing::FailNextCommit fault(db);
    auto st = remove_key(alice, 2);
    CHECK(code(st) == ErrorCode::kConflict);  // SQLITE_CONSTRAINT_COMMITHOOK
    CHECK(fault.commits() == 2);  // the failed one, then the slot put back
  }
  SUBCASE("change_own_secret: the header write fails") {
    testing::FailHeaderWrites fault(db);
    auto st = change_own_secret(alice, Secret::passphrase("pw-new"), testing::kFast);
    CHECK(code(st) == ErrorCode::kIoError);
    CHECK(message(st) == header_error);
  }
  SUBCASE("change_own_secret: the new header copy lands, its mirror fails") {
    testing::FailHeaderWrites fault(db, 2, false);
    CHECK(message(change_own_secret(alice, Secret::passphrase("pw-new"), testing::kFast)) == header_error);
  }
  SUBCASE("change_own_secret: the commit fails after the header changed") {
    testing::FailNextCommit fault(db);
    CHECK(code(change_own_secret(alice, Secret::passphrase("pw-new"), testing::kFast)) == ErrorCode::kConflict);
  }
  // Whatever failed: the same slots, the old secrets, no entry.
  CHECK(slots() == before);
  CHECK(entries("key-remove") == "0");
  CHECK(entries("key-passwd") == "0");
  CHECK(opens("bob", "pw-bob-2"));
  CHECK(opens("alice", "pw-alice"));
  CHECK_FALSE(opens("alice", "pw-new"));
  // And the session goes on: the changes succeed now, one entry each.
  REQUIRE(remove_key(alice, 2).ok());
  REQUIRE(change_own_secret(alice, Secret::passphrase("pw-new"), testing::kFast).ok());
  CHECK(slots() == "0 alice ;1 bob ;");
  CHECK(sql(alice, "SELECT group_concat(action || ' ' || outcome || ' ' || detail, '; ') FROM audit "
                   "WHERE action IN ('key-remove', 'key-passwd')") ==
        "key-remove ok user bob slot 2; key-passwd ok user alice");
  CHECK_FALSE(opens("bob", "pw-bob-2"));
  CHECK(opens("alice", "pw-new"));
  CHECK_FALSE(opens("alice", "pw-alice"));
}

TEST_CASE("a new key slot and the rows that record it stand or fail together") {
  // add_key, add_user and enable_user made the slot, then wrote their
  // entry, and took the slot out again ignoring whether that worked.
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "bob", {"physician"});
  sqlite3* db = SessionImpl::of(alice).db().handle();
  auto slots = [&] { return slot_list(alice); };
  const std::string before = slots();
  CHECK(before == "0 alice ;1 bob ;");
  auto opens = [&](const std::string& user, const std::string& pass) { return fx.opens(user, pass); };
  std::string enabled = "0";  // user-enable entries: the successful enable below
  SUBCASE("add_key: the commit fails after the slot was written") {
    testing::FailNextCommit fault(db);
    auto r = add_key(alice, {"bob", "spare", testing::kFast}, Secret::passphrase("pw-bob-2"));
    CHECK(code(r) == ErrorCode::kConflict);
    CHECK(fault.commits() == 2);  // the failed one, then the slot taken out
  }
  SUBCASE("add_key: the header write fails") {
    testing::FailHeaderWrites fault(db);
    CHECK(code(add_key(alice, {"bob", "spare", testing::kFast}, Secret::passphrase("pw-bob-2"))) ==
          ErrorCode::kIoError);
  }
  SUBCASE("add_user: the commit fails after the slot was written") {
    testing::FailNextCommit fault(db);
    CHECK(code(add_user(alice, {"carol", "", testing::kFast}, {"nurse"}, Secret::passphrase("pw-carol"))) ==
          ErrorCode::kConflict);
  }
  SUBCASE("enable_user: the commit fails after the slot was written") {
    REQUIRE(disable_user(alice, "bob").ok());
    REQUIRE(slots() == "0 alice ;");
    {
      testing::FailNextCommit fault(db);
      CHECK(code(enable_user(alice, {"bob", "", testing::kFast}, Secret::passphrase("pw-bob-3"))) ==
            ErrorCode::kConflict);
    }
    CHECK(slots() == "0 alice ;");
    CHECK_FALSE(opens("bob", "pw-bob-3"));
    CHECK(sql(alice, "SELECT disabled FROM users WHERE name = 'bob'") == "1");
    REQUIRE(enable_user(alice, {"bob", "", testing::kFast}, Secret::passphrase("pw-bob")).ok());
    enabled = "1";
  }
  // Whatever failed: the same slots, no new user, no entry.
  CHECK(slots() == before);
  CHECK_FALSE(opens("bob", "pw-bob-2"));
  CHECK(sql(alice, "SELECT count(*) FROM users WHERE name = 'carol'") == "0");
  CHECK(sql(alice, "SELECT count(*) FROM audit WHERE action = 'key-add'") == "0");
  CHECK(sql(alice, "SELECT group_concat(detail, '; ') FROM audit WHERE action = 'user-add'") ==
        "user alice roles admin physician slot 0 (ehr init); user bob roles physician slot 1");
  CHECK(sql(alice, "SELECT count(*) FROM audit WHERE action = 'user-enable'") == enabled);
  // And the session goes on.
  auto ok = add_key(alice, {"bob", "spare", testing::kFast}, Secret::passphrase("pw-bob-2"));
  REQUIRE_MESSAGE(ok.ok(), message(ok));
  CHECK(opens("bob", "pw-bob-2"));
}

TEST_CASE("a new key slot that cannot be taken out again after a failed commit is reported, not ignored") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "bob", {"physician"});
  sqlite3* db = SessionImpl::of(alice).db().handle();
  testing::FailNextCommit commit(db);
  testing::FailHeaderWrites header(db, 3);  // the slot's two copies land; taking it out fails
  auto r = add_key(alice, {"bob", "spare", testing::kFast}, Secret::passphrase("pw-bob-2"));
  REQUIRE_FALSE(r.ok());
  std::string m = message(r);
  CHECK(m.find("; key slot 2 was changed but could not be put back (") != std::string::npos);
  CHECK(m.ends_with("): the change stands without its audit entry"));
}

TEST_CASE("a user name is checked alike for ehr init's first admin and for add_user") {
  // ehr init --admin used to take any name.
  const std::string rule = "user name must be 1-32 of a-z, 0-9, '.', '-', '_'";
  struct Case {
    std::string name;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"alice", true},
      {"dr.who-2_x", true},
      {std::string(32, 'x'), true},
      {"", false},
      {"Dr Who!", false},
      {"Alice", false},
      {std::string(33, 'x'), false},
      {"bob smith", false},
      {"caf\xc3\xa9", false},
      {"a/b", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Status st = check_user_name(c.name);
    CHECK(message(st) == (c.ok ? "ok" : rule));
    if (!c.ok) CHECK(code(st) == ErrorCode::kInvalidArgument);
    TempDir dir;
    const std::string path = dir.file("a.ehr");
    SessionOptions o;
    o.user = c.name;
    auto s = Session::create(path, {c.name, "", testing::kFast}, Secret::passphrase("pw"), o);
    CHECK(message(s) == (c.ok ? "ok" : rule));
    if (!c.ok) {
      CHECK(code(s) == ErrorCode::kInvalidArgument);
      CHECK_FALSE(testing::file_exists(path));
      CHECK_FALSE(testing::file_exists(path + "-wal"));
    }
  }
}

TEST_CASE("care team changes are checked: role, patient, user, membership") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "bob", {"physician"});
  std::string p = new_patient(alice, "Team");
  struct Case {
    std::string what;
    Status st;
    ErrorCode code;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"bad team role", add_team_member(alice, p, "bob", "Attending"), ErrorCode::kInvalidArgument,
                   "team role must be 1-32 of a-z, 0-9, '-' (e.g. attending)"});
  cases.push_back({"no patient", add_team_member(alice, "nope", "bob", "attending"), ErrorCode::kNotFound,
                   "no patient nope"});
  cases.push_back({"no user", add_team_member(alice, p, "ghost", "attending"), ErrorCode::kNotFound,
                   "no user ghost"});
  cases.push_back({"already there", add_team_member(alice, p, "alice", "attending"), ErrorCode::kAlreadyExists,
                   "alice is on the care team of " + p});
  cases.push_back({"remove one not there", remove_team_member(alice, p, "bob"), ErrorCode::kNotFound,
                   "bob is not on the care team of " + p});
  cases.push_back({"remove from no patient", remove_team_member(alice, "nope", "bob"), ErrorCode::kNotFound,
                   "no patient nope"});
  for (const auto& c : cases) {
    CAPTURE(c.what);
    CHECK(code(c.st) == c.code);
    CHECK(message(c.st) == c.message);
  }
  CHECK(message(care_team(alice, "nope")) == "no patient nope");
}

TEST_CASE("apply_policy validates, keeps users' roles, installs a version the next session uses") {
  Fixture fx;
  std::string p;
  {
    Session alice = fx.create();
    fx.add(alice, "andy", {"auditor"});
    fx.add(alice, "svc", {"service"});
    fx.add(alice, "bob", {"physician"});
    p = new_patient(alice, "Policy");
  }
  {
    Session andy = fx.open("andy");
    CHECK(code(read_resource(andy, "Patient", p)) == ErrorCode::kAccessDenied);
  }
  Session alice = fx.open("alice");
  CHECK(alice.policy_version() == 0);
  std::string builtin(Policy::builtin_text());

  auto bad = apply_policy(alice, "schema: ehr-policy\nversion: 1\nroles: [\n", "bad.yaml");
  CHECK(code(bad) == ErrorCode::kConfig);
  CHECK(message(bad) == "bad.yaml:4:1: end of sequence flow not found");

  std::string without_service = builtin.substr(0, builtin.find("  service:"));
  auto drop = apply_policy(alice, without_service, "drop.yaml");
  CHECK(code(drop) == ErrorCode::kConfig);
  CHECK(message(drop) == "drop.yaml: role service of user svc is not in the new policy");
  CHECK(alice.policy_version() == 0);
  CHECK(current_policy(alice)->version == 0);
  CHECK(current_policy(alice)->text == builtin);
  CHECK(policy_versions(alice)->empty());

  // Keeping the admin role but taking its admin on Policy (QA finding: the
  // policy could never be changed again), or denying it through a role.
  std::string frozen = builtin;
  const std::string admin_types = "        types: [User, Key, Policy, Database]\n";
  REQUIRE(frozen.find(admin_types) != std::string::npos);
  frozen.replace(frozen.find(admin_types), admin_types.size(), "        types: [User, Key, Database]\n");
  const std::string lockout =
      ": under this policy no enabled user who can open the database may administer Policy, User and Key (the "
      "admin role must allow action admin on them), so the policy could never be changed again";
  auto freeze = apply_policy(alice, frozen, "frozen.yaml");
  CHECK(code(freeze) == ErrorCode::kConfig);
  CHECK(message(freeze) == "frozen.yaml" + lockout);
  std::string denied = builtin;
  const size_t physician_allow = denied.find("    allow:", denied.find("  physician:"));
  REQUIRE(physician_allow != std::string::npos);
  denied.insert(physician_allow, "    deny:\n      - actions: [admin]\n        types: [Key]\n");
  auto deny = apply_policy(alice, denied, "deny.yaml");
  CHECK(message(deny) == "deny.yaml" + lockout);
  CHECK(alice.policy_version() == 0);

  {
    Session bob = fx.open("bob");
    auto no = apply_policy(bob, builtin, "mine.yaml");
    CHECK(code(no) == ErrorCode::kAccessDenied);
    CHECK(message(no) ==
          "user bob (roles: physician) may not admin Policy: no role of the user allows admin on Policy");
  }

  // The auditor may read Patient resources too.
  std::string wider = builtin;
  const std::string auditor_rule = "      - actions: [audit-read]\n";
  const size_t auditor_at = wider.find(auditor_rule, wider.find("  auditor:"));
  REQUIRE(auditor_at != std::string::npos);
  wider.insert(auditor_at + auditor_rule.size(),
               "      - actions: [read]\n        types: [Patient]\n");
  fx.now = "2026-11-25T10:30:00.000Z";
  auto v = apply_policy(alice, wider, "wider.yaml");
  REQUIRE_MESSAGE(v.ok(), message(v));
  CHECK(v->version == 1);
  CHECK(v->installed == "2026-11-25T10:30:00.000Z");
  CHECK(v->installed_by == "alice");
  CHECK(v->source == "wider.yaml");
  CHECK(v->digest.size() == 64);
  CHECK(alice.policy_version() == 1);
  CHECK(current_policy(alice)->text == wider);
  CHECK(policy_versions(alice)->size() == 1);
  CHECK(sql(alice, "SELECT action || ' ' || outcome || ' ' || detail FROM audit ORDER BY seq DESC LIMIT 1") ==
        "policy-apply ok policy version 1");
  {
    Session andy = fx.open("andy");
    CHECK(andy.policy_version() == 1);
    auto r = read_resource(andy, "Patient", p);
    CHECK_MESSAGE(r.ok(), message(r));
  }
}

TEST_CASE("explain_access shows the facts and the decision for a user on and off the care team") {
  Fixture fx;
  Session alice = fx.create();
  fx.add(alice, "bob", {"physician"});
  fx.add(alice, "andy", {"auditor"});
  fx.add(alice, "nina", {"nurse"});
  std::string p = new_patient(alice, "Explain");

  AccessQuestion q;
  q.user = "bob";
  q.type = "Observation";
  q.patient = p;
  auto off = explain_access(alice, q);
  REQUIRE_MESSAGE(off.ok(), message(off));
  CHECK(off->facts.roles == std::vector<std::string>{"physician"});
  CHECK(off->facts.has_patient);
  CHECK_FALSE(off->facts.on_care_team);
  CHECK_FALSE(off->decision.allowed);
  CHECK(off->decision.emergency_would_allow);
  CHECK(off->decision.reason == "role physician: not on the patient's care team");

  q.emergency = true;
  auto glass = explain_access(alice, q);
  REQUIRE(glass.ok());
  CHECK(glass->decision.allowed);
  CHECK(glass->decision.emergency);
  q.emergency = false;

  REQUIRE(add_team_member(alice, p, "bob", "attending").ok());
  auto on = explain_access(alice, q);
  REQUIRE(on.ok());
  CHECK(on->facts.on_care_team);
  CHECK(on->decision.allowed);
  CHECK_FALSE(on->decision.emergency);
  CHECK(on->decision.rule == testing::builtin_rule("physician", "allow", 1));

  q.labels = {"PSYTHPN"};
  q.user = "nina";
  auto label = explain_access(alice, q);
  REQUIRE(label.ok());
  CHECK_FALSE(label->decision.allowed);
  CHECK(label->decision.reason == "role nurse is not cleared for records labelled psychotherapy");
  q.labels = {};

  q.user = "ghost";
  CHECK(message(explain_access(alice, q)) == "no user ghost");
  q.user = "bob";
  q.patient = "nope";
  CHECK(message(explain_access(alice, q)) == "no patient nope");
  q.patient = p;

  REQUIRE(disable_user(alice, "nina").ok());
  q.user = "nina";
  auto disabled = explain_access(alice, q);
  REQUIRE(disabled.ok());
  CHECK(disabled->user_disabled);
  CHECK_FALSE(disabled->decision.allowed);
  CHECK(disabled->decision.reason == "user nina is disabled");

  // Anyone asks about themself; about others only with audit-read or admin on Policy.
  {
    Session bob = fx.open("bob");
    q.user = "bob";
    CHECK(explain_access(bob, q).ok());
    q.user = "alice";
    auto other = explain_access(bob, q);
    CHECK(code(other) == ErrorCode::kAccessDenied);
    CHECK(message(other) ==
          "user bob (roles: physician) may not audit-read AuditEvent: no role of the user allows "
          "audit-read on AuditEvent");
  }
  {
    Session andy = fx.open("andy");
    q.user = "bob";
    CHECK(explain_access(andy, q).ok());
  }
}

// ehr policy check used to resolve an MRN to a stored patient for any user
// and write no audit entry: anyone could probe, without trace, which MRNs
// exist and whose care team someone is on.
TEST_CASE("explain_access is audited and tells a user who may not read the patient no more than for an unknown MRN") {
  Fixture fx;
  Session alice = fx.create();  // admin and physician: on the team of the patients she registers
  fx.add(alice, "carol", {"physician"});
  fx.add(alice, "desk", {"registrar"});
  fx.add(alice, "andy", {"auditor"});
  PatientFields f;
  f.family = "Probe";
  f.given = {"Ann"};
  f.birth_date = "1970-01-01";
  f.mrn = "A1001";
  f.mrn_system = "urn:ehr:mrn";
  auto made = create_resource(alice, *build_patient(f));
  REQUIRE_MESSAGE(made.ok(), message(made));
  const std::string p = made->id;
  // The policy-check entries after `after`, one line each.
  auto checks = [&](Session& s, const std::string& after) {
    return sql(s, "SELECT coalesce(group_concat(user || '|' || outcome || '|' || patients || '|' || detail "
                  "|| '|' || count || '|' || emergency, '; '), '') FROM (SELECT * FROM audit WHERE "
                  "action = 'policy-check' AND seq > " + after + " ORDER BY seq)");
  };
  auto last_seq = [&](Session& s) { return sql(s, "SELECT max(seq) FROM audit"); };

  AccessQuestion q;
  q.action = Action::kRead;
  q.type = "Observation";
  q.labels = {"PSYTHPN"};
  q.code = "http://loinc.org|29463-7";
  {
    // Carol, off the care team: the patient's MRN, its id and an MRN of
    // nobody all get the same answer; only the trail tells them apart.
    Session carol = fx.open("carol");
    std::string from = last_seq(carol);
    q.user = "carol";
    for (const std::string& key : std::vector<std::string>{"A1001", p, "A9999"}) {
      CAPTURE(key);
      q.patient = key;
      auto e = explain_access(carol, q);
      CHECK(code(e) == ErrorCode::kNotFound);
      CHECK(message(e) == "no patient " + key + " that you may read");
    }
    // --emergency asks as if breaking the glass; it breaks none.
    q.patient = "A1001";
    q.emergency = true;
    CHECK(message(explain_access(carol, q)) == "no patient A1001 that you may read");
    q.emergency = false;
    // Without a patient the question is answered.
    q.patient = "";
    auto general = explain_access(carol, q);
    REQUIRE_MESSAGE(general.ok(), message(general));
    CHECK(checks(carol, from) ==
          "carol|denied|" + p + "|user carol read Observation: may not read the patient|0|0; "
          "carol|denied|" + p + "|user carol read Observation: may not read the patient|0|0; "
          "carol|not-found||user carol read Observation: no such patient|0|0; "
          "carol|denied|" + p + "|user carol read Observation emergency: may not read the patient|0|0; "
          "carol|ok||user carol read Observation: allow|0|0");
    CHECK(sql(carol, "SELECT count(*) FROM emergency") == "0");
  }
  {
    // On the team, carol gets her answer, and the entry names the patient.
    REQUIRE(add_team_member(alice, p, "carol", "consulting").ok());
    Session carol = fx.open("carol");
    std::string from = last_seq(carol);
    q.user = "carol";
    q.patient = "A1001";
    auto e = explain_access(carol, q);
    REQUIRE_MESSAGE(e.ok(), message(e));
    CHECK(e->patient == p);
    CHECK(e->decision.allowed);
    CHECK(checks(carol, from) == "carol|ok|" + p + "|user carol read Observation: allow|0|0");
    REQUIRE(remove_team_member(alice, p, "carol").ok());
  }
  {
    // Whoever may read any patient (the registrar) asks about any patient;
    // an unknown MRN is the only not-found.
    Session desk = fx.open("desk");
    std::string from = last_seq(desk);
    q.user = "desk";
    q.patient = "A1001";
    auto e = explain_access(desk, q);
    REQUIRE_MESSAGE(e.ok(), message(e));
    CHECK_FALSE(e->decision.allowed);
    q.patient = "A9999";
    CHECK(message(explain_access(desk, q)) == "no patient A9999 that you may read");
    CHECK(checks(desk, from) ==
          "desk|ok|" + p + "|user desk read Observation: deny|0|0; "
          "desk|not-found||user desk read Observation: no such patient|0|0");
  }
  {
    // An auditor asks about anyone and any patient, and gets the plain not-found.
    Session andy = fx.open("andy");
    std::string from = last_seq(andy);
    q.user = "carol";
    q.patient = "A1001";
    auto e = explain_access(andy, q);
    REQUIRE_MESSAGE(e.ok(), message(e));
    CHECK_FALSE(e->decision.allowed);
    CHECK(e->decision.reason == "role physician: not on the patient's care team");
    q.patient = "A9999";
    CHECK(message(explain_access(andy, q)) == "no patient A9999");
    q.user = "ghost";
    CHECK(message(explain_access(andy, q)) == "no user ghost");
    CHECK(checks(andy, from) ==
          "andy|ok|" + p + "|user carol read Observation: deny|0|0; "
          "andy|not-found||user carol read Observation: no such patient|0|0; "
          "andy|not-found||user ghost: no such user|0|0");
  }
  {
    // An active break-the-glass grant puts the patient in reach, and the
    // entry is flagged like every access under it.
    Session carol = fx.open("carol", "unconscious in the ED");
    REQUIRE(patient_records(carol, record_of(p)).ok());
    std::string from = last_seq(carol);
    q.user = "carol";
    q.patient = "A1001";
    auto e = explain_access(carol, q);
    REQUIRE_MESSAGE(e.ok(), message(e));
    CHECK(e->decision.allowed);
    CHECK(e->decision.emergency);
    CHECK(checks(carol, from) == "carol|ok|" + p + "|user carol read Observation: allow|0|1");
  }
  {
    // Fail closed: no entry, no answer.
    Session carol = fx.open("carol");
    std::string from = last_seq(carol);
    q.user = "carol";
    q.patient = "";
    {
      testing::FailNextCommit fault(SessionImpl::of(carol).db().handle());
      CHECK_FALSE(explain_access(carol, q).ok());
    }
    CHECK(checks(carol, from) == "");
  }
  // Neither the labels nor the code asked about reach the trail.
  CHECK(sql(alice, "SELECT count(*) FROM audit WHERE detail LIKE '%PSYTHPN%' OR detail LIKE '%29463%'") == "0");
}

}

}  // namespace
}  // namespace ehr
