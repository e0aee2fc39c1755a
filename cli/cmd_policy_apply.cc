// ehr policy apply FILE: validate and install a new version of the policy.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/access.h"
#include "json_input.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_policy_apply(Context& ctx, const std::string& file, bool check_only) {
  auto text = read_text_input(ctx, file);
  if (!text.ok()) return ctx.fail(text.error());
  std::string source = file == "-" ? "<stdin>" : file;
  if (check_only) {
    auto p = Policy::parse(*text, source);
    if (!p.ok()) return ctx.fail(p.error());
    ctx.info(fmt::format("{} is a valid policy", source));
    return 0;
  }
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto v = apply_policy(*session, *text, source);
  if (!v.ok()) return ctx.fail(v.error());
  ctx.info(fmt::format("applied {} as policy version {}", source, v->version));
  return 0;
}

}  // namespace

void setup_policy_apply(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto file = std::make_shared<std::string>();
  auto dry = std::make_shared<bool>(false);
  cmd.add_option("FILE", *file, "the policy YAML ('-' for stdin)")->required();
  cmd.add_flag("--dry-run", *dry, "only validate FILE; needs no database");
  cmd.footer(
      "Needs the admin permission on Policy. An invalid file exits 78 naming the line and\n"
      "column, and the policy in force stays; so does a file that drops a role some user holds.\n"
      "--dry-run checks the file alone (not against the database's users). The policy format is\n"
      "described in ehr-policy(1) and in the built-in policy's comments.\n\n"
      "Examples:\n"
      "  ehr policy apply --dry-run policy.yaml\n"
      "  ehr policy apply policy.yaml   # after: ehr policy show > policy.yaml; $EDITOR policy.yaml");
  run = [file, dry](Context& ctx) { return run_policy_apply(ctx, *file, *dry); };
}

}  // namespace ehr::cli
