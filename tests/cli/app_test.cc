// The command line run in-process (cli/app.cc): parse errors, help, version,
// configuration errors, `ehr config show`, and the errors of a prompt that
// cannot be asked (cli/secret_input.cc).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app.h"
#include "ehr/version.h"
#include "support/cli_runner.h"
#include "support/temp_dir.h"

using ehr::testing::run_cli;

TEST_SUITE("app") {

TEST_CASE("an unknown option exits 64 with an ehr: error line") {
  auto r = run_cli({"--bogus"});
  CHECK(r.code == 64);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "ehr: error: the following argument was not expected: --bogus\n"
        "ehr: hint: run 'ehr --help' for usage\n");
}

TEST_CASE("usage errors exit 64") {
  struct Case {
    std::vector<std::string> args;
    std::string first_line;
  };
  const Case cases[] = {
      {{}, "ehr: error: no command given"},
      {{"config"}, "ehr: error: ehr config: a subcommand is required"},
      {{"nosuch"}, "ehr: error: the following argument was not expected: nosuch"},
      {{"config", "show", "--bogus"}, "ehr: error: the following argument was not expected: --bogus"},
      {{"--format", "xml", "config", "show"}, "ehr: error: --format: xml not in {auto,table,json,ndjson,csv,yaml,bundle}"},
      {{"--db"}, "ehr: error: --db: 1 required PATH missing"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.first_line);
    auto r = run_cli(c.args);
    CHECK(r.code == 64);
    CHECK(r.out.empty());
    CHECK(r.err.substr(0, r.err.find('\n')) == c.first_line);
  }
}

TEST_CASE("--purpose must name a purpose of use and --recipient a party, before any secret is read") {
  // No database exists: these fail on the command line, not on opening it.
  auto unknown = run_cli({"--purpose", "curiosity", "audit", "show"});
  CHECK(unknown.code == 64);
  CHECK(unknown.out.empty());
  CHECK(unknown.err ==
        "ehr: error: unknown purpose curiosity (known: treatment, emergency, payment, operations, "
        "patient-request, coverage, public-health, research, legal, law-enforcement, family-request, "
        "power-of-attorney, support-network, marketing, system-administration)\n");
  auto blank = run_cli({"record", "show", "--patient", "A1", "--recipient", " "});
  CHECK(blank.code == 64);
  CHECK(blank.err == "ehr: error: --recipient needs the name of the party receiving the data\n");
  // A known purpose, by name or v3 code in any case, goes on to open the database.
  for (const char* p : {"public-health", "PUBHLTH", "pubhlth"}) {
    CAPTURE(p);
    auto known = run_cli({"--db", "/nonexistent/x.db", "--purpose", p, "audit", "show"});
    CHECK(known.code == 66);
    CHECK(known.err.substr(0, known.err.find('\n')) == "ehr: error: /nonexistent/x.db: no such file");
  }
}

