// ehr policy show: the access policy in force, as YAML.
#include <fmt/format.h>

#include <optional>

#include "commands.h"
#include "ehr/access.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_policy_show(Context& ctx, std::optional<std::int64_t> version) {
  if (version && *version < 0) return ctx.fail(Error::invalid_argument("--version must be 0 or more"));
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  PolicyVersion shown;
  if (!version) {
    auto p = current_policy(*session);
    if (!p.ok()) return ctx.fail(p.error());
    shown = std::move(*p);
  } else {
    auto all = policy_versions(*session);
    if (!all.ok()) return ctx.fail(all.error());
    bool found = false;
    for (auto& v : *all)
      if (v.version == *version) {
        shown = std::move(v);
        found = true;
      }
    if (!found) return ctx.fail(Error::not_found(fmt::format("no policy version {}", *version)));
  }
  ctx.out() << shown.text;
  if (!shown.text.empty() && shown.text.back() != '\n') ctx.out() << '\n';
  ctx.out() << std::flush;
  ctx.info(shown.version == 0 ? std::string("the built-in policy (nothing applied yet)")
                              : fmt::format("policy version {}, applied {} by {} from {}", shown.version,
                                            shown.installed, shown.installed_by, shown.source));
  return 0;
}

}  // namespace

void setup_policy_show(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto version = std::make_shared<std::optional<std::int64_t>>();
  cmd.add_option("--version", *version, "an earlier version (see ehr policy list)")->type_name("N");
  cmd.footer(
      "Prints the policy text exactly as applied (YAML; --format does not change it), so it\n"
      "can be edited and applied again. Any user may read it.\n\n"
      "Examples:\n"
      "  ehr policy show > policy.yaml\n"
      "  ehr policy show --version 1 | diff - policy.yaml");
  run = [version](Context& ctx) { return run_policy_show(ctx, *version); };
}

}  // namespace ehr::cli
