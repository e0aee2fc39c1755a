// ehr care rules: the decision-support rules in force, with their sources,
// versions and effective dates, and the drug class map and lab range table.
#include "care_flags.h"
#include "commands.h"
#include "exit_codes.h"
#include "output.h"

namespace ehr::cli {

namespace {

int run_care_rules(Context& ctx) {
  auto rules = load_care_rules(ctx);
  if (!rules.ok()) return ctx.fail(rules.error());
  Json rows = Json::array();
  auto add = [&](const std::string& name, const std::string& version, bool def, const std::string& effective,
                 const std::string& title, const std::string& source, const std::string& url, const std::string& file) {
    Json r = Json::object();
    r.set("name", Json::string(name));
    r.set("version", Json::string(version));
    r.set("default", Json::boolean(def));
    r.set("effective", Json::string(effective));
    r.set("title", Json::string(title));
    r.set("source", Json::string(source));
    r.set("url", text_or_null(url));
    r.set("file", Json::string(file));
    rows.push_back(std::move(r));
  };
  for (const auto& r : rules->rules)
    add(r.id, r.version, r.is_default, r.effective, r.title, r.source, r.url, r.file);
  add("drug-classes", rules->drugs.version, true, rules->drugs.effective,
      "drug class map of the medication-allergy check", rules->drugs.source, "", rules->drugs.file);
  add("lab-ranges", rules->labs.version, true, rules->labs.effective, "reference ranges of the lab flags",
      rules->labs.source, "", rules->labs.file);
  ctx.print_rows(rows, {"name", "version", "default", "effective", "title", "source"});
  return kExitOk;
}

}  // namespace

void setup_care_rules(CLI::App& cmd, ConfigFlags& flags, CommandRun& run) {
  add_config_flag(cmd, flags, "care_rules");
  cmd.footer(
      "default is true for the version `ehr care due` runs unless --rule R@VERSION names\n"
      "another. json, ndjson and yaml also show the url and file. The files come\n"
      "from schemas/care/ (built in) with the care_rules directory laid over them.\n\n"
      "Examples:\n"
      "  ehr care rules\n"
      "  ehr care rules --format yaml\n"
      "  ehr care rules --care-rules /etc/ehr/care");
  run = run_care_rules;
}

}  // namespace ehr::cli
