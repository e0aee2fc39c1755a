// Tests of FHIR R4 validation (core/src/validate.cc): every rule, with exact
// paths and messages, and the shared real data, which must validate clean.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "ehr/json.h"
#include "ehr/validate.h"

using ehr::Json;
using ehr::ValidationIssue;

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_SUITE("validate") {

TEST_CASE("every resource of the shared real data validates without errors") {
  namespace fs = std::filesystem;
  fs::path root = fs::path(EHR_SOURCE_DIR) / ".." / "shared" / "data";
  if (!fs::is_directory(root)) {
    MESSAGE("skipped: " << root.string() << " is absent (a fresh clone has no ../shared)");
    return;
  }
  size_t resources = 0, errors = 0;
  std::map<std::string, size_t> warnings;
  auto check = [&](const Json& res, const std::string& where) {
    ++resources;
    for (const ValidationIssue& i : ehr::validate_resource(res)) {
      if (i.is_error) {
        ++errors;
        if (errors <= 50) FAIL_CHECK(where << ": " << ehr::format_issue(i) << " [" << i.rule << "]");
      } else {
        ++warnings[i.rule];
      }
    }
  };
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().extension() == ".json" || e.path().extension() == ".ndjson") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::string text = read_file(f);
    if (f.extension() == ".ndjson") {
      std::istringstream lines(text);
      std::string line;
      for (int n = 1; std::getline(lines, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto doc = ehr::parse_json(line);
        REQUIRE_MESSAGE(doc.ok(), f.string() << ":" << n);
        check(*doc, f.filename().string() + ":" + std::to_string(n));
      }
      continue;
    }
    auto doc = ehr::parse_json(text);
    REQUIRE_MESSAGE(doc.ok(), f.string());
    const Json* type = doc->find("resourceType");
    if (type != nullptr && type->is_string() && type->text() == "Bundle") {
      const Json* entries = doc->find("entry");
      if (entries == nullptr) continue;
      for (size_t i = 0; i < entries->items().size(); ++i)
        if (const Json* res = entries->items()[i].find("resource"))
          check(*res, f.filename().string() + " entry " + std::to_string(i));
    } else {
      check(*doc, f.filename().string());
    }
  }
  std::string summary;
  for (const auto& [rule, n] : warnings) summary += " " + rule + "=" + std::to_string(n);
  MESSAGE("validated " << resources << " resources from " << files.size() << " files: " << errors
                       << " errors; warnings:" << (summary.empty() ? " none" : summary));
  CHECK(resources > 0);
  CHECK(errors == 0);
}

}
