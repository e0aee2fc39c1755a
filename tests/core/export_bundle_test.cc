// One patient's $everything Bundle (core/src/export_bundle.cc): contents and
// order, the records taken along by reference (transitively, cycles ended),
// fullUrl, the audit entry, and refusals that leave nothing behind.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ehr/export_bundle.h"
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
  std::string path = dir.file("x.ehr");
  Session s = create();

  Session create() {
    SessionOptions o;
    o.user = "alice";
    o.first_user_roles = {"physician", "service"};
    o.now = [] { return std::string("2026-11-25T10:00:00.000Z"); };
    auto r = Session::create(path, {"alice", "", testing::kFast}, Secret::passphrase("pw"), o);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
    return std::move(*r);
  }

  void add(const std::string& json) {
    auto r = create_resource(s, *parse_json(json));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  }

  // p1 with an Encounter (a PractitionerRole, a Location), a
  // MedicationRequest (a Medication) and a retracted Observation; p2 with
  // its own practitioner; organisations in a partOf cycle.
  void load() {
    add(R"({"resourceType":"Organization","id":"org-0","name":"Health System","partOf":{"reference":"Organization/org-1"}})");
    add(R"({"resourceType":"Organization","id":"org-1","name":"Riverside Clinic","partOf":{"reference":"Organization/org-0"}})");
    add(R"({"resourceType":"Organization","id":"org-2","name":"Lab Partners"})");
    add(R"({"resourceType":"Organization","id":"org-9","name":"Unrelated"})");
    add(R"({"resourceType":"Practitioner","id":"pr-1","name":[{"family":"Osler"}]})");
    add(R"({"resourceType":"Practitioner","id":"pr-9","name":[{"family":"Other"}]})");
    add(R"({"resourceType":"PractitionerRole","id":"role-1","practitioner":{"reference":"Practitioner/pr-1"},"organization":{"reference":"Organization/org-1"}})");
    add(R"({"resourceType":"Location","id":"loc-1","name":"Ward 3","managingOrganization":{"reference":"Organization/org-2"}})");
    add(R"({"resourceType":"Medication","id":"med-1","code":{"text":"metformin 500 mg"}})");
    add(R"({"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}],"managingOrganization":{"reference":"Organization/org-1"},"generalPractitioner":[{"reference":"Practitioner/pr-gone"}]})");
    add(R"({"resourceType":"Patient","id":"p2","name":[{"family":"Roe"}],"generalPractitioner":[{"reference":"Practitioner/pr-9"}]})");
    add(R"({"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"participant":[{"individual":{"reference":"PractitionerRole/role-1"}}],"location":[{"location":{"reference":"Location/loc-1"}}]})");
    add(R"({"resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"medicationReference":{"reference":"Medication/med-1"}})");
    add(R"({"resourceType":"Observation","id":"o1","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/pr-9"}]})");
    auto r = retract_resource(s, "Observation", "o1", "wrong patient");
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  }

  std::string query(const std::string& sql) { return *SessionImpl::of(s).db().query_text(sql); }
};

BundleExportOptions to_stdout(const std::string& patient) {
  BundleExportOptions o;
  o.patient = patient;
  o.output = "-";
  return o;
}

// "mode Type/id" of each entry, and fullUrl when present.
std::vector<std::string> entries(const Json& bundle) {
  std::vector<std::string> out;
  for (const auto& e : bundle.find("entry")->items()) {
    std::string line = e.find("search")->find("mode")->text() + " " + e.find("resource")->find("resourceType")->text() +
                       "/" + e.find("resource")->find("id")->text();
    if (const Json* u = e.find("fullUrl")) line += " " + u->text();
    out.push_back(line);
  }
  return out;
}

