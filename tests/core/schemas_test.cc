// Every file of schemas/ is embedded and parses (core/src/schemas.cc).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "schemas.h"
#include "yaml_adapter.h"

TEST_SUITE("schemas") {

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
