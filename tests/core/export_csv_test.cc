// CSV export (core/src/export_csv.cc and export_bulk's csv format): RFC 4180
// quoting, the spreadsheet formula guard, the record columns, and the files.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ehr/access.h"
#include "ehr/export.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "export_internal.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_SUITE("export_csv") {

TEST_CASE("cells: RFC 4180 quoting and a leading apostrophe for what a spreadsheet would run") {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"", ""},
      {"plain", "plain"},
      {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"two\nlines", "\"two\nlines\""},
      {"cr\rlf", "\"cr\rlf\""},
      {" padded ", " padded "},
      {"Zoë Ångström", "Zoë Ångström"},
      {"=1+1", "'=1+1"},
      {"@SUM(A1:A9)", "'@SUM(A1:A9)"},
      {"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
      {"-2+3", "'-2+3"},
      {"-abc", "'-abc"},
      {"\tx", "'\tx"},
      {"\rx", "\"'\rx\""},
      {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
      {"-5", "-5"},
      {"+1.5", "+1.5"},
      {"-1.25e-3", "-1.25e-3"},
      {"-", "'-"},
      {"-1.", "'-1."},
      {"1-2", "1-2"},
      {"a=b", "a=b"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(detail::csv_cell(c.in) == c.out);
  }
  CHECK(detail::csv_line({"a", "b,c", ""}) == "a,\"b,c\",\r\n");
}

TEST_CASE("a record's line: patient, type, id, version, last_updated, date, status, code, display, value, unit") {
  auto obs = parse_json(
      R"({"resourceType":"Observation","id":"bp","meta":{"versionId":"2","lastUpdated":"2026-11-25T10:00:00.000Z"},"status":"final",)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure, panel"}]},)"
      R"("effectiveDateTime":"2026-11-24T08:00:00Z","component":[{"valueQuantity":{"value":120,"unit":"mmHg"}},{"valueQuantity":{"value":80,"unit":"mmHg"}}]})");
  REQUIRE(obs.ok());
  CHECK(detail::csv_record_line("p1", *obs) ==
        "p1,Observation,bp,2,2026-11-25T10:00:00.000Z,2026-11-24T08:00:00Z,final,http://loinc.org,85354-9,"
        "\"Blood pressure, panel\",120/80,mmHg\r\n");
  auto glucose = parse_json(
      R"({"resourceType":"Observation","id":"g","status":"final","code":{"text":"=cmd"},"valueQuantity":{"value":-0.5,"code":"mmol/L"}})");
  CHECK(detail::csv_record_line("", *glucose) == ",Observation,g,,,,final,,,'=cmd,-0.5,mmol/L\r\n");
  std::string header;
  for (const auto& c : detail::csv_record_columns()) header += (header.empty() ? "" : ",") + c;
  CHECK(header == "patient,type,id,version,last_updated,date,status,code_system,code,display,value,unit");
}

TEST_CASE("the csv format: one Type.csv per type with a header, the manifest listing them") {
  TempDir dir;
  SessionOptions so;
  so.user = "alice";
  so.first_user_roles = {"physician", "service"};
  so.now = [] { return std::string("2026-11-25T10:00:00.000Z"); };
  auto s = Session::create(dir.file("x.ehr"), {"alice", "", testing::kFast}, Secret::passphrase("pw"), so);
  REQUIRE(s.ok());
  REQUIRE(create_resource(*s, *parse_json(R"({"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Jo"]}],"birthDate":"1970-01-01"})")).ok());
  REQUIRE(create_resource(*s, *parse_json(R"({"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"code":{"text":"asthma"}})")).ok());
  ExportOptions o;
  o.format = ExportFormat::kCsv;
  o.out_dir = dir.file("out");
  o.request = "test";
  NullProgress p;
  auto r = export_bulk(*s, o, p);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(o.out_dir)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"Condition.csv", "Patient.csv", "manifest.json"});
  const std::string header = "patient,type,id,version,last_updated,date,status,code_system,code,display,value,unit\r\n";
  CHECK(slurp(o.out_dir + "/Patient.csv") == header + "p1,Patient,p1,1,2026-11-25T10:00:00.000Z,1970-01-01,,,,Jo Doe,,\r\n");
  CHECK(slurp(o.out_dir + "/Condition.csv") == header + "p1,Condition,c1,1,2026-11-25T10:00:00.000Z,,,,,asthma,,\r\n");
  REQUIRE(r->output.size() == 2);
  CHECK(r->output[0].url == "Condition.csv");
  CHECK(r->output[0].count == 1);
  CHECK(r->output[0].bytes == static_cast<std::int64_t>(slurp(o.out_dir + "/Condition.csv").size()));
  CHECK(r->bytes == static_cast<std::int64_t>(slurp(o.out_dir + "/Condition.csv").size() +
                                               slurp(o.out_dir + "/Patient.csv").size() +
                                               slurp(o.out_dir + "/manifest.json").size()));
}