TEST_CASE("a new passphrase that cannot be asked for names the command's own options") {
  // The error used to name --key-file and --passphrase-file, which hold the
  // caller's secret, not the new one.
  ehr::testing::TempDir dir;
  ehr::testing::CliOptions o;
  o.env = {{"EHR_DB", dir.file("k.db")},
           {"EHR_USER", "admin"},
           {"EHR_KEY_FILE", dir.file("admin.key")},
           {"HOME", dir.path()}};
  REQUIRE(run_cli({"key", "new", "-o", dir.file("admin.key")}, o).code == 0);
  REQUIRE(run_cli({"init", "-q"}, o).code == 0);
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::string both = "use --new-key-file or --new-passphrase-file\n";
  const Case cases[] = {
      {{"user", "add", "carl", "--role", "nurse"},
       "ehr: error: a new passphrase is needed and there is no terminal to ask on; " + both},
      {{"--no-input", "user", "add", "carl", "--role", "nurse"},
       "ehr: error: a new passphrase is needed and --no-input forbids prompting; " + both},
      {{"key", "add"},
       "ehr: error: a new passphrase is needed and there is no terminal to ask on; " + both},
      {{"user", "enable", "admin"},
       "ehr: error: a new passphrase is needed and there is no terminal to ask on; " + both},
  };
  for (const auto& c : cases) {
    CAPTURE(c.err);
    auto r = run_cli(c.args, o);
    CHECK(r.code == 64);
    CHECK(r.out.empty());
    CHECK(r.err == c.err);
  }
  // key passwd has only --new-passphrase-file (and takes no key-file slot:
  // a passphrase slot of admin's is needed to get that far).
  std::ofstream(dir.file("old.pw")) << "old passphrase\n";
  std::filesystem::permissions(dir.file("old.pw"),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  REQUIRE(run_cli({"key", "add", "--new-passphrase-file", dir.file("old.pw"), "--kdf",
                   "interactive", "-q"},
                  o)
              .code == 0);
  o.env.erase("EHR_KEY_FILE");
  o.env["EHR_PASSPHRASE_FILE"] = dir.file("old.pw");
  auto passwd = run_cli({"--no-input", "key", "passwd"}, o);
  CHECK(passwd.code == 64);
  CHECK(passwd.err ==
        "ehr: error: a new passphrase is needed and --no-input forbids prompting; use "
        "--new-passphrase-file\n");
  CHECK(run_cli({"user", "show", "carl"}, o).code == 1);
}

TEST_CASE("--help and --version print to stdout and exit 0") {
  auto h = run_cli({"--help"});
  CHECK(h.code == 0);
  CHECK(h.out.find("Usage: ehr [OPTIONS] [SUBCOMMAND]") != std::string::npos);
  CHECK(h.out.find("Examples:") != std::string::npos);
  auto sub = run_cli({"config", "show", "--help"});
  CHECK(sub.code == 0);
  CHECK(sub.out.find("Usage: ehr config show") != std::string::npos);
  auto v = run_cli({"--version"});
  CHECK(v.code == 0);
  CHECK(v.out == "ehr " + std::string(ehr::version()) + "\n");
}

TEST_CASE("each command, set up only when named, prints the help of one set up at once") {
  for (const auto& spec : ehr::cli::command_table()) {
    std::vector<std::string> args = {spec.noun};
    if (spec.verb != nullptr) args.push_back(spec.verb);
    args.push_back("--help");
    CAPTURE(args[0] + (spec.verb ? std::string(" ") + spec.verb : ""));
    auto deferred = run_cli(args);  // cli::run: CommandSetup::kWhenParsed
    ehr::cli::GlobalOptions g;
    auto tree = ehr::cli::build_app(g, ehr::cli::CommandSetup::kNow);
    std::ostringstream out, err;
    int code = -1;
    try {
      tree.app->parse(std::vector<std::string>(args.rbegin(), args.rend()));
    } catch (const CLI::CallForHelp& e) {
      code = tree.app->exit(e, out, err);
    }
    CHECK(deferred.code == code);
    CHECK(deferred.out == out.str());
    CHECK(deferred.out.find("Examples:") != std::string::npos);
  }
}

TEST_CASE("config show prints every key with its origin") {
  ehr::testing::TempDir dir;
  dir.write("ehr/config.yaml", "db: clinic.db\n");
  ehr::testing::CliOptions o;
  o.env = {{"XDG_CONFIG_HOME", dir.path()}, {"EHR_KDF", "interactive"}};
  auto r = run_cli({"--format", "csv", "--user", "nurse1", "config", "show"}, o);
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "key,value,origin\n"
        "db," + dir.path() + "/ehr/clinic.db,file " + dir.path() + "/ehr/config.yaml:1\n"
        "user,nurse1,flag --user\n"
        "format,csv,flag --format\n"
        "color,auto,default\n"
        "key_file,,default\n"
        "passphrase_file,,default\n"
        "mrn_system,urn:ehr:mrn,default\n"
        "kdf,interactive,env EHR_KDF\n"
        "care_rules,,default\n"
        "matching,,default\n");
}

TEST_CASE("global options may follow the command") {
  auto r = run_cli({"config", "show", "--format", "ndjson", "--db", "x.db"});
  CHECK(r.code == 0);
  CHECK(r.out.rfind("{\"key\":\"db\",\"value\":\"x.db\",\"origin\":\"flag --db\"}\n", 0) == 0);
}

TEST_CASE("output defaults to table on a terminal and json otherwise") {
  ehr::testing::CliOptions tty;
  tty.out_tty = true;
  tty.env = {{"NO_COLOR", "1"}};
  CHECK(run_cli({"config", "show"}, tty).out.rfind("KEY  ", 0) == 0);
  CHECK(run_cli({"config", "show"}).out.rfind("[\n  {", 0) == 0);
}

TEST_CASE("a broken config file exits 78 naming the file and line") {
  ehr::testing::TempDir dir;
  std::string f = dir.write("ehr/config.yaml", "db: x.db\nformat: xml\n");
  ehr::testing::CliOptions o;
  o.env = {{"XDG_CONFIG_HOME", dir.path()}};
  auto r = run_cli({"config", "show"}, o);
  CHECK(r.code == 78);
  CHECK(r.out.empty());
  CHECK(r.err == "ehr: error: " + f +
                     ": line 2, column 9: \"format\" must be one of auto, table, json, ndjson, "
                     "csv, yaml, bundle; got \"xml\"\n");
}

TEST_CASE("a missing --config file exits 66") {
  auto r = run_cli({"--config", "/nonexistent/c.yaml", "config", "show"});
  CHECK(r.code == 66);
  CHECK(r.err == "ehr: error: cannot read config file /nonexistent/c.yaml\n");
}

TEST_CASE("errors are red only when colour is on") {
  ehr::testing::CliOptions o;
  o.err_tty = true;
  auto coloured = run_cli({"--bogus"}, o);
  CHECK(coloured.err.rfind("\x1b[31m\x1b[1mehr: error:\x1b[0m\x1b[0m ", 0) == 0);
  o.env = {{"NO_COLOR", "1"}};
  CHECK(run_cli({"--bogus"}, o).err.rfind("ehr: error: ", 0) == 0);
}

}
