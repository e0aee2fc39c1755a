// The views of the audit trail (core/src/audit_views.cc): list_audit and its
// filters, AuditEvent JSON, the accounting of disclosures, emergency grants,
// and that each needs audit-read and is itself audited.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "ehr/audit.h"
#include "ehr/builders.h"
#include "ehr/json.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "ehr/users.h"
#include "ehr/validate.h"
#include "ehr/version.h"
#include "access.h"
#include "audit_chain.h"
#include "crypto_sodium.h"
#include "session_impl.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

// A database whose first user alice is admin and physician; every user's
// passphrase is "pw-<name>"; the clock is whatever `now` says.
struct Fixture {
  TempDir dir;
  std::string path = dir.file("a.ehr");
  std::string now = "2026-11-25T08:00:00.000Z";

  SessionOptions options(const std::string& user, const std::string& emergency, const std::string& purpose,
                         const std::string& recipient) {
    SessionOptions o;
    o.user = user;
    o.emergency_reason = emergency;
    if (!purpose.empty()) o.purpose = purpose;
    o.recipient = recipient;
    o.first_user_roles = {"physician"};
    o.now = [this] { return now; };
    return o;
  }
  Session create() {
    auto s = Session::create(path, {"alice", "", testing::kFast}, Secret::passphrase("pw-alice"),
                             options("alice", "", "", ""));
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    return std::move(*s);
  }
  Session open(const std::string& user, const std::string& emergency = "", const std::string& purpose = "",
               const std::string& recipient = "") {
    auto s = Session::open(path, Secret::passphrase("pw-" + user), options(user, emergency, purpose, recipient));
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    return std::move(*s);
  }
  void add(Session& admin, const std::string& user, const std::vector<std::string>& roles) {
    auto r = add_user(admin, {user, "", testing::kFast}, roles, Secret::passphrase("pw-" + user));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  }
};

std::string sql(Session& s, const std::string& q) {
  auto r = SessionImpl::of(s).db().query_text(q);
  return r.ok() ? *r : "<error: " + r.error().message() + ">";
}

template <typename T>
std::string message(const Result<T>& r) {
  return r.ok() ? "ok" : r.error().message();
}
template <typename T>
std::optional<ErrorCode> code(const Result<T>& r) {
  if (r.ok()) return std::nullopt;
  return r.error().code();
}

// A patient with a chosen id and MRN.
void new_patient(Session& s, const std::string& id, const std::string& mrn) {
  PatientFields f;
  f.family = "Doe";
  f.given = {"Ann"};
  f.birth_date = "1970-01-01";
  f.mrn = mrn;
  f.mrn_system = "urn:ehr:mrn";
  auto p = build_patient(f);
  REQUIRE_MESSAGE(p.ok(), message(p));
  p->set("id", Json::string(id));
  auto r = create_resource(s, *p);
  REQUIRE_MESSAGE(r.ok(), message(r));
}

void add_weight(Session& s, const std::string& patient, const std::string& id) {
  RecordFields f;
  f.kind = "vital";
  f.patient = patient;
  f.code = "29463-7";
  f.value = "70";
  f.unit = "kg";
  f.date = "2026-11-20";
  auto r = build_record(f);
  REQUIRE_MESSAGE(r.ok(), message(r));
  r->set("id", Json::string(id));
  auto out = create_resource(s, *r);
  REQUIRE_MESSAGE(out.ok(), message(out));
}

// Reads the whole record of `patient`; returns "ok" or the error.
std::string read_record(Session& s, const std::string& patient) {
  RecordQuery q;
  q.patient = patient;
  return message(patient_records(s, q));
}

// One line per entry: "seq action user outcome [patients] E" (E when emergency).
std::vector<std::string> lines(const std::vector<AuditEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(std::to_string(e.seq) + " " + e.action + " " + e.user + " " + e.outcome + " [" + e.patients +
                  "]" + (e.emergency ? " E" : ""));
  return out;
}

// The last audit entry as "action|outcome|user|patients|count|detail".
std::string last_entry(Session& s) {
  return sql(s, "SELECT action || '|' || outcome || '|' || user || '|' || patients || '|' || count || '|' || "
                "detail FROM audit ORDER BY seq DESC LIMIT 1");
}

// A filter, field by field (designated initializers that skip fields trip
// -Wmissing-field-initializers).
AuditFilter filter(const std::string& patient, const std::string& user, const std::string& action,
                   const std::string& since, const std::string& until, bool emergency = false,
                   std::int64_t limit = 0) {
  AuditFilter f;
  f.patient = patient;
  f.user = user;
  f.action = action;
  f.since = since;
  f.until = until;
  f.emergency_only = emergency;
  f.limit = limit;
  return f;
}

// A day at the clinic: users, two patients whose ids share a prefix (p1,
// p10), an emergency read, a disclosure, a denial, a disclosure for
// treatment. Entries 1-12, listed in the first test. With `morning`, only
// to the emergency read (10:00), so that a test goes on from there: times
// written never go back (SessionImpl::now).
void clinic_day(Fixture& fx, bool morning = false) {
  {
    Session alice = fx.create();
    fx.add(alice, "bob", {"physician"});
    fx.add(alice, "nina", {"nurse"});
    fx.add(alice, "audrey", {"auditor"});
    fx.now = "2026-11-25T09:00:00.000Z";
    new_patient(alice, "p1", "A1001");
    new_patient(alice, "p10", "A1010");
    add_weight(alice, "p1", "w1");
  }
  fx.now = "2026-11-25T10:00:00.000Z";
  {
    Session bob = fx.open("bob", "unconscious in the ED", "emergency");
    CHECK(read_record(bob, "p1") == "ok");
  }
  if (morning) return;
  fx.now = "2026-12-01T09:00:00.000Z";
  {
    Session alice = fx.open("alice", "", "public-health", "County Health Department");
    CHECK(read_record(alice, "p10") == "ok");
  }
  {
    Session nina = fx.open("nina");
    CHECK(read_record(nina, "p1") ==
          "user nina (roles: nurse) may not read Patient p1: role nurse: not on the patient's care team "
          "(break the glass with --emergency --reason TEXT)");
  }
  fx.now = "2026-12-01T09:30:00.000Z";
  {
    Session alice = fx.open("alice", "", "treatment", "Dr Lee, St Mary's");
    CHECK(read_record(alice, "p1") == "ok");
  }
  // The auditor looks in January; until=2027 leaves out their own entries.
  fx.now = "2027-01-05T12:00:00.000Z";
}

