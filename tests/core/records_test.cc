// The record model (core/src/records.cc): versions, history, retraction,
// purge, lookups, validation, the minimal access rule and audit rows.
#include <doctest/doctest.h>

#include <optional>
#include <tuple>

#include "ehr/builders.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "session_impl.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

struct Fixture {
  TempDir dir;
  std::string path = dir.file("r.ehr");
  int tick = 0;
  SessionOptions options() {
    SessionOptions o;
    o.user = "alice";
    o.first_user_roles = {"physician"};
    o.now = [this] {
      int t = tick++;
      return "2026-11-25T10:00:" + std::string(t < 10 ? "0" : "") + std::to_string(t) + ".000Z";
    };
    return o;
  }
  Session create() {
    auto s = Session::create(path, {"alice", "", testing::kFast}, Secret::passphrase("pw"), options());
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    return std::move(*s);
  }
};

Json patient(const std::string& family, const std::string& given, const std::string& mrn) {
  PatientFields f;
  f.family = family;
  f.given = {given};
  f.mrn = mrn;
  f.mrn_system = "urn:test:mrn";
  f.birth_date = "1984-02-29";
  f.phone = "(555) 010-0100";
  return *build_patient(f);
}

PatientQuery q(std::string name, std::string birth, std::string system, std::string value,
               std::string phone) {
  PatientQuery p;
  p.name = std::move(name);
  p.birth_date = std::move(birth);
  p.identifier_system = std::move(system);
  p.identifier_value = std::move(value);
  p.phone = std::move(phone);
  return p;
}

std::string count(Session& s, const std::string& sql) {
  return *SessionImpl::of(s).db().query_text(sql);
}

