// Every file of schemas/ is embedded and parses (core/src/schemas.cc).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "schemas.h"
#include "yaml_adapter.h"

namespace {

bool same_tree(const ehr::detail::YamlNode& a, const ehr::detail::YamlNode& b) {
  if (a.kind != b.kind || a.scalar != b.scalar || a.line != b.line || a.column != b.column ||
      a.items.size() != b.items.size() || a.entries.size() != b.entries.size())
    return false;
  for (size_t i = 0; i < a.items.size(); ++i)
    if (!same_tree(a.items[i], b.items[i])) return false;
  for (size_t i = 0; i < a.entries.size(); ++i)
    if (!same_tree(a.entries[i].first, b.entries[i].first) ||
        !same_tree(a.entries[i].second, b.entries[i].second))
      return false;
  return true;
}

}  // namespace

TEST_SUITE("schemas") {

TEST_CASE("the compiled policy tree is what parse_yaml reads from the embedded file") {
  const ehr::detail::YamlNode* compiled = ehr::detail::compiled_yaml("policy/default.yaml");
  REQUIRE(compiled != nullptr);
  auto parsed = ehr::detail::parse_yaml(*ehr::detail::embedded_schema("policy/default.yaml"));
  REQUIRE(parsed.ok());
  CHECK(same_tree(*compiled, *parsed));
  CHECK(compiled->get("roles") != nullptr);
  CHECK(ehr::detail::compiled_yaml("config.yaml") == nullptr);
}

TEST_CASE("every YAML file in schemas/ is embedded byte for byte and parses") {
  namespace fs = std::filesystem;
  fs::path root = fs::path(EHR_SOURCE_DIR) / "schemas";
  size_t count = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".yaml") continue;
    std::string rel = fs::relative(e.path(), root).string();
    CAPTURE(rel);
    auto embedded = ehr::detail::embedded_schema(rel);
    REQUIRE(embedded.has_value());
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    CHECK(*embedded == ss.str());
    auto doc = ehr::detail::parse_yaml(*embedded);
    CHECK_MESSAGE(doc.ok(), (doc.ok() ? "" : doc.error().message()));
    CHECK(doc->get("schema") != nullptr);
    CHECK(doc->get("version") != nullptr);
    ++count;
  }
  CHECK(count == ehr::detail::embedded_schema_paths().size());
}

}
