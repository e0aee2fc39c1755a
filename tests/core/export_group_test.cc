// Cohort files of ehr export --group (core/src/export_group.cc): lines with
// comments, blanks and whitespace; a FHIR Group resource told by its
// content; the errors, each naming the file; a job's identity of the file.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ehr/export.h"
#include "export_internal.h"

namespace ehr::detail {
namespace {

// "key@where" for each member, or "error: MESSAGE".
std::string members(const std::string& name, const std::string& text) {
  auto m = group_members(ExportGroup{name, text});
  if (!m.ok()) return "error: " + m.error().message();
  std::string out;
  for (const auto& x : *m) out += (out.empty() ? "" : " ") + x.key + "@" + x.where;
  return out;
}

TEST_SUITE("export_group") {
  TEST_CASE("lines: one key a line, trimmed; blank lines and comments ignored") {
    const std::pair<const char*, const char*> cases[] = {
        {"p1\np2\n", "p1@c.txt:1 p2@c.txt:2"},
        {"p1\np2", "p1@c.txt:1 p2@c.txt:2"},  // no final newline
        {"# the cohort\n\n  p1  \n\tMRN-7\t# Ada\n   # indented comment\n",
         "p1@c.txt:3 MRN-7@c.txt:4"},
        {"p1\r\np2\r\n", "p1@c.txt:1 p2@c.txt:2"},    // CRLF
        {"\xEF\xBB\xBFp1\n", "p1@c.txt:1"},           // a byte-order mark
        {"A#12\nB #13\n", "A#12@c.txt:1 B@c.txt:2"},  // '#' inside a key is part of it
        {"p1\np1\n", "p1@c.txt:1 p1@c.txt:2"},        // duplicates are the caller's to merge
        {"Smith John\n", "Smith John@c.txt:1"},       // a key with a space, as written
        {"# nobody\n\n", "error: c.txt: the group has no members"},
        {"", "error: c.txt: the group has no members"},
    };
    for (const auto& [text, expected] : cases) {
      CAPTURE(text);
      CHECK(members("c.txt", text) == expected);
    }
    CHECK(members("-", "p1\n") == "p1@<stdin>:1");
    CHECK(members("-", "\n") == "error: <stdin>: the group has no members");
  }

  TEST_CASE("a FHIR Group: its active members' Patient references") {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"resourceType":"Group","type":"person","actual":true,"member":[
           {"entity":{"reference":"Patient/p1"}},
           {"entity":{"reference":"Patient/p2"},"inactive":true},
           {"entity":{"reference":"Patient/p3"},"inactive":false},
           {"entity":{"reference":"Patient/p4/_history/2"}}]})",
         "p1@g.json: member[0] p3@g.json: member[2] p4@g.json: member[3]"},
        // QA finding: a payer's Group named its own server's Patient/p3,
        // and the export took it for the Patient/p3 stored here.
        {R"({"resourceType":"Group","member":[{"entity":{"reference":"Patient/p1"}},
           {"entity":{"reference":"https://payer.example.org/fhir/Patient/p3"}}]})",
         "error: g.json: member[1]: entity.reference https://payer.example.org/fhir/Patient/p3 names a patient "
         "on another server (an absolute URL), not one stored here; list Patient/ID references, or the "
         "patients' MRNs in a text file"},
        {"  "
         "\n{\"resourceType\":\"Group\",\"member\":[{\"entity\":{\"reference\":\"Patient/p1\"}}]}",
         "p1@g.json: member[0]"},
        {R"({"resourceType":"Group","member":[{"entity":{"reference":"Practitioner/d1"}}]})",
         "error: g.json: member[0]: entity.reference Practitioner/d1 is not a Patient reference "
         "(Patient/ID)"},
        {R"({"resourceType":"Group","member":[{"entity":{"display":"Ada"}}]})",
         "error: g.json: member[0]: no entity.reference"},
        {R"({"resourceType":"Group","member":[{"entity":{"reference":"Patient/"}}]})",
         "error: g.json: member[0]: entity.reference Patient/ is not a Patient reference "
         "(Patient/ID)"},
        {R"({"resourceType":"Group","member":{"entity":{"reference":"Patient/p1"}}})",
         "error: g.json: member is not an array"},
        {R"({"resourceType":"Group","type":"person"})", "error: g.json: the group has no members"},
        {R"({"resourceType":"Group","member":[{"entity":{"reference":"Patient/p1"},"inactive":true}]})",
         "error: g.json: the group has no members"},
        {R"({"resourceType":"List","entry":[]})",
         "error: g.json: not a FHIR Group resource (its resourceType is List)"},
        {R"({"member":[]})", "error: g.json: not a FHIR Group resource"},
        {"{\"resourceType\":\"Group\",",
         "error: g.json: line 1, column 25: expected a member name in object"},
    };
    for (const auto& [text, expected] : cases) {
      CAPTURE(text);
      CHECK(members("g.json", text) == expected);
    }
  }

  TEST_CASE("a job keeps the group's absolute path, or - for standard input") {
    CHECK(group_identity("-") == "-");
    CHECK(group_identity("/etc/ehr/../ehr/cohort.txt") == "/etc/ehr/cohort.txt");
    std::string rel = group_identity("cohort.txt");
    CHECK(rel.front() == '/');
    CHECK(rel.size() > std::string("/cohort.txt").size());
    CHECK(rel.substr(rel.size() - 11) == "/cohort.txt");
    CHECK(group_shown_name("-") == "<stdin>");
    CHECK(group_shown_name("c.txt") == "c.txt");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace ehr::detail