TEST_SUITE("records") {

TEST_CASE("create assigns an id, version 1 and ehr's meta; update makes version 2") {
  Fixture fx;
  Session s = fx.create();
  auto p = create_resource(s, patient("Núñez", "Zoë", "A1"));
  REQUIRE(p.ok());
  CHECK(p->version == 1);
  CHECK(p->id.size() == 36);
  CHECK(p->resource.find("meta")->find("versionId")->text() == "1");
  // The clock ticked for the database's creation (its user-add audit entry) first.
  CHECK(p->resource.find("meta")->find("lastUpdated")->text() == "2026-11-25T10:00:03.000Z");
  Json next = p->resource;
  next.set("gender", Json::string("female"));
  auto v2 = update_resource(s, next, "gender recorded");
  REQUIRE(v2.ok());
  CHECK(v2->version == 2);
  CHECK(v2->seq > p->seq);
  // The same content again writes nothing.
  auto same = update_resource(s, v2->resource, "no-op");
  REQUIRE(same.ok());
  CHECK(same->version == 2);
  auto h = resource_history(s, "Patient", p->id);
  REQUIRE(h.ok());
  REQUIRE(h->size() == 2);
  CHECK((*h)[0].action == "create");
  CHECK((*h)[1].reason == "gender recorded");
  CHECK((*h)[0].resource->find("gender") == nullptr);
}

TEST_CASE("a version is one row: the current one's entry is its resource row's, earlier ones are in history") {
  Fixture fx;
  std::string id;
  Json v1;
  {
    Session s = fx.create();
    auto p = create_resource(s, patient("Smith", "Jo", "A4"));
    REQUIRE(p.ok());
    id = p->id;
    v1 = p->resource;
    CHECK(count(s, "SELECT count(*) FROM history") == "0");
    CHECK(count(s, "SELECT action || ',' || author || ',' || reason FROM resource") == "create,alice,");
    Json next = p->resource;
    next.set("gender", Json::string("female"));
    auto v2 = update_resource(s, next, "gender recorded");
    REQUIRE(v2.ok());
    // Version 1 moved to history with its text as it was stored.
    CHECK(count(s, "SELECT group_concat(version || ',' || action || ',' || author || ',' || time, ';') "
                   "FROM history") == "1,create,alice," + p->last_updated);
    CHECK(count(s, "SELECT json FROM history WHERE version = 1") == to_json(p->resource));
    CHECK(count(s, "SELECT action || ',' || reason FROM resource") == "update,gender recorded");
    auto h = resource_history(s, "Patient", id);
    REQUIRE(h.ok());
    REQUIRE(h->size() == 2);
    CHECK((*h)[0].action == "create");
    CHECK((*h)[0].time == p->last_updated);
    CHECK(to_json(*(*h)[0].resource) == to_json(p->resource));
    CHECK((*h)[1].action == "update");
    CHECK((*h)[1].author == "alice");
    CHECK((*h)[1].reason == "gender recorded");
    CHECK((*h)[1].time == v2->last_updated);
    CHECK(to_json(*(*h)[1].resource) == to_json(v2->resource));
    // As a database of schema 7 holds it: a history row for every version,
    // each with its text, and no entry in the resource row.
    REQUIRE(SessionImpl::of(s).db().exec(
        "INSERT INTO history(type, id, version, seq, action, author, time, reason, patient, json) "
        "SELECT type, id, version, seq, action, author, last_updated, reason, patient, json FROM resource; "
        "ALTER TABLE resource DROP COLUMN action; ALTER TABLE resource DROP COLUMN author; "
        "ALTER TABLE resource DROP COLUMN reason; DROP TABLE export_job_member; "
        "DROP TABLE match_key; DROP TABLE match_review; DROP TABLE match_decision; DROP TABLE patient_merge; "
        "DROP TABLE patient_link; DROP INDEX reference_patient; "
        "DROP TABLE patient_key; PRAGMA user_version = 7").ok());
  }
  auto s = Session::open(fx.path, Secret::passphrase("pw"), fx.options());
  REQUIRE(s.ok());
  CHECK(count(*s, "PRAGMA user_version") == std::to_string(current_schema_version()));
  // Migration 9 drops the second copy of the current version's text.
  CHECK(count(*s, "SELECT group_concat(version || ':' || (json IS NULL), ',') FROM "
                  "(SELECT version, json FROM history ORDER BY version)") == "1:0,2:1");
  auto h = resource_history(*s, "Patient", id);
  REQUIRE(h.ok());
  REQUIRE(h->size() == 2);
  CHECK((*h)[1].reason == "gender recorded");
  CHECK((*h)[1].resource->find("gender")->text() == "female");
  CHECK(to_json(*(*h)[0].resource) == to_json(v1));
  // The next version of an older database's record: version 2's text moves
  // into its history row; version 3 is kept in the resource row.
  Json next = *(*h)[1].resource;
  next.set("birthDate", Json::string("1984-03-01"));
  auto v3 = update_resource(*s, next, "birth date corrected");
  REQUIRE(v3.ok());
  CHECK(count(*s, "SELECT group_concat(version || ':' || (json IS NULL), ',') FROM "
                  "(SELECT version, json FROM history ORDER BY version)") == "1:0,2:0");
  h = resource_history(*s, "Patient", id);
  REQUIRE(h.ok());
  REQUIRE(h->size() == 3);
  CHECK((*h)[1].resource->find("birthDate")->text() == "1984-02-29");
  CHECK((*h)[2].resource->find("birthDate")->text() == "1984-03-01");
  CHECK((*h)[2].reason == "birth date corrected");
  // A purge keeps every entry and no content.
  REQUIRE(purge_resource(*s, "Patient", id, "test").ok());
  h = resource_history(*s, "Patient", id);
  REQUIRE(h.ok());
  REQUIRE(h->size() == 4);
  CHECK((*h)[2].action == "update");
  CHECK((*h)[3].action == "purge");
  for (const auto& e : *h) CHECK_FALSE(e.resource.has_value());
}

TEST_CASE("the change sequence counts every version written; a transaction rolled back takes its numbers back") {
  Fixture fx;
  Session s = fx.create();
  auto before = std::stoll(count(s, "SELECT value FROM counter WHERE name = 'seq'"));
  auto batch = create_resources(s, {patient("Ames", "A", "S1"), patient("Bell", "B", "S2"), patient("Cole", "C", "S3")},
                                "batch");
  REQUIRE(batch.ok());
  REQUIRE(batch->size() == 3);
  for (int i = 0; i < 3; ++i) CHECK((*batch)[i].seq == before + 1 + i);
  CHECK(count(s, "SELECT value FROM counter WHERE name = 'seq'") == std::to_string(before + 3));
  // The second resource has the first one's id: the first was written (and
  // numbered) in the transaction that then rolls back.
  Json first = patient("Dunn", "D", "S4");
  first.set("id", Json::string("dup"));
  Json second = patient("Eads", "E", "S5");
  second.set("id", Json::string("dup"));
  auto refused = create_resources(s, {first, second}, "batch");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == ErrorCode::kAlreadyExists);
  CHECK(count(s, "SELECT count(*) FROM resource WHERE id = 'dup'") == "0");
  CHECK(count(s, "SELECT value FROM counter WHERE name = 'seq'") == std::to_string(before + 3));
  auto next = create_resource(s, patient("Ford", "F", "S6"));
  REQUIRE(next.ok());
  CHECK(next->seq == before + 4);
  CHECK(count(s, "SELECT max(seq) FROM resource") == std::to_string(before + 4));
}

