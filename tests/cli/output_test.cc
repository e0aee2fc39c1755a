// The output renderers (cli/output.cc): every format, with quoting of commas,
// quotes, newlines and non-ASCII text.
#include <doctest/doctest.h>

#include <sstream>

#include "output.h"

using ehr::Json;
using ehr::cli::Format;

namespace {

Json sample_rows() {
  auto r = ehr::parse_json(R"([
    {"id":"p1","name":"Zoë Ñúñez","note":"has, comma","n":1.50,"ok":true},
    {"id":"p2","name":"李小龍","note":"say \"hi\"\nthen go","n":null,"ok":false},
    {"id":"p3","name":" padded ","note":"","n":-2,"ok":null,"extra":{"a":[1]}}
  ])");
  return *r;
}

std::string render(Format f, const std::vector<std::string>& cols = {"id", "name", "note", "n", "ok"}) {
  std::ostringstream out;
  ehr::cli::render_rows(out, sample_rows(), cols, f);
  return out.str();
}

}  // namespace

TEST_SUITE("output") {

TEST_CASE("table pads by display width and escapes control characters") {
  CHECK(render(Format::kTable) ==
        "ID  NAME       NOTE               N     OK\n"
        "p1  Zoë Ñúñez  has, comma         1.50  true\n"
        "p2  李小龍     say \"hi\"\\nthen go        false\n"
        "p3   padded                       -2\n");
}

TEST_CASE("csv quotes per RFC 4180") {
  CHECK(render(Format::kCsv) ==
        "id,name,note,n,ok\n"
        "p1,Zoë Ñúñez,\"has, comma\",1.50,true\n"
        "p2,李小龍,\"say \"\"hi\"\"\nthen go\",,false\n"
        "p3,\" padded \",,-2,\n");
}

TEST_CASE("csv guards cells a spreadsheet would run as formulas, not plain numbers") {
  using ehr::cli::csv_field;
  CHECK(csv_field("=HYPERLINK(\"http://x\")") == "\"'=HYPERLINK(\"\"http://x\"\")\"");
  CHECK(csv_field("+1 555-0100") == "'+1 555-0100");
  CHECK(csv_field("-3 mmol/L L") == "'-3 mmol/L L");
  CHECK(csv_field("@SUM(A1)") == "'@SUM(A1)");
  CHECK(csv_field("\tx") == "'\tx");
  CHECK(csv_field("-5") == "-5");
  CHECK(csv_field("+1.5e3") == "+1.5e3");
  CHECK(csv_field("a=b") == "a=b");
  CHECK(csv_field("") == "");
}

TEST_CASE("json is a pretty array with every field and exact numbers") {
  std::string s = render(Format::kJson);
  CHECK(s.rfind("[\n  {\n    \"id\": \"p1\",\n    \"name\": \"Zoë Ñúñez\",", 0) == 0);
  CHECK(s.find("\"n\": 1.50") != std::string::npos);
  CHECK(s.find("\"extra\": {\n      \"a\": [\n        1\n      ]\n    }") != std::string::npos);
  auto back = ehr::parse_json(s);
  REQUIRE(back.ok());
  CHECK(*back == sample_rows());
}

TEST_CASE("ndjson is one compact object per line") {
  CHECK(render(Format::kNdjson) ==
        "{\"id\":\"p1\",\"name\":\"Zoë Ñúñez\",\"note\":\"has, comma\",\"n\":1.50,\"ok\":true}\n"
        "{\"id\":\"p2\",\"name\":\"李小龍\",\"note\":\"say \\\"hi\\\"\\nthen go\",\"n\":null,\"ok\":false}\n"
        "{\"id\":\"p3\",\"name\":\" padded \",\"note\":\"\",\"n\":-2,\"ok\":null,\"extra\":{\"a\":[1]}}\n");
}

TEST_CASE("yaml quotes scalars that would be misread, keys included (n is a YAML 1.1 boolean)") {
  CHECK(render(Format::kYaml) ==
        "- id: p1\n"
        "  name: Zoë Ñúñez\n"
        "  note: has, comma\n"
        "  \"n\": 1.50\n"
        "  ok: true\n"
        "- id: p2\n"
        "  name: 李小龍\n"
        "  note: \"say \\\"hi\\\"\\nthen go\"\n"
        "  \"n\": null\n"
        "  ok: false\n"
        "- id: p3\n"
        "  name: \" padded \"\n"
        "  note: \"\"\n"
        "  \"n\": -2\n"
        "  ok: null\n"
        "  extra:\n"
        "    a:\n"
        "      - 1\n");
}

TEST_CASE("yaml scalars") {
  using ehr::cli::yaml_scalar;
  CHECK(yaml_scalar(Json::string("plain text")) == "plain text");
  CHECK(yaml_scalar(Json::string("yes")) == "\"yes\"");
  CHECK(yaml_scalar(Json::string("0012")) == "\"0012\"");
  CHECK(yaml_scalar(Json::string("a: b")) == "\"a: b\"");
  CHECK(yaml_scalar(Json::string("- item")) == "\"- item\"");
  CHECK(yaml_scalar(Json::string("#tag")) == "\"#tag\"");
  CHECK(yaml_scalar(Json::string("")) == "\"\"");
}

TEST_CASE("a row's empty text is null") {
  CHECK(ehr::cli::text_or_null("").kind() == Json::Kind::kNull);
  CHECK(ehr::cli::text_or_null("2026-01-02").text() == "2026-01-02");
}

TEST_CASE("empty results render as an empty list or a bare header") {
  Json empty = Json::array();
  std::ostringstream t, c, j, n, y;
  ehr::cli::render_rows(t, empty, {"id", "name"}, Format::kTable);
  ehr::cli::render_rows(c, empty, {"id", "name"}, Format::kCsv);
  ehr::cli::render_rows(j, empty, {"id", "name"}, Format::kJson);
  ehr::cli::render_rows(n, empty, {"id", "name"}, Format::kNdjson);
  ehr::cli::render_rows(y, empty, {"id", "name"}, Format::kYaml);
  CHECK(t.str() == "ID  NAME\n");
  CHECK(c.str() == "id,name\n");
  CHECK(j.str() == "[]\n");
  CHECK(n.str() == "");
  CHECK(y.str() == "[]\n");
}

TEST_CASE("one document renders as field/value rows in a table") {
  Json doc = *ehr::parse_json(R"({"format":1,"cipher":"xchacha20-poly1305","note":"a\tb"})");
  std::ostringstream t, c, y;
  ehr::cli::render_document(t, doc, Format::kTable);
  ehr::cli::render_document(c, doc, Format::kCsv);
  ehr::cli::render_document(y, doc, Format::kYaml);
  CHECK(t.str() == "FIELD   VALUE\nformat  1\ncipher  xchacha20-poly1305\nnote    a\\tb\n");
  CHECK(c.str() == "format,cipher,note\n1,xchacha20-poly1305,a\tb\n");
  CHECK(y.str() == "format: 1\ncipher: xchacha20-poly1305\nnote: \"a\\tb\"\n");
}

TEST_CASE("table headers are bold only with colour") {
  std::ostringstream out;
  ehr::cli::render_rows(out, *ehr::parse_json(R"([{"a":"x"}])"), {"a"}, Format::kTable, {true});
  CHECK(out.str() == "\x1b[1mA\x1b[0m\nx\n");
}

TEST_CASE("format resolution") {
  CHECK(*ehr::cli::resolve_format("auto", true) == Format::kTable);
  CHECK(*ehr::cli::resolve_format("auto", false) == Format::kJson);
  CHECK(*ehr::cli::resolve_format("ndjson", true) == Format::kNdjson);
  auto bad = ehr::cli::resolve_format("xml", false);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() ==
        "--format must be one of auto, table, json, ndjson, csv, yaml, bundle; got \"xml\"");
}

}
