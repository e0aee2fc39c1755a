// ehr policy list: every applied version of the access policy.
#include "commands.h"
#include "ehr/access.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_policy_list(Context& ctx) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto all = policy_versions(*session);
  if (!all.ok()) return ctx.fail(all.error());
  Json rows = Json::array();
  for (const auto& v : *all) {
    Json r = Json::object();
    r.set("version", Json::number(v.version));
    r.set("applied", Json::string(v.installed));
    r.set("by", Json::string(v.installed_by));
    r.set("source", Json::string(v.source));
    r.set("digest", Json::string(v.digest));
    r.set("in_force", Json::boolean(&v == &all->back()));
    rows.push_back(std::move(r));
  }
  if (all->empty()) ctx.info("no policy applied: the built-in one is in force");
  ctx.print_rows(rows, {"version", "applied", "by", "source", "in_force"});
  return 0;
}

}  // namespace

void setup_policy_list(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "digest is the BLAKE2b-256 of the text (json, ndjson, yaml show it).\n\n"
      "Examples:\n"
      "  ehr policy list\n"
      "  ehr policy list --format json");
  run = run_policy_list;
}

}  // namespace ehr::cli