TEST_CASE("a resource that fails validation is refused with its field and rule, and nothing is written") {
  Fixture fx;
  Session s = fx.create();
  auto p = create_resource(s, patient("Smith", "John", "A2"));
  REQUIRE(p.ok());
  RecordFields f;
  f.kind = "lab";
  f.patient = p->id;
  f.code = "2345-8";
  f.value = "5.4";
  auto bad = create_resource(s, *build_record(f));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code() == ErrorCode::kInvalidData);
  CHECK(bad.error().message() == "Observation.code.coding[0].code: LOINC code fails its check digit");
  CHECK(count(s, "SELECT count(*) FROM resource WHERE type = 'Observation'") == "0");
  CHECK(count(s, "SELECT count(*) FROM history WHERE type = 'Observation'") == "0");
  auto dup = create_resource(s, p->resource);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code() == ErrorCode::kAlreadyExists);
  CHECK(dup.error().message() == "Patient/" + p->id + " already exists");
}

TEST_CASE("update_patient refuses another patient's MRN and keeps the stored version") {
  Fixture fx;
  Session s = fx.create();
  auto a = register_patient(s, patient("Smith", "John", "A1"), "urn:test:mrn");
  auto b = register_patient(s, patient("Jones", "Mary", "B2"), "urn:test:mrn");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  Json taken = patient("Jones", "Mary", "A1");
  taken.set("id", Json::string(b->id));
  auto refused = update_patient(s, taken, "urn:test:mrn", "typo");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == ErrorCode::kAlreadyExists);
  CHECK(count(s, "SELECT count(*) FROM history WHERE id = '" + b->id + "'") == "0");
  CHECK(read_resource(s, "Patient", b->id)->version == 1);
  Json own = patient("Smith", "Johnny", "A1");
  own.set("id", Json::string(a->id));
  auto kept = update_patient(s, own, "urn:test:mrn", "nickname");
  REQUIRE_MESSAGE(kept.ok(), (kept.ok() ? "" : kept.error().message()));
  CHECK(kept->version == 2);
}

TEST_CASE("record fields: the --value of a vital or lab is a number, and --unit is never dropped") {
  RecordFields f;
  f.patient = "p1";
  f.code = "29463-7";
  f.unit = "kg";
  struct Case {
    const char* kind;
    const char* value;
    const char* unit;
    std::optional<ErrorCode> code;  // nullopt: built
    const char* message;
  };
  const Case cases[] = {
      {"vital", "72.5", "kg", std::nullopt, ""},
      {"vital", "-3", "", std::nullopt, ""},
      {"lab", "1e3", "/uL", std::nullopt, ""},
      {"vital", "72,5", "kg", ErrorCode::kInvalidData,
       "--value must be a number for --type vital, written with a decimal point (72.5); a text result goes in "
       "with --json"},
      {"lab", "positive", "", ErrorCode::kInvalidData,
       "--value must be a number for --type lab, written with a decimal point (72.5); a text result goes in "
       "with --json"},
      {"lab", " 5", "", ErrorCode::kInvalidData,
       "--value must be a number for --type lab, written with a decimal point (72.5); a text result goes in "
       "with --json"},
      {"condition", "", "kg", ErrorCode::kInvalidArgument, "--unit applies to --type vital and lab, not condition"},
      {"note", "some text", "kg", ErrorCode::kInvalidArgument, "--unit applies to --type vital and lab, not note"},
      {"condition", "severe", "", ErrorCode::kInvalidArgument,
       "--value applies to --type vital, lab and note, not condition"},
      {"allergy", "3", "", ErrorCode::kInvalidArgument, "--value applies to --type vital, lab and note, not allergy"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.kind);
    CAPTURE(c.value);
    f.kind = c.kind;
    f.value = c.value;
    f.unit = c.unit;
    auto r = build_record(f);
    if (!c.code) {
      REQUIRE(r.ok());
      const Json* q = r->find("valueQuantity");
      REQUIRE(q != nullptr);
      CHECK(r->find("valueString") == nullptr);
      CHECK((q->find("unit") != nullptr) == (*c.unit != '\0'));
      continue;
    }
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == *c.code);
    CHECK(r.error().message() == c.message);
  }
}

TEST_CASE("record fields: a flag the kind does not use is refused, not dropped") {
  RecordFields f;
  f.patient = "p1";
  f.kind = "lab";
  f.code = "2345-7";
  f.value = "5.4";
  f.dosage = "daily";
  auto r = build_record(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == ErrorCode::kInvalidArgument);
  CHECK(r.error().message() == "--dosage applies to --type medication and medication-statement, not lab");
  f.dosage.clear();
  f.criticality = "high";
  CHECK(build_record(f).error().message() == "--criticality applies to --type allergy, not lab");
  f.criticality.clear();
  CHECK(build_record(f).ok());
  RecordFields bp;
  bp.patient = "p1";
  bp.kind = "blood-pressure";
  bp.systolic = "120";
  bp.diastolic = "80";
  CHECK(build_record(bp).ok());
  bp.system = "loinc";
  CHECK(build_record(bp).error().message() ==
        "--system applies to --type vital, lab, condition, allergy, medication, medication-statement, "
        "immunization, procedure and encounter, not blood-pressure");
}

