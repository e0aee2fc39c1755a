// ehr config show: every configuration key, its effective value and origin.
#include "commands.h"

namespace ehr::cli {

namespace {

int run_config_show(Context& ctx) {
  Json rows = Json::array();
  for (const auto& s : ctx.config().settings()) {
    Json row = Json::object();
    row.set("key", Json::string(s.key));
    row.set("value", Json::string(s.value));
    row.set("origin", Json::string(s.origin));
    rows.push_back(std::move(row));
  }
  ctx.print_rows(rows, {"key", "value", "origin"});
  return 0;
}

}  // namespace

void setup_config_show(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Precedence: flag > EHR_* environment > config file > default. The config file is\n"
      "--config FILE, else $EHR_CONFIG, else $XDG_CONFIG_HOME/ehr/config.yaml.\n\n"
      "Examples:\n"
      "  ehr config show\n"
      "  ehr config show --format json | jq -r '.[] | select(.key==\"db\") | .value'\n"
      "  EHR_DB=/srv/ehr/clinic.db ehr config show --format csv");
  run = run_config_show;
}

}  // namespace ehr::cli
