// Effective configuration: flags > EHR_* environment > config file > default.
//
// The keys, their flags, environment variables, defaults and allowed values
// are data (schemas/config.yaml, embedded). resolve_config() takes every
// source as an explicit input, so it never reads the process environment or
// the file system behind the caller's back except the one config file named in
// ConfigInputs. Nothing here is secret: key and passphrase settings hold file
// paths, never key material.

#ifndef EHR_CONFIG_H_
#define EHR_CONFIG_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ehr/status.h"

namespace ehr {

// One resolved setting.
struct ConfigSetting {
  std::string key;          // "db"
  std::string value;        // effective value ("" when unset)
  std::string origin;       // "flag --db", "env EHR_DB", "file /p/config.yaml:3", "default"
  std::string description;  // from schemas/config.yaml
};

struct ConfigInputs {
  // Values given as flags, by key name ("db" -> "x.db").
  std::map<std::string, std::string> flags;
  // The process environment (only EHR_* and XDG_CONFIG_HOME/HOME are consulted).
  std::map<std::string, std::string> env;
  // An explicit config file (--config); overrides EHR_CONFIG and the XDG path.
  std::optional<std::string> config_file;
  // The default for `user` (the OS login name), computed by the caller.
  std::string login_name;
};

class Config {
 public:
  // The effective value of `key`. REQUIRES: `key` is a known key.
  const std::string& get(const std::string& key) const;
  // Every key in schema order.
  const std::vector<ConfigSetting>& settings() const { return settings_; }
  // The config file that was read, or "" when none exists.
  const std::string& file() const { return file_; }

 private:
  friend Result<Config> resolve_config(const ConfigInputs& inputs);
  std::vector<ConfigSetting> settings_;
  std::string file_;
};

// Resolves every key. The config file is --config, else $EHR_CONFIG, else
// $XDG_CONFIG_HOME/ehr/config.yaml (XDG_CONFIG_HOME only when absolute), else
// $HOME/.config/ehr/config.yaml; a missing default file is not an error.
// Errors:
//   kNoInput  an explicitly named config file (flag or EHR_CONFIG) does not
//             exist; a config file exists but cannot be read; or whether the
//             default file exists cannot be told (a directory above it, such
//             as ~/.config, is not searchable): "cannot read config file
//             /h/.config/ehr/config.yaml: Permission denied"
//   kConfig   the file is malformed, names an unknown key, or a value from the
//             file or the environment is not allowed; the message names the
//             file and line ("/p/config.yaml:3:8: ...") or the variable
Result<Config> resolve_config(const ConfigInputs& inputs);

// The documented keys (name, flag, env, default, allowed values), for help
// texts and tests.
struct ConfigKeyInfo {
  std::string name, flag, env, default_value, description;
  std::vector<std::string> values;
  bool path = false;
};
const std::vector<ConfigKeyInfo>& config_keys();

}  // namespace ehr

#endif  // EHR_CONFIG_H_