TEST_CASE("set_record_status and add_record_note use the type's own elements") {
  RecordFields f;
  f.patient = "p1";
  f.kind = "condition";
  f.code = "44054006";
  Json condition = *build_record(f);
  condition.set("status", Json::string("resolved"));  // as an older ehr's amend wrote it
  REQUIRE(set_record_status(condition, "resolved").ok());
  CHECK(condition.find("status") == nullptr);
  CHECK(to_json(*condition.find("clinicalStatus")) ==
        R"({"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"resolved"}]})");
  Json note = Json::object();
  note.set("text", Json::string("better"));
  REQUIRE(add_record_note(condition, note).ok());
  REQUIRE(add_record_note(condition, note).ok());
  CHECK(condition.find("note")->items().size() == 2);
  f.kind = "allergy";
  f.code = "7980";
  Json allergy = *build_record(f);
  REQUIRE(set_record_status(allergy, "inactive").ok());
  CHECK(to_json(*allergy.find("clinicalStatus")).find("allergyintolerance-clinical\",\"code\":\"inactive\"") !=
        std::string::npos);
  f.kind = "encounter";
  f.code = "";
  Json encounter = *build_record(f);
  REQUIRE(set_record_status(encounter, "cancelled").ok());
  CHECK(encounter.find("status")->text() == "cancelled");
  auto no_note = add_record_note(encounter, note);
  REQUIRE_FALSE(no_note.ok());
  CHECK(no_note.error().code() == ErrorCode::kInvalidArgument);
  CHECK(no_note.error().message() == "--note: Encounter has no note element; amend it with --json");
  CHECK(encounter.find("note") == nullptr);
  Json pat = patient("Smith", "John", "A1");
  auto no_status = set_record_status(pat, "active");
  REQUIRE_FALSE(no_status.ok());
  CHECK(no_status.error().message() == "--status: Patient has no status to change; amend it with --json");
  CHECK(pat.find("status") == nullptr);
}

TEST_CASE("patient_element: a type's one patient element, none for lists and Patient") {
  CHECK(patient_element("Observation") == "subject");
  CHECK(patient_element("AllergyIntolerance") == "patient");
  CHECK(patient_element("Immunization") == "patient");
  CHECK(patient_element("Coverage") == "beneficiary");
  CHECK(patient_element("Task") == "for");
  CHECK(patient_element("ResearchSubject") == "individual");
  CHECK(patient_element("Account") == "");
  CHECK(patient_element("Appointment") == "");
  CHECK(patient_element("Group") == "");
  CHECK(patient_element("Provenance") == "");
  CHECK(patient_element("Patient") == "");
  CHECK(patient_element("Nope") == "");
}

TEST_CASE("record fields: without --date, what is recorded now is dated at the time of recording") {
  // Undated, a blood pressure or a procedure just recorded was invisible to
  // the preventive-care rules, which read only dated records.
  struct Case {
    const char* kind;
    const char* element;  // where the date goes ("" = stays undated)
  };
  const Case cases[] = {
      {"vital", "effectiveDateTime"},    {"lab", "effectiveDateTime"},      {"blood-pressure", "effectiveDateTime"},
      {"procedure", "performedDateTime"}, {"medication", "authoredOn"},     {"note", "date"},
      {"condition", ""},                  {"allergy", ""},                 {"medication-statement", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.kind);
    RecordFields f;
    f.kind = c.kind;
    f.patient = "p1";
    std::string kind = c.kind;
    if (kind == "blood-pressure") {
      f.systolic = "120";
      f.diastolic = "80";
    } else {
      f.code = "29463-7";
    }
    if (kind == "vital" || kind == "lab" || kind == "note") f.value = "1";
    f.recorded_at = "2026-11-20T09:30:00Z";
    auto r = build_record(f);
    REQUIRE(r.ok());
    CHECK(record_kind_dated_when_recorded(c.kind) == (*c.element != '\0'));
    if (*c.element == '\0') {
      for (const char* e : {"onsetDateTime", "effectiveDateTime", "recordedDate"}) CHECK(r->find(e) == nullptr);
      continue;
    }
    const Json* d = r->find(c.element);
    REQUIRE(d != nullptr);
    CHECK(d->text() == "2026-11-20T09:30:00Z");
    // --date wins; with no time of recording the record stays undated.
    f.date = "2026-01-02";
    std::string given = std::string(c.kind) == "note" ? "2026-01-02T00:00:00Z" : "2026-01-02";
    CHECK(build_record(f)->find(c.element)->text() == given);
    f.date.clear();
    f.recorded_at.clear();
    CHECK(build_record(f)->find(c.element) == nullptr);
  }
  // An encounter starts then; an immunization still needs --date.
  RecordFields e;
  e.kind = "encounter";
  e.patient = "p1";
  e.recorded_at = "2026-11-20T09:30:00Z";
  auto enc = build_record(e);
  REQUIRE(enc.ok());
  CHECK(to_json(*enc->find("period")) == R"({"start":"2026-11-20T09:30:00Z"})");
  e.kind = "immunization";
  e.code = "140";
  auto imm = build_record(e);
  REQUIRE_FALSE(imm.ok());
  CHECK(imm.error().message() == "--date is required for --type immunization");
}

