// The entry point of the ehr command line: parse, resolve configuration,
// dispatch to one command, map its outcome to an exit code.

#ifndef EHR_CLI_APP_H_
#define EHR_CLI_APP_H_

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "io.h"

namespace ehr::cli {

// Runs ehr with `args` (without the program name) and returns the exit code.
// Never throws: parse errors give 64, configuration errors 78 (or 66 for a
// missing --config file), unexpected exceptions 70.
int run(const std::vector<std::string>& args, Io& io);

// The global options every command accepts.
struct GlobalOptions {
  ConfigFlags flags;
  std::string config_file;
  CLI::Option* config_option = nullptr;
  bool quiet = false;
  bool no_input = false;
  bool recovery = false;
  std::string purpose;    // --purpose: a purpose name or v3 code; "" = not given
  std::string recipient;  // --recipient: who outside the organisation receives the data
};

// A built command tree: the CLI11 app plus each command's CLI11 node and run
// function, in command_table() order. Exposed for the documentation tests.
struct AppTree {
  std::unique_ptr<CLI::App> app;
  std::vector<std::pair<CLI::App*, CommandRun>> commands;
};

// When build_app runs each command's setup function (its options, footer and
// run function). kWhenParsed defers it to the moment CLI11 meets the command
// on the command line, before it parses the command's arguments: a run sets
// up only the command it runs (ehr: about a third of a millisecond less per
// process). Until then a command has only its name and summary.
enum class CommandSetup { kNow, kWhenParsed };

AppTree build_app(GlobalOptions& globals, CommandSetup setup = CommandSetup::kNow);

}  // namespace ehr::cli

#endif  // EHR_CLI_APP_H_