TEST_SUITE("export_bundle") {

TEST_CASE("the Patient, its current records, then what they reference, transitively, in a fixed order") {
  Fixture f;
  f.load();
  auto r = export_patient_bundle(f.s, to_stdout("p1"));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  auto bundle = parse_json(r->text);
  REQUIRE(bundle.ok());
  CHECK(bundle->find("resourceType")->text() == "Bundle");
  CHECK(bundle->find("type")->text() == "searchset");
  CHECK(bundle->find("timestamp")->text() == r->transaction_time);
  CHECK(bundle->find("total")->text() == "3");
  CHECK(entries(*bundle) == std::vector<std::string>{
                                "match Patient/p1", "match Encounter/e1", "match MedicationRequest/mr1",
                                "include Location/loc-1", "include Medication/med-1", "include Organization/org-0",
                                "include Organization/org-1", "include Organization/org-2",
                                "include Practitioner/pr-1", "include PractitionerRole/role-1"});
  CHECK(r->matches == 3);
  CHECK(r->included == 7);
  CHECK(r->bytes == static_cast<std::int64_t>(r->text.size()));
  CHECK(r->text.back() == '\n');
  // The stored resource byte for byte; the missing practitioner's reference kept.
  CHECK(r->text.find(R"({"resource":{"resourceType":"Patient","id":"p1",)") != std::string::npos);
  CHECK(r->text.find(R"("generalPractitioner":[{"reference":"Practitioner/pr-gone"}])") != std::string::npos);
  CHECK(f.query("SELECT patients || ':' || count || ':' || detail FROM audit WHERE action = 'export'") ==
        "p1:10:resources by bundle export (Encounter 1, MedicationRequest 1, Patient 1; referenced Location 1, "
        "Medication 1, Organization 3, Practitioner 1, PractitionerRole 1)");
}

TEST_CASE("--type narrows every part; --base-url gives absolute fullUrls") {
  Fixture f;
  f.load();
  BundleExportOptions o = to_stdout("p1");
  o.types = {"Patient", "Organization"};
  o.base_url = "https://ehr.example.org/fhir/";
  auto r = export_patient_bundle(f.s, o);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  CHECK(entries(*parse_json(r->text)) ==
        std::vector<std::string>{"match Patient/p1 https://ehr.example.org/fhir/Patient/p1",
                                 "include Organization/org-0 https://ehr.example.org/fhir/Organization/org-0",
                                 "include Organization/org-1 https://ehr.example.org/fhir/Organization/org-1",
                                 "include Organization/org-2 https://ehr.example.org/fhir/Organization/org-2"});
  // Another patient takes only its own references.
  auto p2 = export_patient_bundle(f.s, to_stdout("p2"));
  REQUIRE(p2.ok());
  CHECK(entries(*parse_json(p2->text)) == std::vector<std::string>{"match Patient/p2", "include Practitioner/pr-9"});
}

TEST_CASE("a file appears whole, mode 0600, only when audited; refusals leave nothing") {
  Fixture f;
  f.load();
  BundleExportOptions o = to_stdout("p1");
  o.output = f.dir.file("p1.json");
  auto r = export_patient_bundle(f.s, o);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  CHECK(r->text.empty());
  std::ifstream in(o.output);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == export_patient_bundle(f.s, to_stdout("p1"))->text);
  struct stat st;
  REQUIRE(::stat(o.output.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  struct Case {
    void (*set)(BundleExportOptions&, const std::string& dir);
    ErrorCode code;
    std::string message;
  };
  const Case cases[] = {
      {[](BundleExportOptions& b, const std::string& d) { b.output = d + "/p1.json"; }, ErrorCode::kAlreadyExists,
       f.dir.file("p1.json") + " already exists"},
      {[](BundleExportOptions& b, const std::string& d) { b.output = d + "/no/such.json"; }, ErrorCode::kCantCreate,
       f.dir.file("no/such.json") + ": No such file or directory"},
      {[](BundleExportOptions& b, const std::string& d) {
         b.output = d + "/x.json";
         b.patient = "nobody";
       },
       ErrorCode::kNotFound, "no patient nobody"},
      {[](BundleExportOptions& b, const std::string& d) {
         b.output = d + "/x.json";
         b.types = {"Patients"};
       },
       ErrorCode::kInvalidArgument, "--type Patients: not a FHIR R4 resource type"},
      {[](BundleExportOptions& b, const std::string& d) {
         b.output = d + "/x.json";
         b.base_url = "ftp://x";
       },
       ErrorCode::kInvalidArgument, "--base-url ftp://x: not an absolute http(s) URL without query or fragment"},
      {[](BundleExportOptions& b, const std::string& d) {
         b.output = d + "/x.json";
         b.since = "2026-11-25";
       },
       ErrorCode::kInvalidArgument,
       "--since 2026-11-25: not an instant (YYYY-MM-DDThh:mm:ss[.sss] with Z or +hh:mm)"},
  };
  std::string audit_before = f.query("SELECT count(*) FROM audit WHERE action = 'export'");
  for (const auto& c : cases) {
    BundleExportOptions b = to_stdout("p1");
    c.set(b, f.dir.path());
    auto e = export_patient_bundle(f.s, b);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code() == c.code);
    CHECK(e.error().message().find(c.message) != std::string::npos);
  }
  CHECK(f.query("SELECT count(*) FROM audit WHERE action = 'export'") == audit_before);
  CHECK_FALSE(testing::file_exists(f.dir.file("x.json")));
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