TEST_CASE("retraction hides a record but keeps every version; purge leaves a tombstone") {
  Fixture fx;
  Session s = fx.create();
  auto p = create_resource(s, patient("Smith", "Ann", "A3"));
  REQUIRE(p.ok());
  RecordFields f;
  f.kind = "condition";
  f.patient = p->id;
  f.code = "44054006";
  f.display = "Diabetes mellitus type 2";
  auto c = create_resource(s, *build_record(f));
  REQUIRE(c.ok());
  auto r = retract_resource(s, "Condition", c->id, "wrong patient");
  REQUIRE(r.ok());
  CHECK(r->retracted);
  CHECK(r->resource.find("clinicalStatus") == nullptr);
  CHECK(to_json(*r->resource.find("verificationStatus")).find("entered-in-error") != std::string::npos);
  auto again = retract_resource(s, "Condition", c->id, "twice");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code() == ErrorCode::kConflict);

  RecordQuery q;
  q.patient = p->id;
  auto visible = patient_records(s, q);
  REQUIRE(visible.ok());
  CHECK(visible->size() == 1);  // the patient only
  q.include_retracted = true;
  CHECK(patient_records(s, q)->size() == 2);
  auto h = resource_history(s, "Condition", c->id);
  REQUIRE(h->size() == 2);
  CHECK((*h)[0].resource->find("clinicalStatus") != nullptr);

  REQUIRE(purge_resource(s, "Condition", c->id, "duplicate upload").ok());
  CHECK(read_resource(s, "Condition", c->id).error().code() == ErrorCode::kNotFound);
  auto after = resource_history(s, "Condition", c->id);
  REQUIRE(after.ok());
  CHECK(after->size() == 3);
  CHECK(after->back().action == "purge");
  CHECK_FALSE(after->front().resource.has_value());  // content gone from history too
  CHECK(count(s, "SELECT reason FROM tombstone") == "duplicate upload");
}

