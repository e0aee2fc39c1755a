// Bulk export (core/src/export.cc): option errors, the snapshot instant,
// cancellation and refusals leaving nothing behind, and the audit entries.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "ehr/export.h"
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
  int tick = 0;
  Session s = create();

  Session create() {
    SessionOptions o;
    o.user = "alice";
    o.first_user_roles = {"physician", "service"};
    o.now = [this] {
      int t = tick++;
      return "2026-11-25T10:" + std::string(t / 60 < 10 ? "0" : "") + std::to_string(t / 60) + ":" +
             std::string(t % 60 < 10 ? "0" : "") + std::to_string(t % 60) + ".000Z";
    };
    auto r = Session::create(path, {"alice", "", testing::kFast}, Secret::passphrase("pw"), o);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
    return std::move(*r);
  }

  // Patients p1 and p2, and `n` Observations of p1.
  void load(int n) {
    std::vector<Json> batch;
    for (const char* id : {"p1", "p2"})
      REQUIRE(create_resource(s, *parse_json(std::string(R"({"resourceType":"Patient","id":")") + id +
                                             R"(","name":[{"family":"Doe"}],"gender":"other"})"))
                  .ok());
    for (int i = 0; i < n; ++i)
      batch.push_back(*parse_json(R"({"resourceType":"Observation","id":"o)" + std::to_string(i) +
                                  R"(","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/p1"}})"));
    auto r = create_resources(s, std::move(batch));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  }

  ExportOptions options(const std::string& name) {
    ExportOptions o;
    o.out_dir = dir.file(name);
    o.request = "test";
    return o;
  }

  std::string query(const std::string& sql) { return *SessionImpl::of(s).db().query_text(sql); }

  // Entries of dir() other than the database's own files.
  std::vector<std::string> left() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      std::string n = e.path().filename().string();
      if (n.rfind("x.ehr", 0) != 0) out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_SUITE("export") {

TEST_CASE("bad options are refused with the option named, before anything is touched") {
  Fixture f;
  NullProgress p;
  struct Case {
    void (*set)(ExportOptions&);
    const char* message;
  };
  const Case cases[] = {
      {[](ExportOptions& o) { o.out_dir.clear(); }, "name the output directory (--out)"},
      {[](ExportOptions& o) { o.max_file_bytes = 0; }, "the largest file size must be more than 0"},
      {[](ExportOptions& o) { o.types = {"Patient", "Patients"}; }, "--type Patients: not a FHIR R4 resource type"},
      {[](ExportOptions& o) { o.since = "2026-11-25"; },
       "--since 2026-11-25: not an instant (YYYY-MM-DDThh:mm:ss[.sss] with Z or +hh:mm)"},
      {[](ExportOptions& o) {
         o.since = "2026-11-25T10:00:00Z";
         o.until = "2026-11-25T11:00:00+01:00";
       },
       "--until 2026-11-25T11:00:00+01:00 is not after --since 2026-11-25T10:00:00Z"},
  };
  for (const auto& c : cases) {
    ExportOptions o = f.options("out");
    c.set(o);
    auto r = export_bulk(f.s, o, p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kInvalidArgument);
    CHECK(r.error().message() == c.message);
  }
  CHECK(f.left().empty());
}

TEST_CASE("transactionTime follows every change read; audit: one entry per patient and one for the run") {
  Fixture f;
  f.load(3);
  NullProgress p;
  auto r = export_bulk(f.s, f.options("out"), p);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  CHECK(r->resources == 5);
  CHECK(r->patients == 2);
  CHECK(r->types == std::map<std::string, std::int64_t>{{"Observation", 3}, {"Patient", 2}});
  std::string newest = f.query("SELECT max(last_updated) FROM resource");
  CHECK(r->transaction_time > newest);
  CHECK(r->change_sequence == std::stoll(f.query("SELECT value FROM counter WHERE name = 'seq'")));
  CHECK(f.query("SELECT group_concat(patients || ':' || count || ':' || detail, '|') FROM "
                "(SELECT * FROM audit WHERE action = 'export' ORDER BY seq)") ==
        "p1:4:resources by bulk export (Observation 3, Patient 1)|p2:1:resources by bulk export (Patient 1)|"
        ":5:bulk export: 5 resources, 0 deleted, 2 files, 2 patients");
  CHECK(f.left() == std::vector<std::string>{"out"});
}

TEST_CASE("a cancelled export, or one into a directory that is not empty, leaves nothing") {
  Fixture f;
  f.load(600);
  NullProgress p;
  ExportOptions o = f.options("out");
  o.cancelled = [] { return true; };
  std::string audit_before = f.query("SELECT count(*) FROM audit WHERE action = 'export'");
  auto r = export_bulk(f.s, o, p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == ErrorCode::kInterrupted);
  CHECK(f.left().empty());
  CHECK(f.query("SELECT count(*) FROM audit WHERE action = 'export'") == audit_before);

  f.dir.write("full/keep.txt", "x");
  auto again = export_bulk(f.s, f.options("full"), p);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code() == ErrorCode::kAlreadyExists);
  CHECK(again.error().message() == f.dir.file("full") + " exists and is not empty");
  CHECK(f.left() == std::vector<std::string>{"full"});
}

TEST_CASE("a job's later run writes its changes in type, id order, whichever order they came in") {
  // Such a window is read through the seq index and sorted (issue 8's
  // benchmark): the order is the one of a whole export.
  Fixture f;
  f.load(3);
  NullProgress p;
  ExportOptions first = f.options("first");
  first.job = "nightly";
  REQUIRE(export_bulk(f.s, first, p).ok());
  for (const char* id : {"o2", "o0"})
    REQUIRE(update_resource(f.s, *parse_json(std::string(R"({"resourceType":"Observation","id":")") + id +
                                             R"(","status":"amended","code":{"text":"weight"},)"
                                             R"("subject":{"reference":"Patient/p1"}})"),
                            "test")
                .ok());
  auto p2 = parse_json(R"({"resourceType":"Patient","id":"p2","name":[{"family":"Roe"}],"gender":"female"})");
  REQUIRE(update_resource(f.s, *p2, "test").ok());
  ExportOptions next = f.options("next");
  next.job = "nightly";
  auto r = export_bulk(f.s, next, p);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message()));
  CHECK(r->types == std::map<std::string, std::int64_t>{{"Observation", 2}, {"Patient", 1}});
  auto ids = [&](const std::string& file) {
    auto bytes = testing::read_bytes(f.dir.file("next/" + file));
    std::string text(bytes.begin(), bytes.end()), out;
    for (std::size_t line = 0; line < text.size(); line = text.find('\n', line) + 1) {
      std::size_t at = text.find("\"id\":\"", line);  // the line's first "id": the resource's
      out += text.substr(at + 6, text.find('"', at + 6) - at - 6) + " ";
    }
    return out;
  };
  CHECK(ids("Observation.001.ndjson") == "o0 o2 ");
  CHECK(ids("Patient.001.ndjson") == "p2 ");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
