// The command tree and the dispatcher (app.h).
#include "app.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "ehr/audit.h"
#include "ehr/files.h"
#include "ehr/seal.h"
#include "ehr/version.h"
#include "exit_codes.h"

namespace ehr::cli {

namespace {

// CLI11 messages start upper-case and may end in a period; ehr's do neither.
std::string house_style(std::string msg) {
  while (!msg.empty() && (msg.back() == '.' || msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (msg.size() >= 2 && msg[0] >= 'A' && msg[0] <= 'Z' && !(msg[1] >= 'A' && msg[1] <= 'Z'))
    msg[0] = static_cast<char>(msg[0] - 'A' + 'a');
  return msg;
}

#define EHR_EXIT_STATUS_LINES \
  "Exit status: 0 ok, 1 no match, 3 completed with findings, 64 usage, 65 bad data or\n" \
  "corrupt file, 66 input or database missing, 70 internal error, 73 cannot create output,\n" \
  "74 I/O error, 75 busy, 77 wrong key or access denied, 78 bad configuration, 130 interrupted.\n\n"

const char* kRootFooter =
    EHR_EXIT_STATUS_LINES
    "Examples:\n"
    "  ehr config show\n"
    "  ehr --format json config show\n"
    "  man ehr";

// Every option and argument that takes a value refuses an empty one (64,
// "--group: must not be empty"): "" is what a script's unset variable
// gives, and no option of ehr means anything by it. Left alone, an empty
// filter would quietly widen to everything, and an empty id or path would
// be reported as a record or file named "".
void refuse_empty_values(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_type_size_max() > 0) opt->check(not_empty());
  }
}

}  // namespace

AppTree build_app(GlobalOptions& g, CommandSetup setup) {
  AppTree tree;
  tree.app = std::make_unique<CLI::App>(
      "ehr: an electronic health record in one encrypted file, for the shell", "ehr");
  CLI::App& app = *tree.app;
  app.set_version_flag("--version", "ehr " + std::string(version()), "print the version and exit");
  app.set_help_flag("-h,--help", "print help and exit");
  app.footer(kRootFooter);
  app.option_defaults()->always_capture_default(false);

  add_config_flag(app, g.flags, "db");
  add_config_flag(app, g.flags, "user");
  add_config_flag(app, g.flags, "format");
  add_config_flag(app, g.flags, "color");
  add_config_flag(app, g.flags, "key_file");
  add_config_flag(app, g.flags, "passphrase_file");
  g.config_option = app.add_option("--config", g.config_file,
                                   "read configuration from FILE [env EHR_CONFIG]")
                        ->type_name("PATH");
  app.add_flag("-q,--quiet", g.quiet, "no informational output on stderr");
  app.add_flag("--no-input", g.no_input, "never prompt; fail instead of asking");
  app.add_flag("--recovery", g.recovery,
               "open with a recovery code (prompted, or the first line of --passphrase-file)");
  app.add_option("--purpose", g.purpose,
                 "why the data is accessed, as the audit trail records it: treatment (the default; "
                 "emergency with --emergency), payment, operations, public-health, ... (see ehr(1))")
      ->type_name("NAME");
  app.add_option("--recipient", g.recipient,
                 "who outside the organisation receives the data; what the command reads is "
                 "recorded as disclosed to them. A recipient key file (FILE.pub, made by 'ehr key "
                 "new --recipient') names them by its label, and ehr export seals its output to it")
      ->type_name("NAME|FILE");
  refuse_empty_values(app);

  std::map<std::string, CLI::App*> nouns;
  for (const auto& n : noun_table()) {
    CLI::App* sub = app.add_subcommand(n.noun, n.summary);
    sub->footer(std::string(EHR_EXIT_STATUS_LINES) + "ehr " + n.noun +
                " COMMAND --help shows each command's options and more examples.\n\nExamples:\n" + n.examples);
    sub->fallthrough();
    nouns[n.noun] = sub;
  }
  for (const auto& c : command_table()) {
    CLI::App* cmd;
    if (c.verb == nullptr) {
      cmd = app.add_subcommand(c.noun, c.summary);
    } else {
      CLI::App* noun = nouns.at(c.noun);
      cmd = noun->add_subcommand(c.verb, c.summary);
    }
    cmd->fallthrough();
    CommandRun run;
    if (setup == CommandSetup::kNow) {
      c.setup(*cmd, g.flags, run);
      refuse_empty_values(*cmd);
    }
    tree.commands.emplace_back(cmd, std::move(run));
  }
  if (setup == CommandSetup::kWhenParsed) {
    // CLI11 calls a command's preparse callback once, when the command is
    // named and before its arguments are parsed. The run function goes
    // into the tree's own slot, which stays put when the tree is moved out.
    for (size_t i = 0; i < tree.commands.size(); ++i) {
      auto& [cmd, run] = tree.commands[i];
      const CommandSpec& c = command_table()[i];
      cmd->preparse_callback([&c, cmd = cmd, &run = run, &g](std::size_t) {
        c.setup(*cmd, g.flags, run);
        refuse_empty_values(*cmd);
      });
    }
  }
  return tree;
}

namespace {

// --help and --version are output too: one that never reached standard
// output (>/dev/full) exits 74 like any command (QA finding ops 07).
int help_written(int code, Io& io, bool color) {
  errno = 0;
  io.out.flush();
  if (io.out) return code;
  int e = errno;
  print_error(io, e != 0 ? std::string("cannot write to standard output: ") + std::strerror(e)
                         : std::string("cannot write to standard output"),
              color);
  return kExitIoErr;
}

}  // namespace

int run(const std::vector<std::string>& args, Io& io) {
  GlobalOptions g;
  AppTree tree;
  bool early_color = use_color("auto", io.err_tty, io);
  try {
    tree = build_app(g, CommandSetup::kWhenParsed);
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
    tree.app->parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return help_written(tree.app->exit(e, io.out, io.err), io, early_color);
  } catch (const CLI::CallForAllHelp& e) {
    return help_written(tree.app->exit(e, io.out, io.err), io, early_color);
  } catch (const CLI::CallForVersion& e) {
    return help_written(tree.app->exit(e, io.out, io.err), io, early_color);
  } catch (const CLI::ParseError& e) {
    print_error(io, house_style(e.what()), early_color);
    print_hint(io, "run 'ehr --help' for usage", early_color);
    return kExitUsage;
  } catch (const std::exception& e) {
    print_error(io, std::string("internal error: ") + e.what(), early_color);
    return kExitInternal;
  }

  // --purpose and --recipient, checked before any secret is asked for.
  if (!g.purpose.empty()) {
    auto p = parse_purpose(g.purpose);
    if (!p.ok()) {
      print_error(io, p.error().message(), early_color);
      return kExitUsage;
    }
    g.purpose = std::string((*p)->name);
  }
  if (tree.app->get_option("--recipient")->count() > 0 &&
      g.recipient.find_first_not_of(" \t") == std::string::npos) {
    print_error(io, "--recipient needs the name of the party receiving the data", early_color);
    return kExitUsage;
  }
  // A recipient key file: an existing file, or a name ending in .pub (so
  // that a mistyped key path is an error, not a recipient's name).
  std::optional<RecipientKey> recipient_key;
  if (!g.recipient.empty() &&
      (path_exists(g.recipient) ||
       (g.recipient.size() > 4 && g.recipient.compare(g.recipient.size() - 4, 4, ".pub") == 0))) {
    auto key = read_recipient_key(g.recipient);
    if (!key.ok()) {
      print_error(io, "--recipient " + key.error().message(), early_color);
      return exit_code_for(key.error().code());
    }
    g.recipient = key->label;
    recipient_key = std::move(*key);
  }

  ConfigInputs in;
  for (const auto& [key, opt] : g.flags.options)
    if (opt->count() > 0) in.flags[key] = opt->as<std::string>();
  in.env = io.env;
  if (g.config_option->count() > 0) in.config_file = g.config_file;
  in.login_name = io.login_name;
  auto config = resolve_config(in);
  if (!config.ok()) {
    print_error(io, config.error().message(), early_color);
    return exit_code_for(config.error().code());
  }
  auto format = resolve_format(config->get("format"), io.out_tty);
  if (!format.ok()) {
    print_error(io, format.error().message(), early_color);
    return kExitConfig;
  }

  // A noun without a verb (or nothing at all) is a usage error. It is checked
  // here rather than with CLI11's require_subcommand so that an unknown option
  // is reported as such, not as a missing command.
  bool selected = std::any_of(tree.commands.begin(), tree.commands.end(),
                              [](const auto& c) { return c.first->parsed(); });
  if (!selected) {
    std::string path = "ehr";
    for (CLI::App* sub = tree.app.get(); !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      path += " " + sub->get_name();
    }
    print_error(io, path == "ehr" ? "no command given" : path + ": a subcommand is required",
                early_color);
    print_hint(io, "run '" + path + " --help' for the list of commands", early_color);
    return kExitUsage;
  }

  // bundle applies only to commands that print FHIR resources. Asked for
  // with --format on another command it is a usage error; as a default (the
  // config file, EHR_FORMAT) it gives way there to auto.
  size_t selected_index = 0;
  while (selected_index < tree.commands.size() && !tree.commands[selected_index].first->parsed()) ++selected_index;
  if (selected_index < tree.commands.size() && *format == Format::kBundle &&
      !command_table()[selected_index].prints_resources) {
    auto setting = std::find_if(config->settings().begin(), config->settings().end(),
                                [](const ConfigSetting& s) { return s.key == "format"; });
    if (setting != config->settings().end() && setting->origin.rfind("flag", 0) == 0) {
      print_error(io, "--format bundle applies only to commands that print FHIR resources",
                  early_color);
      return kExitUsage;
    }
    format = resolve_format("auto", io.out_tty);
  }

  Context ctx(io, std::move(*config), *format, g.quiet, g.no_input, g.recovery);
  ctx.set_purpose(g.purpose, g.recipient);
  if (recipient_key) ctx.set_recipient_key(std::move(*recipient_key));
  for (size_t i = 0; i < tree.commands.size(); ++i) {
    auto& [cmd, runner] = tree.commands[i];
    if (!cmd->parsed()) continue;
    int code;
    try {
      code = runner(ctx);
    } catch (const std::exception& e) {
      return ctx.fail(Error::internal(e.what()));
    }
    // Data that never reached standard output (a full disk under a cron
    // job's redirection, a closed descriptor) is a failed command, not a
    // short listing with exit 0.
    errno = 0;
    io.out.flush();
    if (!io.out && code == kExitOk) {
      int e = errno;
      return ctx.fail(Error::io_error(e != 0 ? std::string("cannot write to standard output: ") + std::strerror(e)
                                             : std::string("cannot write to standard output")));
    }
    return code;
  }
  return ctx.fail(Error::internal("no command was selected"));  // unreachable
}

}  // namespace ehr::cli