TEST_CASE("patients are found by MRN, id, name prefix without case or accents, birth date and phone") {
  Fixture fx;
  Session s = fx.create();
  auto zoe = create_resource(s, patient("Núñez", "Zoë", "A10"));
  auto john = create_resource(s, patient("Smith", "John", "A11"));
  REQUIRE(zoe.ok());
  REQUIRE(john.ok());
  CHECK(find_patient(s, "A10", "urn:test:mrn")->id == zoe->id);
  CHECK(find_patient(s, zoe->id, "urn:test:mrn")->id == zoe->id);
  CHECK(find_patient(s, "nope", "urn:test:mrn").error().message() == "no patient nope");
  struct Case {
    PatientQuery q;
    size_t hits;
  };
  std::vector<Case> cases;
  cases.push_back({q("zoe nun", "", "", "", ""), 1});
  cases.push_back({q("NUNEZ", "", "", "", ""), 1});
  cases.push_back({q("Núñ", "", "", "", ""), 1});
  cases.push_back({q("s", "", "", "", ""), 1});
  cases.push_back({q("zoe smith", "", "", "", ""), 0});
  cases.push_back({q("", "1984", "", "", ""), 2});
  cases.push_back({q("", "1984-02-29", "", "", ""), 2});
  cases.push_back({q("", "1985", "", "", ""), 0});
  cases.push_back({q("", "", "urn:test:mrn", "A11", ""), 1});
  cases.push_back({q("", "", "", "", "5550100100"), 2});
  cases.push_back({q("", "", "", "", "010-0100"), 2});
  for (const auto& c : cases) {
    CAPTURE(c.q.name);
    CAPTURE(c.q.birth_date);
    auto r = search_patients(s, c.q);
    REQUIRE(r.ok());
    CHECK(r->size() == c.hits);
  }
  CHECK(search_patients(s, {}).error().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("a search without inactive patients leaves out active: false (a JSON boolean)") {
  Fixture fx;
  Session s = fx.create();
  Json gone = patient("Inactive", "Ivy", "A90");
  gone.set("active", Json::boolean(false));
  REQUIRE(create_resource(s, gone).ok());
  Json here = patient("Inactive", "Ian", "A91");
  here.set("active", Json::boolean(true));
  REQUIRE(create_resource(s, here).ok());
  PatientQuery query = q("inactive", "", "", "", "");
  auto all = search_patients(s, query);
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
  query.include_inactive = false;
  auto active = search_patients(s, query);
  REQUIRE(active.ok());
  REQUIRE(active->size() == 1);
  CHECK(active->front().resource.find("name")->items().front().find("given")->items().front().text() == "Ian");
}

TEST_CASE("search orders by family, given name and id; --limit keeps the first matches by id") {
  Fixture fx;
  Session s = fx.create();
  // Ids in the reverse of the name order.
  const std::vector<std::tuple<std::string, std::string, std::string>> people = {
      {"p4", "Nunez", "Adam"}, {"p3", "Núñez", "Zoë"}, {"p2", "nunes", "Zack"}, {"p1", "NUNEZ", "adam"}};
  for (const auto& [id, family, given] : people) {
    Json p = patient(family, given, "M" + id);
    p.set("id", Json::string(id));
    REQUIRE(create_resource(s, p).ok());
  }
  auto ids = [](const auto& rows) {
    std::string out;
    for (const auto& r : rows) out += (out.empty() ? "" : " ") + r.id;
    return out;
  };
  PatientQuery query = q("nun", "", "", "", "");
  auto all = search_patients(s, query);
  REQUIRE(all.ok());
  CHECK(ids(*all) == "p2 p1 p4 p3");  // nunes; nunez adam (p1, p4); nunez zoe
  auto as_text = search_patients_json(s, query);
  REQUIRE(as_text.ok());
  CHECK(ids(*as_text) == "p2 p1 p4 p3");
  for (size_t i = 0; i < as_text->size(); ++i)
    CHECK(*parse_json((*as_text)[i].json) == (*all)[i].resource);
  query.limit = 2;  // the first two by id (p1, p2), then in name order
  CHECK(ids(*search_patients(s, query)) == "p2 p1");
  CHECK(ids(*search_patients_json(s, query)) == "p2 p1");
  CHECK(count(s, "SELECT patients || '|' || count FROM audit ORDER BY seq DESC LIMIT 1") == "p2 p1|2");
}

TEST_CASE("a batch is created in one transaction, all or nothing") {
  Fixture fx;
  Session s = fx.create();
  std::vector<Json> good = {patient("A", "B", "B1"), patient("C", "D", "B2")};
  auto ok = create_resources(s, good);
  REQUIRE(ok.ok());
  CHECK(ok->size() == 2);
  Json bad = patient("E", "F", "B3");
  bad.set("gender", Json::string("robot"));
  auto refused = create_resources(s, {patient("G", "H", "B4"), bad});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == ErrorCode::kInvalidData);
  CHECK(refused.error().message().rfind("resource 2: Patient.gender: ", 0) == 0);
  CHECK(count(s, "SELECT count(*) FROM resource") == "2");
}

TEST_CASE("fold_name lower-cases and strips Latin diacritics") {
  CHECK(fold_name("Zoë Ñúñez") == "zoe nunez");
  CHECK(fold_name("ÆSØ Łukasz Đorđe ß") == "aeso lukasz dorde ss");
  CHECK(fold_name("Zoe\xcc\x88") == "zoe");  // combining diaeresis
  CHECK(fold_name("李小龍") == "李小龍");
}

TEST_CASE("a user without a clinical role is denied, and the denial is audited") {
  Fixture fx;
  {
    Session admin = fx.create();
    REQUIRE(admin.store().add_slot({"frank", "", testing::kFast}, Secret::passphrase("pw-frank")).ok());
  }
  SessionOptions o = fx.options();
  o.user = "frank";
  auto s = Session::open(fx.path, Secret::passphrase("pw-frank"), o);
  REQUIRE(s.ok());
  auto r = create_resource(*s, patient("X", "Y", "A20"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == ErrorCode::kAccessDenied);
  CHECK(r.error().message() ==
        "user frank (roles: none) may not create Patient: no role of the user allows create on Patient");
  CHECK(count(*s, "SELECT count(*) FROM resource") == "0");
  CHECK(count(*s, "SELECT action || ' ' || outcome || ' ' || user FROM audit ORDER BY seq DESC LIMIT 1") ==
        "create denied frank");
}

TEST_CASE("every read and write leaves an audit row without clinical content") {
  Fixture fx;
  Session s = fx.create();
  auto p = create_resource(s, patient("Doe", "Jane", "A30"));
  REQUIRE(p.ok());
  REQUIRE(read_resource(s, "Patient", p->id).ok());
  CHECK(count(s, "SELECT group_concat(action, ',') FROM audit") == "user-add,create,read");
  CHECK(count(s, "SELECT count(*) FROM audit WHERE detail LIKE '%Doe%' OR resources LIKE '%Doe%' "
                 "OR patients LIKE '%Doe%'") == "0");
}

// QA finding (interop sweep): clinical dates were ordered as text, so a
// potassium at 20:00-05:00 (01:00Z the next day) came before one at 23:00Z
// and `care check` flagged the older one as the latest.
TEST_CASE("records sort by the instant of their date whatever its zone; migration 13 converts stored dates") {
  Fixture fx;
  std::string pid;
  {
    Session s = fx.create();
    auto p = create_resource(s, patient("Zone", "Ann", "Z1"));
    REQUIRE(p.ok());
    pid = p->id;
    for (const auto& [id, when] : std::vector<std::pair<std::string, std::string>>{
             {"k-local", "2026-11-01T20:00:00-05:00"}, {"k-utc", "2026-11-01T23:00:00Z"}, {"k-day", "2026-10-30"}}) {
      auto o = parse_json(R"({"resourceType":"Observation","id":")" + id +
                          R"(","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2823-3"}]},)"
                          R"("subject":{"reference":"Patient/)" + pid + R"("},"effectiveDateTime":")" + when +
                          R"(","valueQuantity":{"value":4.2,"unit":"mmol/L"}})");
      REQUIRE(o.ok());
      REQUIRE(create_resource(s, *o).ok());
    }
    CHECK(count(s, "SELECT group_concat(id || '=' || clinical_date, ' ') FROM "
                   "(SELECT id, clinical_date FROM resource WHERE type = 'Observation' ORDER BY clinical_date DESC)") ==
          "k-local=2026-11-02T01:00:00.000Z k-utc=2026-11-01T23:00:00.000Z k-day=2026-10-30");
    RecordQuery q;
    q.patient = pid;
    q.types = {"Observation"};
    auto records = patient_records(s, q);
    REQUIRE(records.ok());
    REQUIRE(records->size() == 3);
    CHECK((*records)[0].id == "k-local");  // newest first
    CHECK((*records)[1].id == "k-utc");
    // As a database of schema 12 holds them: the dates as written.
    REQUIRE(SessionImpl::of(s).db().exec(
        "UPDATE resource SET clinical_date = json_extract(json, '$.effectiveDateTime') WHERE type = 'Observation';"
        "DROP TABLE patient_key; PRAGMA user_version = 12").ok());
  }
  auto s = Session::open(fx.path, Secret::passphrase("pw"), fx.options());
  REQUIRE(s.ok());
  CHECK(count(*s, "SELECT group_concat(id || '=' || clinical_date, ' ') FROM "
                  "(SELECT id, clinical_date FROM resource WHERE type = 'Observation' ORDER BY clinical_date DESC)") ==
        "k-local=2026-11-02T01:00:00.000Z k-utc=2026-11-01T23:00:00.000Z k-day=2026-10-30");
}