TEST_SUITE("audit_views") {

TEST_CASE("list_audit returns the whole trail in sequence order and audits the listing") {
  Fixture fx;
  clinic_day(fx);
  Session audrey = fx.open("audrey");
  auto all = list_audit(audrey, {});
  REQUIRE_MESSAGE(all.ok(), message(all));
  CHECK(lines(*all) == std::vector<std::string>{
                           "1 user-add alice ok []",
                           "2 user-add alice ok []",
                           "3 user-add alice ok []",
                           "4 user-add alice ok []",
                           "5 create alice ok [p1]",
                           "6 create alice ok [p10]",
                           "7 create alice ok [p1]",
                           "8 emergency bob ok [p1] E",
                           "9 read bob ok [p1] E",
                           "10 read alice ok [p10]",
                           "11 read nina denied [p1]",
                           "12 read alice ok [p1]",
                       });
  const AuditEntry& e = (*all)[9];
  CHECK(e.time == "2026-12-01T09:00:00.000Z");
  CHECK(e.roles == "admin physician");
  CHECK(e.purpose == "public-health");
  CHECK(e.resources == "Patient/p10/$everything");
  CHECK(e.count == 1);
  CHECK(e.detail == "record");
  CHECK(e.tool == std::string("ehr ") + std::string(version()));
  CHECK(e.recipient == "County Health Department");
  CHECK(e.hash.size() == 64);
  CHECK((*all)[7].detail == "grant 1 until 2026-11-25T11:00:00.000Z");
  CHECK((*all)[7].purpose == "emergency");
  // The listing wrote its own entry, after reading: not in what it returned.
  CHECK(last_entry(audrey) == "audit-read|ok|audrey||12|trail");
  CHECK(sql(audrey, "SELECT time || ' ' || seq FROM audit ORDER BY seq DESC LIMIT 1") ==
        "2027-01-05T12:00:00.000Z 13");
}

TEST_CASE("list_audit filters by patient (whole ids, or an MRN), user, action, time, emergency and limit") {
  Fixture fx;
  clinic_day(fx);
  Session audrey = fx.open("audrey");
  auto seqs = [&](AuditFilter f) {
    if (f.until.empty()) f.until = "2027";
    auto r = list_audit(audrey, f);
    REQUIRE_MESSAGE(r.ok(), message(r));
    std::string out;
    for (const auto& e : *r) out += (out.empty() ? "" : " ") + std::to_string(e.seq);
    return out;
  };
  struct Case {
    AuditFilter filter;
    const char* expected;
  };
  const Case cases[] = {
      {filter("", "", "", "", ""), "1 2 3 4 5 6 7 8 9 10 11 12"},
      {filter("p1", "", "", "", ""), "5 7 8 9 11 12"},   // not p10
      {filter("p10", "", "", "", ""), "6 10"},
      {filter("A1010", "", "", "", ""), "6 10"},         // the MRN of p10
      {filter("p", "", "", "", ""), ""},                 // whole ids only
      {filter("purged-long-ago", "", "", "", ""), ""},   // no such patient: taken as an id
      {filter("", "bob", "", "", ""), "8 9"},
      {filter("", "Bob", "", "", ""), ""},
      {filter("", "", "read", "", ""), "9 10 11 12"},
      {filter("p1", "", "read", "", ""), "9 11 12"},
      {filter("", "", "", "2026-12", ""), "10 11 12"},
      {filter("", "", "", "2026-11-25", "2026-11-26"), "1 2 3 4 5 6 7 8 9"},
      {filter("", "", "", "2026", "2026-12"), "1 2 3 4 5 6 7 8 9"},
      {filter("", "", "", "", "2026-11-25T10:00:00Z"), "1 2 3 4 5 6 7"},   // exclusive, and 10:00:00Z is 10:00:00.000Z
      {filter("", "", "", "2026-11-25T10:00:00Z", ""), "8 9 10 11 12"},    // inclusive
      {filter("", "", "", "2026-11-25T11:00:00+01:00", "2026-11-25T10:00:00.001Z"), "8 9"},
      {filter("", "", "", "2026-12-01T04:29:59.5-05:00", ""), "12"},        // 09:29:59.500Z
      {filter("", "", "", "2026-12-01T09:29:59.9999Z", ""), "12"},          // finer than ms: truncated
      {filter("", "", "", "", "", true, 0), "8 9"},
      {filter("", "", "", "", "", false, 3), "10 11 12"},
      {filter("", "alice", "", "", "", false, 2), "10 12"},
      {filter("", "", "", "", "", false, 100), "1 2 3 4 5 6 7 8 9 10 11 12"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.filter.patient);
    CAPTURE(c.filter.user);
    CAPTURE(c.filter.action);
    CAPTURE(c.filter.since);
    CAPTURE(c.filter.until);
    CAPTURE(c.filter.limit);
    CHECK(seqs(c.filter) == std::string(c.expected));
  }
  // The listing is audited with the resolved patient and what was asked.
  CHECK(seqs(filter("A1001", "alice", "read", "2026-12-01T10:30:00+01:00", "", false, 5)) == "12");
  CHECK(last_entry(audrey) ==
        "audit-read|ok|audrey|p1|1|trail user=alice action=read since=2026-12-01T09:30:00.000Z "
        "until=2027 limit=5");
  CHECK(seqs(filter("", "", "", "", "", true, 0)) == "8 9");
  CHECK(last_entry(audrey) == "audit-read|ok|audrey||2|trail until=2027 emergency");
}

TEST_CASE("list_audit refuses malformed times and limits, naming the option") {
  Fixture fx;
  clinic_day(fx);
  Session audrey = fx.open("audrey");
  const char* kForms = "(YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]Z)";
  for (const char* bad : {"2026-13", "2026-02-29", "2026-11-31", "0000", "26", "2026-1", "2026/11/25",
                          "2026-11-25T10:00", "2026-11-25T10:00:00", "2026-11-25 10:00:00Z",
                          "2026-11-25T24:00:00Z", "2026-11-25T10:60:00Z", "2026-11-25T10:00:00.Z",
                          "2026-11-25T10:00:00+0100", "2026-11-25T10:00:00+24:00", "yesterday", "2026-11-25Z"}) {
    CAPTURE(bad);
    auto since = list_audit(audrey, filter("", "", "", bad, ""));
    CHECK(code(since) == ErrorCode::kInvalidArgument);
    CHECK(message(since) == std::string("--since ") + bad + ": not a date or instant " + kForms);
    auto until = list_audit(audrey, filter("", "", "", "", bad));
    CHECK(message(until) == std::string("--until ") + bad + ": not a date or instant " + kForms);
  }
  CHECK(list_audit(audrey, filter("", "", "", "2028-02-29", "")).ok());  // a leap day
  auto neg = list_audit(audrey, filter("", "", "", "", "", false, -1));
  CHECK(code(neg) == ErrorCode::kInvalidArgument);
  CHECK(message(neg) == "--limit -1: must be 0 (all entries) or more");
  // Refused before reading: nothing audited but the one valid listing.
  CHECK(sql(audrey, "SELECT count(*) FROM audit WHERE user = 'audrey'") == "1");
}

TEST_CASE("reading the trail needs audit-read: a nurse and a physician are refused, and audited; an admin may") {
  Fixture fx;
  clinic_day(fx);
  const std::string kReason = ": no role of the user allows audit-read on AuditEvent";
  for (const auto& [user, roles] :
       std::vector<std::pair<std::string, std::string>>{{"nina", "nurse"}, {"bob", "physician"}}) {
    CAPTURE(user);
    Session s = fx.open(user);
    std::string denied = "user " + user + " (roles: " + roles + ") may not audit-read AuditEvent" + kReason;
    auto trail = list_audit(s, filter("p1", "", "", "", ""));
    CHECK(code(trail) == ErrorCode::kAccessDenied);
    CHECK(message(trail) == denied);
    CHECK(last_entry(s) == "audit-read|denied|" + user + "||0|AuditEvent");
    auto disclosures = list_disclosures(s, "p1");
    CHECK(code(disclosures) == ErrorCode::kAccessDenied);
    CHECK(message(disclosures) == denied);
    auto emergencies = list_emergencies(s);
    CHECK(code(emergencies) == ErrorCode::kAccessDenied);
    CHECK(message(emergencies) == denied);
    CHECK(sql(s, "SELECT group_concat(action || ':' || outcome, ',') FROM audit WHERE user = '" + user +
                     "' AND time >= '2027'") == "audit-read:denied,audit-read:denied,audit-read:denied");
  }
  // The shipped policy lets admins read the trail too.
  Session alice = fx.open("alice");
  auto trail = list_audit(alice, filter("p1", "", "", "", "2027"));
  REQUIRE_MESSAGE(trail.ok(), message(trail));
  CHECK(trail->size() == 6);
  CHECK(last_entry(alice) == "audit-read|ok|alice|p1|6|trail until=2027");
}

TEST_CASE("audit_event_json: exact AuditEvents for a search, a break-the-glass start, a disclosure and denials") {
  const std::string trail = "0123456789abcdef0123456789abcdef";
  const std::string treat =
      R"([{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT","display":"treatment"}]}])";
  const std::string source =
      R"("source":{"observer":{"identifier":{"value":"0123456789abcdef0123456789abcdef"},"display":"ehr 0.1.0"},)"
      R"("type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type","code":"4","display":"Application Server"}]})";
  const std::string patient_entity = [](const std::string& id) {
    return R"({"what":{"reference":"Patient/)" + id +
           R"("},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"1","display":"Person"},)"
           R"("role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"1","display":"Patient"}})";
  }("p1");
  const std::string system_object =
      R"("type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2","display":"System Object"})";

  AuditEntry search;
  search.seq = 42;
  search.time = "2026-11-25T10:00:00.000Z";
  search.user = "bob";
  search.roles = "physician";
  search.action = "search";
  search.outcome = "ok";
  search.purpose = "treatment";
  search.patients = "p1";
  search.query_hash = "5d41402abc4b2a76b9719d911017c592";
  search.count = 1;
  search.detail = "Patient";
  search.tool = "ehr 0.1.0";

  AuditEntry glass;
  glass.seq = 8;
  glass.time = "2026-11-25T10:00:00.000Z";
  glass.user = "bob";
  glass.roles = "physician";
  glass.action = "emergency";
  glass.outcome = "ok";
  glass.purpose = "emergency";
  glass.patients = "p1";
  glass.detail = "grant 1 until 2026-11-25T11:00:00.000Z";
  glass.emergency = true;
  glass.tool = "ehr 0.1.0";

  AuditEntry disclosure;
  disclosure.seq = 10;
  disclosure.time = "2026-12-01T09:00:00.000Z";
  disclosure.user = "alice";
  disclosure.roles = "admin physician";
  disclosure.action = "read";
  disclosure.outcome = "ok";
  disclosure.purpose = "public-health";
  disclosure.patients = "p1";
  disclosure.resources = "Patient/p1/_history/3";
  disclosure.count = 1;
  disclosure.detail = "Patient";
  disclosure.tool = "ehr 0.1.0";
  disclosure.recipient = "County Health Department";

  AuditEntry denied;
  denied.seq = 13;
  denied.time = "2027-01-05T12:00:00.000Z";
  denied.user = "nina";
  denied.roles = "nurse";
  denied.action = "audit-read";
  denied.outcome = "denied";
  denied.purpose = "treatment";
  denied.detail = "AuditEvent";
  denied.tool = "ehr 0.1.0";

  AuditEntry login;  // as the recording of failed opens will write them
  login.seq = 14;
  login.time = "2027-01-05T12:00:01.000Z";
  login.user = "mallory";
  login.action = "login-failed";
  login.outcome = "auth-failed";
  login.purpose = "treatment";
  login.tool = "ehr 0.1.0";

  struct Case {
    const AuditEntry* entry;
    std::string json;
  };
  const Case cases[] = {
      {&search,
       R"({"resourceType":"AuditEvent","id":"0123456789abcdef0123456789abcdef-42",)"
       R"("type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"Restful Operation"},)"
       R"("subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"search-type","display":"search-type"}],)"
       R"("action":"E","recorded":"2026-11-25T10:00:00.000Z","outcome":"0","outcomeDesc":"ok: Patient",)"
       R"("purposeOfEvent":)" + treat +
           R"(,"agent":[{"role":[{"text":"physician"}],"who":{"identifier":{"value":"bob"}},"requestor":true,"purposeOfUse":)" +
           treat + R"(}],)" + source + R"(,"entity":[)" + patient_entity + R"(,{)" + system_object +
           R"(,"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"24","display":"Query"},)"
           R"("detail":[{"type":"query-hash","valueString":"5d41402abc4b2a76b9719d911017c592"},{"type":"count","valueString":"1"}]}]})"},
      {&glass,
       R"({"resourceType":"AuditEvent","id":"0123456789abcdef0123456789abcdef-8",)"
       R"("type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110113","display":"Security Alert"},)"
       R"("subtype":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110127","display":"Emergency Override Started"}],)"
       R"("action":"E","recorded":"2026-11-25T10:00:00.000Z","outcome":"0","outcomeDesc":"ok: grant 1 until 2026-11-25T11:00:00.000Z",)"
       R"("purposeOfEvent":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"ETREAT","display":"Emergency Treatment"}]},)"
       R"({"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"BTG","display":"break the glass"}]}],)"
       R"("agent":[{"role":[{"text":"physician"}],"who":{"identifier":{"value":"bob"}},"requestor":true,)"
       R"("purposeOfUse":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"ETREAT","display":"Emergency Treatment"}]},)"
       R"({"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"BTG","display":"break the glass"}]}]}],)" +
           source + R"(,"entity":[)" + patient_entity + R"(]})"},
      {&disclosure,
       R"({"resourceType":"AuditEvent","id":"0123456789abcdef0123456789abcdef-10",)"
       R"("type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"Restful Operation"},)"
       R"("subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read","display":"read"}],)"
       R"("action":"R","recorded":"2026-12-01T09:00:00.000Z","outcome":"0","outcomeDesc":"ok: Patient",)"
       R"("purposeOfEvent":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"PUBHLTH","display":"public health"}]}],)"
       R"("agent":[{"role":[{"text":"admin"},{"text":"physician"}],"who":{"identifier":{"value":"alice"}},"requestor":true,)"
       R"("purposeOfUse":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"PUBHLTH","display":"public health"}]}]},)"
       R"({"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110152","display":"Destination Role ID"}]},)"
       R"("who":{"display":"County Health Department"},"requestor":false}],)" +
           source + R"(,"entity":[)" + patient_entity + R"(,{"what":{"reference":"Patient/p1/_history/3"},)" +
           system_object +
           R"(,"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"4","display":"Domain Resource"}}]})"},
      {&denied,
       R"({"resourceType":"AuditEvent","id":"0123456789abcdef0123456789abcdef-13",)"
       R"("type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110101","display":"Audit Log Used"},)"
       R"("action":"R","recorded":"2027-01-05T12:00:00.000Z","outcome":"4","outcomeDesc":"denied: AuditEvent",)"
       R"("purposeOfEvent":)" + treat +
           R"(,"agent":[{"role":[{"text":"nurse"}],"who":{"identifier":{"value":"nina"}},"requestor":true,"purposeOfUse":)" +
           treat + R"(}],)" + source + "}"},
      {&login,
       R"({"resourceType":"AuditEvent","id":"0123456789abcdef0123456789abcdef-14",)"
       R"("type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110114","display":"User Authentication"},)"
       R"("subtype":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110122","display":"Login"}],)"
       R"("action":"E","recorded":"2027-01-05T12:00:01.000Z","outcome":"8","outcomeDesc":"auth-failed",)"
       R"("purposeOfEvent":)" + treat +
           R"(,"agent":[{"who":{"identifier":{"value":"mallory"}},"requestor":true,"purposeOfUse":)" + treat +
           R"(}],)" + source + "}"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.entry->action);
    std::string got = audit_event_json(*c.entry, trail);
    CHECK(got == c.json);
    auto parsed = parse_json(got);
    REQUIRE_MESSAGE(parsed.ok(), message(parsed));
    for (const auto& issue : validate_resource(*parsed)) FAIL_CHECK(format_issue(issue));
  }
}

