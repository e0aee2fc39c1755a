// Printing resources (cli/resource_output.cc): the json and ndjson output
// written from the stored JSON text must equal, byte for byte, what printing
// the parsed resources wrote; and `patient find` and `record show` must
// print exactly what they printed when they parsed every resource, with the
// same audit entries.
#include <doctest/doctest.h>

#include <sstream>

#include "ehr/builders.h"
#include "ehr/records.h"
#include "ehr/session.h"
#include "resource_output.h"
#include "secret_input.h"
#include "session_impl.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using cli::Format;

StoredJson stored(std::string type, std::string id, std::string json) {
  StoredJson r;
  r.type = std::move(type);
  r.id = std::move(id);
  r.version = 1;
  r.seq = 7;
  r.last_updated = "2026-11-25T10:00:00.000Z";
  r.patient = "p1";
  r.json = std::move(json);
  return r;
}

// Documents as ehr stores them (to_json of a parsed value), plus one text
// that is not JSON, which must print as null either way.
std::vector<StoredJson> sample() {
  const char* docs[] = {
      R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":"2026-11-25T10:00:00.000Z"},)"
      R"("name":[{"family":"Núñez","given":["Zoë","Ann"]}],"birthDate":"1984-02-29","gender":"female",)"
      R"("identifier":[{"system":"urn:ehr:mrn","value":"A1"}],"telecom":[{"system":"phone","value":"555 0100"}],)"
      R"("extension":[],"contact":{},"text":{"div":"a \"quoted\"\nline\\ with \u0001 and \u007f, \/ 李 😀"}})",
      R"({"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org",)"
      R"("code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/p1"},)"
      R"("effectiveDateTime":"2026-01-02T08:00:00Z","valueQuantity":{"value":72.50,"unit":"/min"}})",
      "{not json",
  };
  std::vector<StoredJson> out;
  int i = 0;
  for (const char* d : docs) {
    Json parsed = parse_json(d).ok() ? *parse_json(d) : Json();
    // Stored text is what to_json wrote, except for the broken one.
    std::string text = parsed.is_null() ? std::string(d) : to_json(parsed);
    out.push_back(stored(i == 1 ? "Observation" : "Patient", "r" + std::to_string(i), text));
    ++i;
  }
  return out;
}

std::string print_with(Format format, bool patients, bool from_text, std::vector<StoredJson> rs) {
  std::istringstream in;
  std::ostringstream out, err;
  cli::Io io(in, out, err);
  cli::Context ctx(io, *resolve_config({}), format, false, false);
  if (from_text) {
    if (patients) cli::print_patients(ctx, std::move(rs));
    else cli::print_resources(ctx, std::move(rs));
  } else {
    std::vector<StoredResource> parsed;
    for (auto& r : rs) parsed.push_back(parse_stored(std::move(r)));
    if (patients) cli::print_patients(ctx, std::move(parsed));
    else cli::print_resources(ctx, std::move(parsed));
  }
  return out.str();
}

Json patient(const std::string& family, std::vector<std::string> given, const std::string& mrn) {
  PatientFields f;
  f.family = family;
  f.given = std::move(given);
  f.mrn = mrn;
  f.mrn_system = "urn:ehr:mrn";
  f.birth_date = "1984-02-29";
  return *build_patient(f);
}

