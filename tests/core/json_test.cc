// Tests of ehr's JSON reader and writer (core/src/json.cc).
#include <doctest/doctest.h>

#include <string>

#include "ehr/json.h"

using ehr::Json;
using ehr::parse_json;

TEST_SUITE("json") {

TEST_CASE("keeps number literals exactly, including decimal precision and big integers") {
  auto r = parse_json(R"({"a":1.50,"b":-0.0,"c":12345678901234567890,"d":1e-7,"e":2E+3})");
  REQUIRE(r.ok());
  CHECK(ehr::to_json(*r) == R"({"a":1.50,"b":-0.0,"c":12345678901234567890,"d":1e-7,"e":2E+3})");
}

TEST_CASE("keeps member order and sorts only in canonical form") {
  auto r = parse_json(R"({"z":1,"a":{"y":true,"b":null}})");
  REQUIRE(r.ok());
  CHECK(ehr::to_json(*r) == R"({"z":1,"a":{"y":true,"b":null}})");
  CHECK(ehr::to_json_canonical(*r) == R"({"a":{"b":null,"y":true},"z":1})");
}

TEST_CASE("decodes escapes and surrogate pairs and writes minimal escapes") {
  auto r = parse_json(R"(["a\"b\\c\/d\n\t\u00e9\ud83d\ude00\u0001"])");
  REQUIRE(r.ok());
  CHECK(r->items()[0].text() == "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80\x01");
  CHECK(ehr::to_json(*r) == "[\"a\\\"b\\\\c/d\\n\\t\xc3\xa9\xf0\x9f\x98\x80\\u0001\"]");
}

TEST_CASE("pretty printing indents by two spaces") {
  auto r = parse_json(R"({"a":[1,2],"b":{},"c":[]})");
  REQUIRE(r.ok());
  CHECK(ehr::to_json_pretty(*r) == "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}");
}

TEST_CASE("rejects malformed documents with line and column") {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"", "line 1, column 1: unexpected end of input"},
      {"{", "line 1, column 2: expected a member name in object"},
      {"{\"a\":1,}", "line 1, column 8: expected a member name in object"},
      {"[1,]", "line 1, column 4: unexpected character ']'"},
      {"[1 2]", "line 1, column 4: expected ',' or ']' in array"},
      {"{\"a\" 1}", "line 1, column 6: expected ':' after member name"},
      {"{\"a\":1,\n\"a\":2}", "line 2, column 1: duplicate member \"a\""},
      {"01", "line 1, column 2: invalid number: leading zero"},
      {"1.", "line 1, column 3: invalid number: digit expected after '.'"},
      {"-", "line 1, column 2: invalid number"},
      {"1e", "line 1, column 3: invalid number: digit expected in exponent"},
      {"tru", "line 1, column 1: invalid literal"},
      {"\"abc", "line 1, column 5: unterminated string"},
      {"\"a\nb\"", "line 1, column 3: control character in string (escape it)"},
      {"\"\\x\"", "line 1, column 3: invalid escape \\'x'"},
      {"\"\\ud800\"", "line 1, column 8: unpaired surrogate in \\u escape"},
      {"\"\\udc00\"", "line 1, column 8: unpaired surrogate in \\u escape"},
      {"\"\\u12g4\"", "line 1, column 6: invalid \\u escape"},
      {"\"\xff\"", "line 1, column 2: invalid UTF-8 in string"},
      {"\"\xc0\xaf\"", "line 1, column 2: invalid UTF-8 in string"},
      {"\"\xed\xa0\x80\"", "line 1, column 2: invalid UTF-8 in string"},
      {"{} x", "line 1, column 4: unexpected text after the JSON value"},
      {"\x01", "line 1, column 1: unexpected character 0x01"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parse_json(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ehr::ErrorCode::kInvalidData);
    CHECK(r.error().message() == c.message);
  }
}

TEST_CASE("refuses nesting deeper than the limit without exhausting the stack") {
  std::string deep(100000, '[');
  auto r = parse_json(deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "line 1, column 257: nesting too deep");
  std::string ok_depth = std::string(256, '[') + std::string(256, ']');
  CHECK(parse_json(ok_depth).ok());
}

TEST_CASE("compares objects regardless of member order") {
  CHECK(*parse_json(R"({"a":1,"b":[1,2]})") == *parse_json(R"({"b":[1,2],"a":1})"));
  CHECK_FALSE(*parse_json(R"({"a":1.0})") == *parse_json(R"({"a":1})"));
  CHECK_FALSE(*parse_json(R"([1,2])") == *parse_json(R"([2,1])"));
}

TEST_CASE("builds and edits values") {
  Json o = Json::object();
  o.set("b", Json::number(int64_t{42}));
  o.set("a", Json::string("x"));
  o.set("b", Json::boolean(false));
  CHECK(ehr::to_json(o) == R"({"b":false,"a":"x"})");
  CHECK(o.erase("b"));
  CHECK_FALSE(o.erase("b"));
  CHECK(ehr::to_json(Json::number(0.1)) == "0.1");
  CHECK(Json::number_from_text("1.50").ok());
  CHECK_FALSE(Json::number_from_text("1.5x").ok());
}

TEST_CASE("validates UTF-8") {
  CHECK(ehr::is_valid_utf8("plain ascii"));
  CHECK(ehr::is_valid_utf8("J\xc3\xb6rg \xe6\x9d\x8e \xf0\x9f\x98\x80"));
  CHECK_FALSE(ehr::is_valid_utf8("\xe6\x9d"));
  CHECK_FALSE(ehr::is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

}