TEST_CASE("audit_event_json: type, subtype and action for every action; outcome codes") {
  struct Case {
    const char* action;
    const char* resources;
    const char* type;
    const char* subtype;  // "" for none
    const char* code;
  };
  const Case cases[] = {
      {"read", "Observation/o1/_history/2", "rest", "read", "R"},
      {"read", "Observation/o1/_history", "rest", "history-instance", "R"},
      {"read", "Patient/p1/$everything", "rest", "operation", "R"},
      {"read", "Patient/p1/care-team", "rest", "read", "R"},
      {"search", "", "rest", "search-type", "E"},
      {"create", "Observation/o1/_history/1", "rest", "create", "C"},
      {"update", "Observation/o1/_history/2", "rest", "update", "U"},
      {"retract", "Observation/o1/_history/3", "rest", "update", "U"},
      {"purge", "Observation/o1", "rest", "delete", "D"},
      {"import", "", "110107", "", "C"},
      {"export", "", "110106", "", "R"},
      {"db-backup", "", "110106", "", "R"},
      {"emergency", "", "110113", "110127", "E"},
      {"login-failed", "", "110114", "110122", "E"},
      {"user-add", "", "110113", "110137", "E"},
      {"user-disable", "", "110113", "110137", "E"},
      {"user-enable", "", "110113", "110137", "E"},
      {"key-add", "", "110113", "110137", "E"},
      {"key-remove", "", "110113", "110137", "E"},
      {"key-passwd", "", "110113", "110137", "E"},
      {"role-grant", "", "110113", "110136", "E"},
      {"role-revoke", "", "110113", "110136", "E"},
      {"team-add", "", "110113", "110135", "E"},
      {"team-remove", "", "110113", "110135", "E"},
      {"policy-apply", "", "110113", "110129", "E"},
      {"db-rotate-key", "", "110113", "110129", "E"},
      {"admin", "", "110113", "110132", "E"},
      {"policy-check", "", "110112", "", "E"},
      {"audit-read", "", "110101", "", "R"},
      {"audit-checkpoint", "", "110101", "", "R"},
      {"audit-verify", "", "110101", "", "R"},
      {"something-new", "", "110100", "", "E"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.action);
    AuditEntry e;
    e.seq = 1;
    e.time = "2026-11-25T10:00:00.000Z";
    e.user = "bob";
    e.action = c.action;
    e.outcome = "ok";
    e.purpose = "treatment";
    e.resources = c.resources;
    auto j = parse_json(audit_event_json(e, "t"));
    REQUIRE(j.ok());
    CHECK(j->find("type")->find("code")->text() == c.type);
    const Json* sub = j->find("subtype");
    CHECK((sub == nullptr ? std::string() : sub->items()[0].find("code")->text()) == c.subtype);
    CHECK(j->find("action")->text() == c.code);
    for (const auto& issue : validate_resource(*j)) FAIL_CHECK(format_issue(issue));
  }
  // A read of many refers to the record it belongs to and counts what it read.
  AuditEntry history;
  history.action = "read";
  history.resources = "Observation/o1/_history";
  history.count = 3;
  auto j = parse_json(audit_event_json(history, "t"));
  REQUIRE(j.ok());
  CHECK(to_json(*j->find("entity")) ==
        R"([{"what":{"reference":"Observation/o1"},)"
        R"("type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2","display":"System Object"},)"
        R"("role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"4","display":"Domain Resource"},)"
        R"("description":"_history","detail":[{"type":"count","valueString":"3"}]}])");
  // Another action's hash is a digest, not a query.
  AuditEntry policy;
  policy.action = "policy-apply";
  policy.query_hash = "ab12";
  j = parse_json(audit_event_json(policy, "t"));
  REQUIRE(j.ok());
  CHECK(to_json(*j->find("entity")) ==
        R"([{"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-entity-type","code":"2","display":"System Object"},)"
        R"("detail":[{"type":"digest","valueString":"ab12"}]}])");
  for (const auto& [outcome, expected] : std::vector<std::pair<std::string, std::string>>{
           {"ok", "0"}, {"denied", "4"}, {"not-found", "4"}, {"auth-failed", "8"}, {"error", "12"}}) {
    CAPTURE(outcome);
    AuditEntry e;
    e.action = "read";
    e.outcome = outcome;
    auto out = parse_json(audit_event_json(e, "t"));
    REQUIRE(out.ok());
    CHECK(out->find("outcome")->text() == expected);
    CHECK(out->find("outcomeDesc")->text() == outcome);
  }
}