TEST_SUITE("resource_output") {

TEST_CASE("stored JSON text prints as the parsed resources did, in every format") {
  for (Format f : {Format::kTable, Format::kJson, Format::kNdjson, Format::kCsv, Format::kYaml,
                   Format::kBundle}) {
    for (bool patients : {false, true}) {
      CAPTURE(static_cast<int>(f));
      CAPTURE(patients);
      std::string before = print_with(f, patients, false, sample());
      CHECK(print_with(f, patients, true, sample()) == before);
      CHECK(print_with(f, patients, true, {}) == print_with(f, patients, false, {}));
    }
  }
  // The texts are really used for json and ndjson: the broken one is null.
  CHECK(print_with(Format::kNdjson, false, true, sample()).ends_with("\nnull\n"));
  CHECK(print_with(Format::kJson, true, true, {}) == "[]\n");
}

TEST_CASE("patient find and record show print what the parsed resources printed") {
  testing::TempDir dir;
  testing::CliOptions o;
  o.env = {{"EHR_DB", dir.file("f.db")}, {"EHR_USER", "alice"},
           {"EHR_KEY_FILE", dir.file("a.key")}, {"HOME", dir.path()}};
  REQUIRE(testing::run_cli({"key", "new", "-o", dir.file("a.key")}, o).code == 0);
  REQUIRE(testing::run_cli({"init", "-q", "--role", "physician"}, o).code == 0);
  // The registrar sees demographics only: a field filter, so its results
  // are filtered documents rather than the stored text.
  REQUIRE(testing::run_cli({"key", "new", "-o", dir.file("desk.key")}, o).code == 0);
  REQUIRE(testing::run_cli({"user", "add", "desk", "--role", "registrar", "--new-key-file",
                            dir.file("desk.key"), "-q"}, o).code == 0);
  // Names whose order needs the folded family name, then the given name,
  // then the id; and a family that is also a given name.
  const std::vector<Json> people = {
      patient("Núñez", {"Zoë"}, "A1"),  patient("nunez", {"Adam"}, "A2"),
      patient("NUÑEZ", {"zoe"}, "A3"),  patient("Nunes", {"Zack", "Nuno"}, "A4"),
      patient("Nuñez", {}, "A5"),       patient("Ortiz", {"Nuno"}, "A6"),
      patient("Smith", {"Nunzio"}, "A7"), patient("Smith", {"Ann"}, "A8"),
  };
  for (const Json& p : people) {
    o.in = to_json(p);
    REQUIRE(testing::run_cli({"record", "add", "--json", "-"}, o).code == 0);
  }
  o.in.clear();
  auto secret_of = [&](const std::string& file) {
    auto key = cli::read_key_file(dir.file(file));
    REQUIRE(key.ok());
    auto secret = Secret::key_file(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(key->data()), key->size()));
    REQUIRE(secret.ok());
    return std::move(*secret);
  };
  Secret secret_alice = secret_of("a.key"), secret_desk = secret_of("desk.key");
  const Secret* secret = &secret_alice;
  SessionOptions so;
  so.user = "alice";
  std::string a1_id;
  {
    auto s = Session::open(dir.file("f.db"), *secret, so);
    REQUIRE(s.ok());
    a1_id = find_patient(*s, "A1", "urn:ehr:mrn")->id;
  }
  for (int i = 0; i < 3; ++i) {
    RecordFields f;
    f.kind = "vital";
    f.patient = a1_id;
    f.code = "8867-4";
    f.system = "loinc";
    f.display = "Heart rate";
    f.value = std::to_string(60 + i);
    f.unit = "/min";
    f.date = "2026-01-0" + std::to_string(i + 1);
    o.in = to_json(*build_record(f));
    REQUIRE(testing::run_cli({"record", "add", "--json", "-"}, o).code == 0);
  }
  o.in.clear();

  // What the commands printed when they parsed every resource: the parsed
  // results rendered as a json array or ndjson lines.
  auto render = [](const std::vector<StoredResource>& rs, Format f) {
    Json arr = Json::array();
    for (const auto& r : rs) arr.push_back(r.resource);
    std::ostringstream out;
    cli::render_rows(out, arr, {}, f);
    return out.str();
  };
  for (const std::string user : {"alice", "desk"}) {
  so.user = user;
  secret = user == "alice" ? &secret_alice : &secret_desk;
  o.env["EHR_USER"] = user;
  o.env["EHR_KEY_FILE"] = dir.file(user == "alice" ? "a.key" : "desk.key");
  for (const std::string name : {"nu", "nun smi", "z", "n"}) {
    for (const std::string format : {"json", "ndjson"}) {
      CAPTURE(user);
      CAPTURE(name);
      CAPTURE(format);
      auto cli_run = testing::run_cli({"patient", "find", "--name", name, "--format", format}, o);
      REQUIRE(cli_run.code == 0);
      auto s = Session::open(dir.file("f.db"), *secret, so);
      REQUIRE(s.ok());
      auto audit = [&] {
        return *SessionImpl::of(*s).db().query_text(
            "SELECT action || '|' || outcome || '|' || user || '|' || patients || '|' || "
            "query_hash || '|' || count || '|' || detail FROM audit ORDER BY seq DESC LIMIT 1");
      };
      std::string cli_audit = audit();
      PatientQuery q;
      q.name = name;
      auto parsed = search_patients(*s, q);
      REQUIRE(parsed.ok());
      CHECK(cli_run.out == render(*parsed, format == "json" ? Format::kJson : Format::kNdjson));
      CHECK(audit() == cli_audit);
      if (user == "desk") CHECK(cli_run.out.find("REDACTED") != std::string::npos);
    }
  }
  }
  so.user = "alice";
  secret = &secret_alice;
  o.env["EHR_USER"] = "alice";
  o.env["EHR_KEY_FILE"] = dir.file("a.key");
  {
    auto s = Session::open(dir.file("f.db"), *secret, so);
    REQUIRE(s.ok());
    auto smiths = search_patients(*s, [] { PatientQuery q; q.name = "nun"; return q; }());
    REQUIRE(smiths.ok());
    std::vector<std::string> mrns;
    for (const auto& r : *smiths)
      mrns.push_back(r.resource.find("identifier")->items().front().find("value")->text());
    // Nunes; Nuñez without a given name; nunez Adam; Núñez Zoë and NUÑEZ zoe
    // (same key: by id); Ortiz Nuno; Smith Nunzio.
    REQUIRE(mrns.size() == 7);
    CHECK(mrns[0] == "A4");
    CHECK(mrns[1] == "A5");
    CHECK(mrns[2] == "A2");
    CHECK(((mrns[3] == "A1" && mrns[4] == "A3") || (mrns[3] == "A3" && mrns[4] == "A1")));
    CHECK(mrns[5] == "A6");
    CHECK(mrns[6] == "A7");
  }
  for (const std::string user : {"alice", "desk"}) {
    o.env["EHR_USER"] = user;
    o.env["EHR_KEY_FILE"] = dir.file(user == "alice" ? "a.key" : "desk.key");
    so.user = user;
    for (const std::string format : {"json", "ndjson"}) {
      CAPTURE(user);
      CAPTURE(format);
      auto cli_run = testing::run_cli({"record", "show", "--patient", "A1", "--format", format}, o);
      REQUIRE(cli_run.code == 0);
      auto s = Session::open(dir.file("f.db"), user == "alice" ? secret_alice : secret_desk, so);
      REQUIRE(s.ok());
      RecordQuery q;
      q.patient = a1_id;
      auto parsed = patient_records(*s, q);
      REQUIRE(parsed.ok());
      CHECK(parsed->size() == (user == "alice" ? 4 : 1));  // the registrar: the patient only
      CHECK(cli_run.out == render(*parsed, format == "json" ? Format::kJson : Format::kNdjson));
    }
  }
}

}

}  // namespace
}  // namespace ehr
