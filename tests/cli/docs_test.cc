// Documentation meta-tests: every registered command has --help text with an
// example and a man page entry, every man page lists the exit codes, and
// ehr-export(1)'s table of type filter parameters is the one in core.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app.h"
#include "ehr/type_filter.h"

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string man_dir() { return std::string(EHR_SOURCE_DIR) + "/man"; }

// The EXIT STATUS section must name every code of cli/exit_codes.h.
void check_exit_status(const std::string& page, const std::string& text) {
  CAPTURE(page);
  auto pos = text.find(".SH \"EXIT STATUS\"");
  REQUIRE(pos != std::string::npos);
  std::string section = text.substr(pos, text.find("\n.SH", pos + 1) - pos);
  for (const char* code : {"0", "1", "3", "64", "65", "66", "70", "73", "74", "75", "77", "78", "130"})
    CHECK_MESSAGE(section.find(std::string(".B ") + code + "\n") != std::string::npos, code);
}

}  // namespace

TEST_SUITE("docs") {

TEST_CASE("every command has help with an example and a man page entry") {
  ehr::cli::GlobalOptions g;
  auto tree = ehr::cli::build_app(g);
  std::string ehr1 = read_file(man_dir() + "/ehr.1");
  REQUIRE_FALSE(ehr1.empty());
  const auto& table = ehr::cli::command_table();
  REQUIRE(table.size() == tree.commands.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const auto& spec = table[i];
    std::string path = std::string("ehr ") + spec.noun + (spec.verb ? std::string(" ") + spec.verb : "");
    CAPTURE(path);
    std::string footer = tree.commands[i].first->get_footer();
    CHECK(footer.find("Examples:\n  " + path) != std::string::npos);
    std::string page = man_dir() + "/ehr-" + spec.noun + ".1";
    std::string text = read_file(page);
    REQUIRE_MESSAGE(!text.empty(), page);
    if (spec.verb != nullptr) CHECK(text.find(std::string(".SS \"") + spec.verb + "\"") != std::string::npos);
    CHECK(text.find(".SH EXAMPLES") != std::string::npos);
    CHECK(ehr1.find(".B " + path + "\n") != std::string::npos);
    check_exit_status(page, text);
  }
  check_exit_status("ehr.1", ehr1);
}

TEST_CASE("every man page carries the shared EXIT STATUS text unchanged (scripts/gen-man)") {
  std::string inc = read_file(man_dir() + "/exit-status.inc");
  REQUIRE_FALSE(inc.empty());
  for (const auto& e : std::filesystem::directory_iterator(man_dir())) {
    if (e.path().extension() != ".1") continue;
    CAPTURE(e.path().filename().string());
    std::string text = read_file(e.path());
    const std::string begin = ".\\\" BEGIN EXIT STATUS\n", end = ".\\\" END EXIT STATUS";
    auto b = text.find(begin);
    auto x = text.find(end);
    REQUIRE(b != std::string::npos);
    REQUIRE(x != std::string::npos);
    CHECK(text.substr(b + begin.size(), x - b - begin.size()) == inc);
  }
}

TEST_CASE("ehr-export(1) lists every type filter parameter of every type (core/src/type_filter.cc)") {
  std::string text = read_file(man_dir() + "/ehr-export.1");
  auto between = [&](const std::string& begin, const std::string& end) {
    auto b = text.find(begin);
    auto e = text.find(end);
    REQUIRE(b != std::string::npos);
    REQUIRE(e != std::string::npos);
    return text.substr(b + begin.size(), e - b - begin.size());
  };
  std::string table, status_only;
  for (const auto& t : ehr::type_filter_params()) {
    if (t.params == std::vector<std::string>{"status (status)"}) {
      status_only += (status_only.empty() ? "" : ", ") + t.type;
      continue;
    }
    table += ".TP 26\n.B " + t.type + "\n";
    for (std::size_t i = 0; i < t.params.size(); ++i) table += (i == 0 ? "" : ", ") + t.params[i];
    table += "\n";
  }
  CHECK(between(".\\\" BEGIN TYPE FILTER TABLE\n", ".\\\" END TYPE FILTER TABLE") == table);
  CHECK(between(".\\\" BEGIN STATUS TYPES\n", ".\\\" END STATUS TYPES") == status_only + ".\n");
}

TEST_CASE("every man page in man/ belongs to a registered command group") {
  std::set<std::string> nouns;
  for (const auto& c : ehr::cli::command_table()) nouns.insert(c.noun);
  for (const auto& e : std::filesystem::directory_iterator(man_dir())) {
    std::string name = e.path().filename().string();
    if (name == "ehr.1" || e.path().extension() != ".1") continue;
    CAPTURE(name);
    REQUIRE(name.rfind("ehr-", 0) == 0);
    CHECK(nouns.count(name.substr(4, name.size() - 6)) == 1);
  }
}

}