TEST_CASE("the patient column of a record reduced to some fields: only what the kept elements name") {
  auto full = parse_json(
      R"({"resourceType":"Observation","id":"o","status":"final","code":{"text":"weight"},)"
      R"("subject":{"reference":"Patient/p1"},"performer":[{"reference":"Patient/p2"}]})");
  REQUIRE(full.ok());
  auto reduced = [&](std::vector<std::string> fields) {  // as apply_fields keeps them
    Json out = Json::object();
    for (const auto& [k, v] : full->members())
      if (k == "resourceType" || k == "id" || std::find(fields.begin(), fields.end(), k) != fields.end())
        out.set(k, v);
    return out;
  };
  CHECK(detail::csv_shown_patient("*", *full, reduced({"status", "code"})) == "");
  CHECK(detail::csv_shown_patient("*", *full, reduced({"status", "subject", "performer"})) == "*");
  CHECK(detail::csv_shown_patient("*", *full, reduced({"subject"})) == "p1");
  auto keyed = parse_json(
      R"({"resourceType":"Observation","id":"k","status":"final","subject":{"identifier":{"value":"M1"}}})");
  REQUIRE(keyed.ok());
  Json status_only = Json::object();
  status_only.set("resourceType", Json::string("Observation"));
  status_only.set("id", Json::string("k"));
  CHECK(detail::csv_shown_patient("p1", *keyed, status_only) == "");
  CHECK(detail::csv_shown_patient("p1", *keyed, *keyed) == "p1");
  auto patient = parse_json(R"({"resourceType":"Patient","id":"p1","gender":"other"})");
  Json bare = Json::object();
  bare.set("resourceType", Json::string("Patient"));
  bare.set("id", Json::string("p1"));
  CHECK(detail::csv_shown_patient("p1", *patient, bare) == "p1");
}

// QA report 4, item 2: a role allowed to export Observation only with
// fields [status, code] got the patient id in the CSV patient column (and in
// deleted.csv) although the NDJSON export of the same records omits subject.
TEST_CASE("csv export of records the policy reduces to some fields: no withheld patient in any column") {
  TempDir dir;
  SessionOptions so;
  so.user = "alice";
  so.first_user_roles = {"physician", "service", "admin"};
  so.now = [] { return std::string("2026-11-25T10:00:00.000Z"); };
  auto s = Session::create(dir.file("x.ehr"), {"alice", "", testing::kFast}, Secret::passphrase("pw"), so);
  REQUIRE(s.ok());
  REQUIRE(create_resource(*s, *parse_json(R"({"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]})")).ok());
  for (const char* id : {"o1", "o2"})
    REQUIRE(create_resource(*s, *parse_json(std::string(R"({"resourceType":"Observation","id":")") + id +
                                            R"(","status":"final","code":{"coding":[{"system":"http://loinc.org",)"
                                            R"("code":"29463-7","display":"Body weight"}]},"subject":{"reference":)"
                                            R"("Patient/p1"},"effectiveDateTime":"2026-01-01",)"
                                            R"("valueQuantity":{"value":72.5,"unit":"kg"}})"))
                .ok());
  REQUIRE(retract_resource(*s, "Observation", "o2", "wrong patient").ok());
  // The service role may export Observations only as status and code.
  auto current = current_policy(*s);
  REQUIRE(current.ok());
  std::string text = current->text;
  const std::string grant = "      - actions: [import, export]\n";
  REQUIRE(text.find(grant) != std::string::npos);
  text.replace(text.find(grant), grant.size(),
               "      - actions: [export]\n        types: [Observation]\n        fields: [status, code]\n");
  auto applied = apply_policy(*s, text, "test");
  REQUIRE_MESSAGE(applied.ok(), (applied.ok() ? "" : applied.error().message()));

  ExportOptions o;
  o.format = ExportFormat::kCsv;
  o.out_dir = dir.file("out");
  o.request = "test";
  o.types = {"Observation"};
  o.since = "2026-01-01T00:00:00Z";
  NullProgress p;
  auto r = export_bulk(*s, o, p);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  CHECK(slurp(o.out_dir + "/Observation.csv") ==
        "patient,type,id,version,last_updated,date,status,code_system,code,display,value,unit\r\n"
        ",Observation,o1,1,2026-11-25T10:00:00.000Z,,final,http://loinc.org,29463-7,Body weight,,\r\n");
  CHECK(slurp(o.out_dir + "/deleted.csv") == "type,id,patient\r\nObservation,o2,\r\n");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