TEST_CASE("every entry of a real trail exports as a valid AuditEvent with the trail's id") {
  Fixture fx;
  clinic_day(fx);
  Session audrey = fx.open("audrey");
  std::string trail = audit_trail_id(audrey);
  CHECK(trail.size() == 32);
  CHECK(sql(audrey, "SELECT trail_id FROM audit_chain") == trail);
  auto all = list_audit(audrey, {});
  REQUIRE(all.ok());
  for (const auto& e : *all) {
    CAPTURE(e.seq);
    auto j = parse_json(audit_event_json(e, trail));
    REQUIRE(j.ok());
    CHECK(j->find("id")->text() == trail + "-" + std::to_string(e.seq));
    for (const auto& issue : validate_resource(*j)) FAIL_CHECK(format_issue(issue));
  }
}

TEST_CASE("list_disclosures: reads for a recipient, excluded flag from the purpose, six years by default") {
  Fixture fx;
  fx.now = "2020-06-01T08:00:00.000Z";
  {
    Session alice = fx.create();
    fx.add(alice, "audrey", {"auditor"});
    new_patient(alice, "p1", "A1001");
    new_patient(alice, "p10", "A1010");
  }
  auto disclose = [&](const std::string& when, const std::string& purpose, const std::string& recipient,
                      const std::string& patient) {
    fx.now = when;
    Session alice = fx.open("alice", "", purpose, recipient);
    CHECK(read_record(alice, patient) == "ok");
  };
  disclose("2020-11-25T09:59:59.999Z", "legal", "Court of Springfield", "p1");      // seven years before: out
  disclose("2020-11-25T10:00:00.000Z", "public-health", "County Health Department", "p1");
  disclose("2023-03-01T10:00:00.000Z", "treatment", "Dr Lee, St Mary's", "p1");       // excluded (TPO)
  disclose("2024-05-01T10:00:00.000Z", "patient-request", "Ann Doe", "p1");           // excluded
  disclose("2024-06-01T10:00:00.000Z", "research", "University Hospital", "p10");     // another patient
  fx.now = "2025-01-01T10:00:00.000Z";
  {
    // A search across patients for a recipient; a write and a denied read are no disclosures.
    Session alice = fx.open("alice", "", "law-enforcement", "State Police");
    PatientQuery q;
    q.name = "doe";
    auto found = search_patients(alice, q);
    REQUIRE(found.ok());
    CHECK(found->size() == 2);
    add_weight(alice, "p1", "w1");
    fx.add(alice, "nina", {"nurse"});
  }
  {
    Session nina = fx.open("nina", "", "operations", "Acme Billing");
    CHECK(read_record(nina, "p1") != "ok");
  }
  fx.now = "2026-11-25T10:00:00.000Z";
  Session audrey = fx.open("audrey");
  auto summary = [](const std::vector<Disclosure>& ds) {
    std::vector<std::string> out;
    for (const auto& d : ds)
      out.push_back(d.time + " | " + d.recipient + " | " + d.what + " | " + d.purpose +
                    (d.excluded ? " | excluded" : "") + " | " + d.user);
    return out;
  };
  auto p1 = list_disclosures(audrey, "p1");
  REQUIRE_MESSAGE(p1.ok(), message(p1));
  CHECK(summary(*p1) == std::vector<std::string>{
                            "2020-11-25T10:00:00.000Z | County Health Department | Patient/p1/$everything | "
                            "public-health | alice",
                            "2023-03-01T10:00:00.000Z | Dr Lee, St Mary's | Patient/p1/$everything | treatment | "
                            "excluded | alice",
                            "2024-05-01T10:00:00.000Z | Ann Doe | Patient/p1/$everything | patient-request | "
                            "excluded | alice",
                            "2025-01-01T10:00:00.000Z | State Police | 2 Patient | law-enforcement | alice",
                        });
  CHECK((*p1)[0].seq > 0);
  CHECK(last_entry(audrey) == "audit-read|ok|audrey|p1|4|disclosures since=2020-11-25T10:00:00.000Z");
  // By MRN, and from an explicit start.
  auto p10 = list_disclosures(audrey, "A1010", "2024");
  REQUIRE(p10.ok());
  CHECK(summary(*p10) == std::vector<std::string>{
                             "2024-06-01T10:00:00.000Z | University Hospital | Patient/p10/$everything | research | "
                             "alice",
                             "2025-01-01T10:00:00.000Z | State Police | 2 Patient | law-enforcement | alice",
                         });
  CHECK(last_entry(audrey) == "audit-read|ok|audrey|p10|2|disclosures since=2024");
  auto since_2020 = list_disclosures(audrey, "p1", "2020");
  REQUIRE(since_2020.ok());
  CHECK(since_2020->size() == 5);
  CHECK(since_2020->front().recipient == "Court of Springfield");
  auto bad = list_disclosures(audrey, "p1", "last year");
  CHECK(code(bad) == ErrorCode::kInvalidArgument);
  CHECK(message(bad) ==
        "--since last year: not a date or instant (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]Z)");
  CHECK(message(list_disclosures(audrey, "")) == "name the patient (--patient)");
  // Six years before 29 February is 28 February.
  fx.now = "2028-02-29T10:00:00.000Z";
  Session leap = fx.open("audrey");
  REQUIRE(list_disclosures(leap, "p1").ok());
  CHECK(last_entry(leap) == "audit-read|ok|audrey|p1|3|disclosures since=2022-02-28T10:00:00.000Z");
}