// QA finding dates 04 and 05: a dispensing (whenHandedOver) had no clinical
// date, so it was ordered by id and dropped by every --since; a record dated
// by day was dropped by --since an instant of that day.
TEST_CASE("record show dates every type it can and --since counts a day by its last instant; migration 16") {
  Fixture fx;
  std::string pid;
  {
    Session s = fx.create();
    auto p = create_resource(s, patient("Dispense", "Ann", "D16"));
    REQUIRE(p.ok());
    pid = p->id;
    for (const std::string& json :
         {R"({"resourceType":"MedicationDispense","id":"md","status":"completed",)"
          R"("medicationCodeableConcept":{"text":"amoxicillin"},"subject":{"reference":"Patient/)" + pid +
              R"("},"whenHandedOver":"2026-03-01T10:00:00+01:00"})",
          R"({"resourceType":"Observation","id":"day","status":"final","code":{"text":"x"},)"
          R"("subject":{"reference":"Patient/)" + pid + R"("},"effectiveDateTime":"2026-01-01"})"}) {
      auto r = parse_json(json);
      REQUIRE(r.ok());
      REQUIRE_MESSAGE(create_resource(s, *r).ok(), json);
    }
    CHECK(count(s, "SELECT clinical_date FROM resource WHERE id = 'md'") == "2026-03-01T09:00:00.000Z");
    RecordQuery q;
    q.patient = pid;
    q.since = "2026-01-01T06:00:00Z";
    auto shown = patient_records(s, q);
    REQUIRE(shown.ok());
    std::string ids;
    for (const auto& r : *shown) ids += r.id + " ";
    CHECK(ids == pid + " md day ");
    q.since = "2026-01-02";
    shown = patient_records(s, q);
    REQUIRE(shown.ok());
    CHECK(shown->size() == 2);  // the patient and md
    // As a database of schema 15 holds it: no date.
    REQUIRE(SessionImpl::of(s).db().exec("UPDATE resource SET clinical_date = NULL WHERE id = 'md'; "
                                         "PRAGMA user_version = 15").ok());
  }
  auto s = Session::open(fx.path, Secret::passphrase("pw"), fx.options());
  REQUIRE(s.ok());
  CHECK(count(*s, "SELECT clinical_date FROM resource WHERE id = 'md'") == "2026-03-01T09:00:00.000Z");
  CHECK(count(*s, "SELECT count(*) FROM resource WHERE clinical_date = ''") == "0");
}

