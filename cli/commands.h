// The command table: every subcommand of ehr, in the order `ehr --help` lists
// them. Each row names a noun (and verb), a one-line summary and the setup
// function from its cmd_<noun>_<verb>.cc file. A setup function adds the
// command's options and help footer (with an "Examples:" section) to `cmd`
// and sets `run`, which the dispatcher calls after parsing succeeded; no work
// runs inside CLI11 callbacks.

#ifndef EHR_CLI_COMMANDS_H_
#define EHR_CLI_COMMANDS_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "context.h"

namespace ehr::cli {

using CommandRun = std::function<int(Context&)>;

// Options that map onto configuration keys, collected from whichever command
// declares them (the global flags and per-command ones such as --kdf).
struct ConfigFlags {
  std::map<std::string, std::string> values;  // key -> value given on the command line
  std::vector<std::pair<std::string, CLI::Option*>> options;
  std::vector<std::unique_ptr<std::string>> storage;
};

// Refuses an empty value (64, "--since: must not be empty"): a filter given
// as "" (a cron line's unset variable) must not quietly widen to everything.
// build_app (app.cc) puts it on every option and argument that takes a value.
inline const CLI::Validator& not_empty() {
  static const CLI::Validator v(
      [](std::string& value) { return value.empty() ? std::string("must not be empty") : std::string(); }, "");
  return v;
}

// A --limit N: a whole number, 0 meaning no limit; empty or negative is
// refused (64, "--limit: must be 0 (no limit) or more").
inline const CLI::Validator& limit_count() {
  static const CLI::Validator v(
      [](std::string& value) {
        if (value.empty()) return std::string("must not be empty");
        if (value[0] == '-') return std::string("must be 0 (no limit) or more");
        return std::string();
      },
      "");
  return v;
}

// Adds the flag of configuration key `key` (as listed in schemas/config.yaml)
// to `cmd`, validated against the key's allowed values.
CLI::Option* add_config_flag(CLI::App& cmd, ConfigFlags& flags, const std::string& key);

struct CommandSpec {
  const char* noun;     // "config"
  const char* verb;     // "show", or nullptr for a noun-only command ("init")
  const char* summary;  // one line, lower case
  void (*setup)(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
  bool prints_resources = false;  // accepts --format bundle
};

struct NounSpec {
  const char* noun;
  const char* summary;
  const char* examples;  // the "Examples:" lines of `ehr NOUN --help`
};

const std::vector<CommandSpec>& command_table();
const std::vector<NounSpec>& noun_table();

// Setup functions, one per cmd_<noun>_<verb>.cc.
void setup_config_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_audit_verify(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_audit_checkpoint(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_update(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_list(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_find(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_team(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_duplicates(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_merge(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_unmerge(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_patient_not_duplicate(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_user_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_user_list(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_user_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_user_disable(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_user_enable(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_user_grant(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_user_revoke(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_policy_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_policy_list(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_policy_apply(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_policy_check(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_record_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_record_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_record_list(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_record_history(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_record_amend(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_record_retract(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_record_purge(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_import(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_export(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_audit_show(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_audit_export(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_audit_disclosures(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_audit_emergencies(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_care_due(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_care_check(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_care_rules(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_init(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_db_info(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_db_check(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_db_backup(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_db_recover(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_db_rotate_key(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_key_new(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_key_list(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_key_add(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_key_remove(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);
void setup_key_passwd(CLI::App& cmd, ConfigFlags& flags, CommandRun& run);

}  // namespace ehr::cli

#endif  // EHR_CLI_COMMANDS_H_