TEST_CASE("list_emergencies: each grant with the accesses made under it") {
  Fixture fx;
  clinic_day(fx, true);  // grant 1: bob, p1, 10:00-11:00, one read at 10:00
  fx.now = "2026-11-25T10:30:00.000Z";
  {
    Session bob = fx.open("bob");  // the grant is active: no reason needed, flagged
    CHECK(read_record(bob, "p1") == "ok");
  }
  fx.now = "2026-11-25T11:30:00.000Z";
  {
    Session bob = fx.open("bob");  // expired
    CHECK(read_record(bob, "p1") != "ok");
  }
  {
    Session bob = fx.open("bob", "still in the ED");
    CHECK(read_record(bob, "p1") == "ok");
  }
  fx.now = "2026-11-25T12:00:00.000Z";
  {
    Session nina = fx.open("nina", "covering the ward");
    CHECK(read_record(nina, "p10") == "ok");
  }
  fx.now = "2027-01-05T12:00:00.000Z";
  Session audrey = fx.open("audrey");
  auto summary = [](const std::vector<EmergencyAccess>& gs) {
    std::vector<std::string> out;
    for (const auto& g : gs)
      out.push_back(std::to_string(g.grant) + " " + g.user + " " + g.patient + " '" + g.reason + "' " + g.started +
                    " " + g.expires + " " + std::to_string(g.accesses) + " " + g.last_access);
    return out;
  };
  auto all = list_emergencies(audrey);
  REQUIRE_MESSAGE(all.ok(), message(all));
  CHECK(summary(*all) ==
        std::vector<std::string>{
            "1 bob p1 'unconscious in the ED' 2026-11-25T10:00:00.000Z 2026-11-25T11:00:00.000Z 2 "
            "2026-11-25T10:30:00.000Z",
            "2 bob p1 'still in the ED' 2026-11-25T11:30:00.000Z 2026-11-25T12:30:00.000Z 1 2026-11-25T11:30:00.000Z",
            "3 nina p10 'covering the ward' 2026-11-25T12:00:00.000Z 2026-11-25T13:00:00.000Z 1 "
            "2026-11-25T12:00:00.000Z",
        });
  CHECK(last_entry(audrey) == "audit-read|ok|audrey||3|emergencies");
  auto later = list_emergencies(audrey, "2026-11-25T11:00:00Z");
  REQUIRE(later.ok());
  CHECK(later->size() == 2);
  CHECK(later->front().grant == 2);
  CHECK(last_entry(audrey) == "audit-read|ok|audrey||2|emergencies since=2026-11-25T11:00:00.000Z");
  CHECK(list_emergencies(audrey, "2027")->empty());
  CHECK(message(list_emergencies(audrey, "2026-11-25T11")) ==
        "--since 2026-11-25T11: not a date or instant (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]Z)");
  for (const auto& g : *all) CHECK(g.reason_intact);
}

