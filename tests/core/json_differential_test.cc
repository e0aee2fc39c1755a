// Cross-checks ehr's JSON reader against nlohmann-json on a corpus of valid
// and invalid documents: both must accept and reject the same texts, and what
// ours writes back must mean the same to nlohmann.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "ehr/json.h"

namespace {

bool nlohmann_accepts(const std::string& text) {
  return nlohmann::json::accept(text);
}

std::string random_document(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 4 : 6);
  static const char* strings[] = {"", "a", "Zoë", "\\u00e9", "tab\\t", "\\ud83d\\ude00", "q\\\"q", "李"};
  static const char* numbers[] = {"0", "-1", "1.50", "3e10", "-0.001", "12345678901234567890", "2E-3"};
  switch (kind(rng)) {
    case 0: return "null";
    case 1: return rng() % 2 ? "true" : "false";
    case 2: return numbers[rng() % 7];
    case 3:
    case 4: return std::string("\"") + strings[rng() % 8] + "\"";
    case 5: {
      std::string s = "[";
      int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) s += (i ? "," : "") + random_document(rng, depth + 1);
      return s + "]";
    }
    default: {
      std::string s = "{";
      int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i)
        s += (i ? ",\"k" : "\"k") + std::to_string(i) + "\" : " + random_document(rng, depth + 1);
      return s + "}";
    }
  }
}

}  // namespace

TEST_SUITE("json") {

TEST_CASE("agrees with nlohmann-json on what is valid and what it means") {
  std::mt19937 rng(20261125);
  for (int i = 0; i < 2000; ++i) {
    std::string doc = random_document(rng, 0);
    CAPTURE(doc);
    auto ours = ehr::parse_json(doc);
    REQUIRE(ours.ok());
    REQUIRE(nlohmann_accepts(doc));
    CHECK(nlohmann::json::parse(ehr::to_json(*ours)) == nlohmann::json::parse(doc));
    CHECK(nlohmann::json::parse(ehr::to_json_canonical(*ours)) == nlohmann::json::parse(doc));
    // The reader that writes without building a value writes the same bytes.
    std::string pretty, compact;
    CHECK(ehr::append_json_text(pretty, doc, ehr::JsonLayout::kPretty));
    CHECK(pretty == ehr::to_json_pretty(*ours));
    CHECK(ehr::append_json_text(compact, doc, ehr::JsonLayout::kCompact));
    CHECK(compact == ehr::to_json(*ours));
    // Mutate one byte: both parsers must agree on validity (nlohmann allows
    // duplicate keys, which ehr refuses; the generator never makes them).
    std::string broken = doc;
    size_t at = rng() % broken.size();
    broken[at] = "{}[],:\"\\ 0a-"[rng() % 12];
    CAPTURE(broken);
    bool ours_ok = ehr::parse_json(broken).ok();
    std::string ignored;
    CHECK(ehr::append_json_text(ignored, broken, ehr::JsonLayout::kPretty) == ours_ok);
    bool theirs_ok = nlohmann_accepts(broken);
    if (ours_ok != theirs_ok) {
      // The only allowed disagreement: a duplicate member made by the mutation.
      auto r = ehr::parse_json(broken);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().message().find("duplicate member") != std::string::npos);
    }
  }
}

}
