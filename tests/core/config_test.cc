// Tests of configuration resolution (core/src/config.cc).
#include <doctest/doctest.h>

#include "ehr/config.h"
#include "schemas.h"
#include "support/temp_dir.h"
#include "yaml_adapter.h"

using ehr::ConfigInputs;
using ehr::resolve_config;

namespace {
std::string origin_of(const ehr::Config& c, const std::string& key) {
  for (const auto& s : c.settings())
    if (s.key == key) return s.origin;
  return "?";
}
}  // namespace

TEST_SUITE("config") {

TEST_CASE("precedence is flag over environment over file over default") {
  ehr::testing::TempDir dir;
  dir.write("ehr/config.yaml", "db: from-file.db\nformat: csv\ncolor: never\nkdf: sensitive\n");
  ConfigInputs in;
  in.env = {{"XDG_CONFIG_HOME", dir.path()}, {"EHR_DB", "/env/x.db"}, {"EHR_FORMAT", "yaml"}};
  in.flags = {{"db", "/flag/y.db"}};
  in.login_name = "alice";
  auto c = resolve_config(in);
  REQUIRE(c.ok());
  CHECK(c->get("db") == "/flag/y.db");
  CHECK(origin_of(*c, "db") == "flag --db");
  CHECK(c->get("format") == "yaml");
  CHECK(origin_of(*c, "format") == "env EHR_FORMAT");
  CHECK(c->get("color") == "never");
  CHECK(origin_of(*c, "color") == "file " + dir.path() + "/ehr/config.yaml:3");
  CHECK(c->get("user") == "alice");
  CHECK(origin_of(*c, "user") == "default");
  CHECK(c->get("kdf") == "sensitive");
}

TEST_CASE("relative paths in the config file are relative to the file") {
  ehr::testing::TempDir dir;
  dir.write("ehr/config.yaml", "db: records/clinic.db\nkey_file: /abs/key\n");
  ConfigInputs in;
  in.env = {{"XDG_CONFIG_HOME", dir.path()}};
  auto c = resolve_config(in);
  REQUIRE(c.ok());
  CHECK(c->get("db") == dir.path() + "/ehr/records/clinic.db");
  CHECK(c->get("key_file") == "/abs/key");
}

TEST_CASE("defaults apply without any file") {
  ConfigInputs in;
  in.env = {{"HOME", "/nonexistent-home"}};
  in.login_name = "bob";
  auto c = resolve_config(in);
  REQUIRE(c.ok());
  CHECK(c->file().empty());
  CHECK(c->get("db") == "./ehr.db");
  CHECK(c->get("format") == "auto");
  CHECK(c->get("kdf") == "moderate");
}

TEST_CASE("a relative XDG_CONFIG_HOME is ignored") {
  ConfigInputs in;
  in.env = {{"XDG_CONFIG_HOME", "relative/dir"}, {"HOME", "/nonexistent-home"}};
  auto c = resolve_config(in);
  REQUIRE(c.ok());
  CHECK(c->file().empty());
}

TEST_CASE("a broken config file names the file and line") {
  ehr::testing::TempDir dir;
  struct Case {
    std::string content;
    std::string message;
  };
  const Case cases[] = {
      {"db: x\ncolour: never\n", ":ehr/config.yaml: line 2, column 1: unknown key \"colour\" (known keys: db, user, format, color, key_file, passphrase_file, mrn_system, kdf, care_rules, matching)"},
      {"format: xml\n", ":ehr/config.yaml: line 1, column 9: \"format\" must be one of auto, table, json, ndjson, csv, yaml, bundle; got \"xml\""},
      {"db: [a, b]\n", ":ehr/config.yaml: line 1, column 5: \"db\" must be a single value"},
      {"- db\n", ":ehr/config.yaml: line 1, column 1: the config file must be a map of key: value"},
      {"db: a\ndb: b\n", ":ehr/config.yaml: line 2, column 1: duplicate key \"db\""},
  };
  for (const auto& cs : cases) {
    CAPTURE(cs.content);
    dir.write("ehr/config.yaml", cs.content);
    ConfigInputs in;
    in.env = {{"XDG_CONFIG_HOME", dir.path()}};
    auto c = resolve_config(in);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().code() == ehr::ErrorCode::kConfig);
    std::string expected = cs.message;
    expected.replace(0, 1, dir.path() + "/");
    CHECK(c.error().message() == expected);
  }
}

TEST_CASE("a YAML syntax error is a config error with a line") {
  ehr::testing::TempDir dir;
  std::string f = dir.write("c.yaml", "db: ok\nformat: \"unterminated\n");
  ConfigInputs in;
  in.config_file = f;
  auto c = resolve_config(in);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code() == ehr::ErrorCode::kConfig);
  CHECK(c.error().message().rfind(f + ": line ", 0) == 0);
}

TEST_CASE("an invalid environment value names the variable") {
  ConfigInputs in;
  in.env = {{"HOME", "/nonexistent-home"}, {"EHR_COLOR", "sometimes"}};
  auto c = resolve_config(in);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code() == ehr::ErrorCode::kConfig);
  CHECK(c.error().message() ==
        "environment variable EHR_COLOR must be one of auto, always, never; got \"sometimes\"");
}

TEST_CASE("an explicitly named config file must exist") {
  ConfigInputs in;
  in.config_file = "/nonexistent/ehr.yaml";
  auto c = resolve_config(in);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code() == ehr::ErrorCode::kNoInput);
  CHECK(c.error().message() == "cannot read config file /nonexistent/ehr.yaml");
  ConfigInputs via_env;
  via_env.env = {{"EHR_CONFIG", "/nonexistent/ehr.yaml"}};
  CHECK(resolve_config(via_env).error().code() == ehr::ErrorCode::kNoInput);
}

TEST_CASE("an empty config file configures nothing") {
  ehr::testing::TempDir dir;
  ConfigInputs in;
  in.config_file = dir.write("empty.yaml", "# nothing here\n");
  auto c = resolve_config(in);
  REQUIRE(c.ok());
  CHECK(c->get("db") == "./ehr.db");
}

TEST_CASE("the compiled key table is schemas/config.yaml") {
  // The build compiles the table (tools/config_keys_gen.cc); read the
  // embedded schema here the way the loader once did, and compare.
  auto text = ehr::detail::embedded_schema("config.yaml");
  REQUIRE(text.has_value());
  auto doc = ehr::detail::parse_yaml(*text);
  REQUIRE(doc.ok());
  const ehr::detail::YamlNode* list = doc->get("keys");
  REQUIRE(list != nullptr);
  const auto& keys = ehr::config_keys();
  REQUIRE(keys.size() == list->items.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& k = list->items[i];
    auto str = [&](const char* name) {
      const ehr::detail::YamlNode* n = k.get(name);
      return n != nullptr && n->is_scalar() ? n->scalar : std::string();
    };
    CAPTURE(keys[i].name);
    CHECK(keys[i].name == str("name"));
    CHECK(keys[i].flag == str("flag"));
    CHECK(keys[i].env == str("env"));
    CHECK(keys[i].default_value == str("default"));
    CHECK(keys[i].description == str("description"));
    CHECK(keys[i].path == (str("path") == "true"));
    std::vector<std::string> values;
    if (const ehr::detail::YamlNode* v = k.get("values"))
      for (const auto& item : v->items) values.push_back(item.scalar);
    CHECK(keys[i].values == values);
  }
}

}