// Security finding 4: a blank reason was accepted, and the reason lived only
// in the emergency table, outside the chained trail.
TEST_CASE("a break-the-glass reason must say something, and its grant's chained entry seals it") {
  Fixture fx;
  clinic_day(fx);  // grant 1: bob, p1, 'unconscious in the ED'
  for (const char* blank : {" ", "   ", "\t\n"}) {
    auto s = Session::open(fx.path, Secret::passphrase("pw-bob"), fx.options("bob", blank, "", ""));
    CHECK(code(s) == ErrorCode::kInvalidArgument);
    CHECK(message(s) == "the emergency reason is blank: say why emergency access is needed");
  }
  Session audrey = fx.open("audrey");
  SessionImpl& impl = SessionImpl::of(audrey);
  // The reason is not in the trail; its keyed hash is, in the grant's entry.
  CHECK(sql(audrey, "SELECT count(*) FROM audit WHERE instr(detail || patients || resources, 'unconscious') > 0") ==
        "0");
  CHECK(sql(audrey, "SELECT query_hash FROM audit WHERE action = 'emergency'") ==
        emergency_reason_seal(impl.chain(), "unconscious in the ED"));
  CHECK(emergency_reason_seal(impl.chain(), "unconscious in the ED") !=
        crypto::blake2b_256_hex("emergency-reason:unconscious in the ED"));
  // Rewriting the reason where it is kept shows.
  REQUIRE(impl.db().exec("UPDATE emergency SET reason = 'routine check' WHERE id = 1").ok());
  auto all = list_emergencies(audrey);
  REQUIRE_MESSAGE(all.ok(), message(all));
  REQUIRE(all->size() == 1);
  CHECK(all->front().reason == "routine check");
  CHECK_FALSE(all->front().reason_intact);
  CHECK(all->front().entry == std::stoll(sql(audrey, "SELECT seq FROM audit WHERE action = 'emergency'")));
  // audit verify finds it too, naming the grant's entry; and a grant row
  // with no entry at all (a forged grant).
  std::string seq = sql(audrey, "SELECT seq FROM audit WHERE action = 'emergency'");
  auto v = verify_audit(audrey, {});
  REQUIRE_MESSAGE(v.ok(), message(v));
  REQUIRE(v->problems.size() == 1);
  CHECK(v->first_bad_seq == std::stoll(seq));
  CHECK(v->problems.front() ==
        "entry " + seq + ": the reason of emergency grant 1 is not the one sealed: changed outside ehr");
  REQUIRE(impl.db().exec("UPDATE emergency SET reason = 'unconscious in the ED' WHERE id = 1").ok());
  v = verify_audit(audrey, {});
  REQUIRE_MESSAGE(v.ok(), message(v));
  CHECK(v->ok());
  REQUIRE(impl.db()
              .exec("INSERT INTO emergency(id, user, patient, reason, started, expires) "
                    "SELECT 2, user, patient, reason, started, expires FROM emergency WHERE id = 1")
              .ok());
  v = verify_audit(audrey, {});
  REQUIRE_MESSAGE(v.ok(), message(v));
  CHECK(v->problems == std::vector<std::string>{"emergency grant 2 has no audit entry: added or changed outside ehr"});
  CHECK_FALSE(v->first_bad_seq.has_value());
}

