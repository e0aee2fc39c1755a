// Tests of ehr's JSON reader and writer (core/src/json.cc).
#include <doctest/doctest.h>

#include <string>

#include "ehr/json.h"

using ehr::Json;
using ehr::parse_json;


// append_json_text against what it must equal: parse_json, then to_json or
// to_json_pretty (at level 1, as an element of a pretty array).
void check_append_json_text(const std::string& text) {
  CAPTURE(text);
  auto parsed = parse_json(text);
  for (auto layout : {ehr::JsonLayout::kCompact, ehr::JsonLayout::kPretty}) {
    for (int indent : {0, 1}) {
      std::string out = "prefix";
      bool ok = ehr::append_json_text(out, text, layout, indent);
      REQUIRE(ok == parsed.ok());
      if (!ok) {
        CHECK(out == "prefix");
        continue;
      }
      if (layout == ehr::JsonLayout::kCompact) {
        CHECK(out == "prefix" + ehr::to_json(*parsed));
      } else if (indent == 0) {
        CHECK(out == "prefix" + ehr::to_json_pretty(*parsed));
      } else {
        Json wrapped = Json::array();
        wrapped.push_back(*parsed);
        CHECK("[\n  " + out.substr(6) + "\n]" == ehr::to_json_pretty(wrapped));
      }
    }
  }
}

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

TEST_CASE("append_json_text writes what parse_json and to_json or to_json_pretty write") {
  const std::string docs[] = {
      "null", "true", "false", "0", "-1.50e+3", "\"\"", "[]", "{}", " [ ] ", "{ }",
      R"({"a":1.50,"b":-0.0,"c":12345678901234567890,"d":1e-7,"e":2E+3})",
      R"({"a":[1,2],"b":{},"c":[],"d":[[],{}],"e":{"f":{"g":[null]}}})",
      " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } } ",
      R"(["a\"b\\c\/d\n\t\u00e9\ud83d\ude00\u0001\u007f\b\f\r"])",
      "[\"raw \x7f del\", \"Zo\xc3\xab \xe6\x9d\x8e \xf0\x9f\x98\x80\"]",
      R"({"k\u00e9y":1,"key":2,"k\"":{"k\"":3}})",
      R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},"name":[{"family":"Núñez","given":["Zoë"]}]})",
      // Refused, as parse_json refuses them:
      "", "{", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":1},\"a\":2}",
      "{\"\\u0061\":1,\"a\":2}", "{\"a\":{\"a\":1,\"b\":{\"a\":2}}}", "01", "1.", "-", "tru",
      "\"abc", "\"a\nb\"", "\"\\x\"", "\"\\ud800\"", "\"\xff\"", "\"\xc0\xaf\"", "{} x", "\x01",
      std::string(300, '[') + std::string(300, ']'),
      std::string(256, '[') + std::string(256, ']'),
  };
  for (const auto& d : docs) check_append_json_text(d);
}

TEST_CASE("append_json_text agrees with parse_json on random and damaged documents") {
  std::uint64_t x = 20261125;
  auto next = [&] { return x = x * 6364136223846793005ull + 1442695040888963407ull, x >> 33; };
  const std::string pieces[] = {"{", "}", "[", "]", ",", ":", " ", "\"a\"", "\"b\"", "\"\\u00e9\"",
                                "1", "-0.5", "true", "null", "\"x\\ny\"", "\"\x7f\"", "{\"a\":1}"};
  for (int i = 0; i < 20000; ++i) {
    std::string doc;
    int n = static_cast<int>(next() % 12);
    for (int k = 0; k < n; ++k) doc += pieces[next() % (sizeof pieces / sizeof pieces[0])];
    check_append_json_text(doc);
  }
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