// QA finding dates 07: after the clock stepped back, a change got a
// lastUpdated before an export's transactionTime (and before the version it
// replaced), and the next --since window never held it.
TEST_CASE("times follow the change sequence when the clock steps back") {
  Fixture fx;
  std::string clock = "2026-11-25T10:05:00.000Z";
  std::string rid;
  {
    Session s = fx.create();
    auto p = create_resource(s, patient("Clock", "Ann", "C7"));
    REQUIRE(p.ok());
    rid = p->id;
  }
  auto at = [&] {
    SessionOptions o = fx.options();
    o.now = [&] { return clock; };
    auto s = Session::open(fx.path, Secret::passphrase("pw"), o);
    REQUIRE(s.ok());
    return std::move(*s);
  };
  std::string v1;
  {
    Session s = at();
    auto cur = read_resource(s, "Patient", rid);
    REQUIRE(cur.ok());
    Json next = cur->resource;
    next.set("gender", Json::string("female"));
    auto w = update_resource(s, std::move(next), "");
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
    v1 = w->last_updated;
    CHECK(v1 == "2026-11-25T10:05:00.000Z");
  }
  clock = "2026-11-25T10:01:00.000Z";  // four minutes back
  Session s = at();
  auto cur = read_resource(s, "Patient", rid);
  REQUIRE(cur.ok());
  Json next = cur->resource;
  next.set("gender", Json::string("male"));
  auto w = update_resource(s, std::move(next), "");
  REQUIRE(w.ok());
  CHECK(w->last_updated > v1);
  CHECK(count(s, "SELECT count(*) FROM audit a JOIN audit b ON b.seq = a.seq + 1 WHERE b.time < a.time") == "0");
}

// QA access sweep: a contained resource's security label was ignored, so
// an order holding a Medication labelled substance-use was exported and
// shown to roles without that clearance.
TEST_CASE("a record's labels include its contained resources'; migration 17") {
  Fixture fx;
  {
    Session s = fx.create();
    auto p = create_resource(s, patient("Contained", "Ann", "C17"));
    REQUIRE(p.ok());
    auto mr = parse_json(R"({"resourceType":"MedicationRequest","id":"mr","status":"active","intent":"order",)"
                         R"("subject":{"reference":"Patient/)" + p->id + R"("},"contained":[{"resourceType":)"
                         R"("Medication","id":"m1","meta":{"security":[{"system":)"
                         R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"ETH"}]},)"
                         R"("code":{"text":"buprenorphine"}}],"medicationReference":{"reference":"#m1"}})");
    REQUIRE(mr.ok());
    REQUIRE(create_resource(s, *mr).ok());
    CHECK(count(s, "SELECT security FROM resource WHERE id = 'mr'") == "ETH");
    // As a database of schema 16 holds it: the top level's labels only.
    REQUIRE(SessionImpl::of(s).db().exec("UPDATE resource SET security = NULL WHERE id = 'mr'; "
                                         "PRAGMA user_version = 16").ok());
  }
  auto s = Session::open(fx.path, Secret::passphrase("pw"), fx.options());
  REQUIRE(s.ok());
  CHECK(count(*s, "SELECT security FROM resource WHERE id = 'mr'") == "ETH");
  CHECK(count(*s, "SELECT count(*) FROM resource WHERE security = ''") == "0");
}

TEST_CASE("a database from a newer ehr is refused") {
  Fixture fx;
  {
    Session s = fx.create();
    REQUIRE(SessionImpl::of(s).db().exec("PRAGMA user_version=999").ok());
  }
  auto s = Session::open(fx.path, Secret::passphrase("pw"), fx.options());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == ErrorCode::kConflict);
  CHECK(s.error().message() == "database schema version 999 is newer than this ehr (which knows " +
                                   std::to_string(current_schema_version()) + "); upgrade ehr");
}

}

}  // namespace
}  // namespace ehr