// QA finding: `audit show --patient "Ann Lee HIV+"` wrote the text typed
// into the append-only trail as a patient id.
TEST_CASE("a --patient that names no patient the database or trail knows is kept only as a hash") {
  Fixture fx;
  clinic_day(fx);
  Session audrey = fx.open("audrey");
  auto typed = list_audit(audrey, filter("Ann Lee HIV+", "", "", "", ""));
  REQUIRE_MESSAGE(typed.ok(), message(typed));
  CHECK(typed->empty());
  CHECK(last_entry(audrey) == "audit-read|ok|audrey||0|trail");
  CHECK(sql(audrey, "SELECT query_hash FROM audit ORDER BY seq DESC LIMIT 1") ==
        crypto::blake2b_256_hex("audit-patient|Ann Lee HIV+"));
  CHECK(sql(audrey, "SELECT count(*) FROM audit WHERE instr(patients || detail, 'HIV') > 0") == "0");
  auto d = list_disclosures(audrey, "HIV+");
  REQUIRE_MESSAGE(d.ok(), message(d));
  CHECK(sql(audrey, "SELECT patients || '|' || query_hash FROM audit ORDER BY seq DESC LIMIT 1") ==
        "|" + crypto::blake2b_256_hex("audit-patient|HIV+"));
  // A stored patient (by MRN) is named by id, even with nothing found.
  REQUIRE(list_audit(audrey, filter("A1010", "", "emergency", "", "")).ok());
  CHECK(last_entry(audrey) == "audit-read|ok|audrey|p10|0|trail action=emergency");
  // A key the trail names as a patient (a purged patient's id) is named too.
  REQUIRE(SessionImpl::of(audrey).db().exec("UPDATE resource SET id = 'p1-gone' WHERE id = 'p1'").ok());
  REQUIRE(list_audit(audrey, filter("p1", "", "no-such-action", "", "")).ok());
  CHECK(last_entry(audrey) == "audit-read|ok|audrey|p1|0|trail action=no-such-action");
}

