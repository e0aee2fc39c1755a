// The one command table (commands.h).
#include "commands.h"

#include "ehr/config.h"

namespace ehr::cli {

const std::vector<NounSpec>& noun_table() {
  static const std::vector<NounSpec> nouns = {
      {"config", "show the effective configuration"},
  };
  return nouns;
}

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> commands = {
      {"config", "show", "print every setting, its value and where it came from", setup_config_show},
  };
  return commands;
}

CLI::Option* add_config_flag(CLI::App& cmd, ConfigFlags& flags, const std::string& key) {
  for (const auto& k : config_keys()) {
    if (k.name != key) continue;
    flags.storage.push_back(std::make_unique<std::string>());
    std::string help = k.description;
    if (!k.env.empty()) help += " [env " + k.env + "]";
    CLI::Option* opt = cmd.add_option(k.flag, *flags.storage.back(), help);
    if (!k.values.empty()) opt->check(CLI::IsMember(k.values));
    opt->type_name(k.values.empty() ? (k.path ? "PATH" : "TEXT") : "CHOICE");
    flags.options.emplace_back(key, opt);
    return opt;
  }
  return nullptr;
}

}  // namespace ehr::cli
