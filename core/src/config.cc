// Configuration resolution (ehr/config.h). The key table comes from
// schemas/config.yaml, compiled into the binary by the build; the user's file
// is parsed by yaml_adapter.

#include "ehr/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "yaml_adapter.h"
#include "words.h"

namespace ehr {

namespace detail {
// The key table of schemas/config.yaml, compiled by the build
// (tools/config_keys_gen.cc writes its definition).
std::vector<ConfigKeyInfo> compiled_config_keys();
}  // namespace detail

namespace {

using detail::YamlNode;

bool allowed(const ConfigKeyInfo& k, const std::string& value) {
  return k.values.empty() || std::find(k.values.begin(), k.values.end(), value) != k.values.end();
}

std::string lookup(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

// Chooses the config file and whether it must exist.
std::pair<std::string, bool> config_path(const ConfigInputs& in) {
  if (in.config_file) return {*in.config_file, true};
  std::string env = lookup(in.env, "EHR_CONFIG");
  if (!env.empty()) return {env, true};
  std::string xdg = lookup(in.env, "XDG_CONFIG_HOME");
  if (!xdg.empty() && xdg[0] == '/') return {xdg + "/ehr/config.yaml", false};
  std::string home = lookup(in.env, "HOME");
  if (!home.empty()) return {home + "/.config/ehr/config.yaml", false};
  return {"", false};
}

}  // namespace

const std::vector<ConfigKeyInfo>& config_keys() {
  static const std::vector<ConfigKeyInfo> keys = detail::compiled_config_keys();
  return keys;
}

const std::string& Config::get(const std::string& key) const {
  for (const auto& s : settings_)
    if (s.key == key) return s.value;
  static const std::string empty;
  return empty;
}

Result<Config> resolve_config(const ConfigInputs& in) {
  const auto& keys = config_keys();
  Config cfg;

  // 1. The file, if any: key -> (value, line).
  std::map<std::string, std::pair<std::string, int>> from_file;
  auto [path, must_exist] = config_path(in);
  if (!path.empty()) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      // Absent is fine for the default path; anything else (the file or a
      // directory above it unreadable) is an error naming the path, never
      // an exception and never silently skipped: the file may set the
      // database, the user or the key file.
      std::error_code ec;
      bool exists = std::filesystem::exists(path, ec);
      bool absent = !exists && (!ec || ec == std::errc::no_such_file_or_directory ||
                                ec == std::errc::not_a_directory);
      if (must_exist || !absent)
        return Error::no_input(ec && !absent ? fmt::format("cannot read config file {}: {}", path, ec.message())
                                             : fmt::format("cannot read config file {}", path));
    } else {
      cfg.file_ = path;
      std::stringstream ss;
      ss << f.rdbuf();
      auto doc = detail::parse_yaml(ss.str());
      if (!doc.ok()) return Error::config(fmt::format("{}: {}", path, doc.error().message()));
      auto bad = [&](const YamlNode& n, const std::string& what) {
        return Error::config(
            fmt::format("{}: line {}, column {}: {}", path, n.line, n.column, what));
      };
      if (doc->kind == YamlNode::Kind::kNull) {
        // An empty file configures nothing.
      } else if (!doc->is_map()) {
        return bad(*doc, "the config file must be a map of key: value");
      } else {
        std::filesystem::path dir = std::filesystem::path(path).parent_path();
        for (const auto& [k, v] : doc->entries) {
          auto info = std::find_if(keys.begin(), keys.end(),
                                   [&](const ConfigKeyInfo& i) { return i.name == k.scalar; });
          if (info == keys.end()) {
            std::vector<std::string> names;
            for (const auto& i : keys) names.push_back(i.name);
            return bad(k, fmt::format("unknown key \"{}\" (known keys: {})", k.scalar, detail::join_words(names, ", ")));
          }
          if (!v.is_scalar()) return bad(v, fmt::format("\"{}\" must be a single value", k.scalar));
          if (!allowed(*info, v.scalar))
            return bad(v, fmt::format("\"{}\" must be one of {}; got \"{}\"", k.scalar,
                                      detail::join_words(info->values, ", "), v.scalar));
          std::string value = v.scalar;
          if (info->path && !value.empty() && value[0] != '/' && !dir.empty())
            value = (dir / value).lexically_normal().string();
          from_file[k.scalar] = {value, k.line};
        }
      }
    }
  }

  // 2. Every key: flag > env > file > default.
  for (const auto& k : keys) {
    ConfigSetting s{k.name, "", "default", k.description};
    auto flag = in.flags.find(k.name);
    std::string env = k.env.empty() ? std::string() : lookup(in.env, k.env);
    if (flag != in.flags.end()) {
      s.value = flag->second;
      s.origin = "flag " + k.flag;
    } else if (!env.empty()) {
      if (!allowed(k, env))
        return Error::config(fmt::format("environment variable {} must be one of {}; got \"{}\"",
                                         k.env, detail::join_words(k.values, ", "), env));
      s.value = env;
      s.origin = "env " + k.env;
    } else if (auto f = from_file.find(k.name); f != from_file.end()) {
      s.value = f->second.first;
      s.origin = fmt::format("file {}:{}", cfg.file_, f->second.second);
    } else if (k.name == "user") {
      s.value = in.login_name;
    } else {
      s.value = k.default_value;
    }
    cfg.settings_.push_back(std::move(s));
  }
  return cfg;
}

}  // namespace ehr