// QA finding: `patient show` / `record show --patient` of an unknown MRN
// exited 1 and wrote nothing, so which MRNs exist could be probed without trace.
TEST_CASE("a patient lookup that finds no one patient is audited, the key only as a hash") {
  Fixture fx;
  clinic_day(fx);
  Session nina = fx.open("nina");
  auto none = find_patient(nina, "A9999", "urn:ehr:mrn");
  CHECK(code(none) == ErrorCode::kNotFound);
  CHECK(last_entry(nina) == "read|not-found|nina||0|Patient: no such patient");
  CHECK(sql(nina, "SELECT query_hash FROM audit ORDER BY seq DESC LIMIT 1") ==
        crypto::blake2b_256_hex("patient-key|A9999"));
  // Two patients holding one identifier value (another system): ambiguous.
  {
    Session alice = fx.open("alice");
    Json p = *read_resource(alice, "Patient", "p10")->resource.find("identifier");
    Json other = parse_json(R"({"system":"urn:other","value":"A1001"})").value();
    p.push_back(other);
    Json pat = read_resource(alice, "Patient", "p10")->resource;
    pat.set("identifier", p);
    REQUIRE(update_resource(alice, pat, "second id").ok());
  }
  auto two = find_patient(nina, "A1001", "urn:x");
  CHECK(code(two) == ErrorCode::kConflict);
  CHECK(last_entry(nina) == "read|not-found|nina||2|Patient: 2 patients match");
  Session audrey = fx.open("audrey");
  // QA finding (sweep 7): the commands resolving a key another way (team,
  // merge, duplicates, export) left no trace; they share resolve_patient_key.
  CHECK(code(resolve_patient_key(SessionImpl::of(nina), "B77")) == ErrorCode::kNotFound);
  CHECK(last_entry(nina) == "read|not-found|nina||0|Patient: no such patient");
  // Her denied read of the clinic day, and the three lookups.
  CHECK(list_audit(audrey, filter("", "nina", "read", "", ""))->size() == 4);
}

// QA finding: writing back an older copy of the emergency table's pages
// (no key needed) deleted a grant, and the review list, audit verify and db
// check all said nothing: verify only asked each grant for its entry.
TEST_CASE("a grant deleted outside ehr: verify names its entry, and the review still lists it") {
  Fixture fx;
  clinic_day(fx);  // grant 1: bob, p1, 'unconscious in the ED'
  Session audrey = fx.open("audrey");
  SessionImpl& impl = SessionImpl::of(audrey);
  std::string seq = sql(audrey, "SELECT seq FROM audit WHERE action = 'emergency'");
  std::string expires = sql(audrey, "SELECT expires FROM emergency WHERE id = 1");
  REQUIRE(impl.db().exec("DELETE FROM emergency WHERE id = 1").ok());
  auto v = verify_audit(audrey, {});
  REQUIRE_MESSAGE(v.ok(), message(v));
  CHECK(v->problems == std::vector<std::string>{"entry " + seq + ": the emergency grant it started (grant 1 until " +
                                                expires + ") is gone from the emergency table: deleted outside ehr"});
  CHECK(v->first_bad_seq == std::stoll(seq));
  auto all = list_emergencies(audrey);
  REQUIRE_MESSAGE(all.ok(), message(all));
  REQUIRE(all->size() == 1);
  const EmergencyAccess& g = all->front();
  CHECK(g.grant_missing);
  CHECK_FALSE(g.reason_intact);
  CHECK(g.grant == 1);
  CHECK(g.user == "bob");
  CHECK(g.patient == "p1");
  CHECK(g.reason == "");
  CHECK(g.entry == std::stoll(seq));
  CHECK(g.expires == expires);
  CHECK(g.accesses == 1);  // bob's read of p1 under it, as when the grant was there
  // A later start filters it out as it would the grant.
  CHECK(list_emergencies(audrey, "2027")->empty());
  // QA finding: with only the table's page rolled back, the covering index
  // still held the grant and answered for it. The check reads the table.
  auto plan = impl.db().prepare(std::string("EXPLAIN QUERY PLAN ") + kGrantRowsSql);
  REQUIRE(plan.ok());
  REQUIRE(*plan->step());
  CHECK(plan->column_text(3) == "SCAN emergency");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
