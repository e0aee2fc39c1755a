// ehr user grant NAME --role R...: add roles to a user.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct UserGrantOptions {
  std::string name;
  std::vector<std::string> roles;
};

int run_user_grant(Context& ctx, const UserGrantOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  Status s = grant_roles(*session, o.name, o.roles);
  if (!s.ok()) return ctx.fail(s.error());
  std::string roles;
  for (const auto& r : o.roles) roles += (roles.empty() ? "" : " ") + r;
  ctx.info(fmt::format("granted {} to {}", roles, o.name));
  return 0;
}

}  // namespace

void setup_user_grant(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<UserGrantOptions>();
  cmd.add_option("NAME", o->name, "the user")->required();
  cmd.add_option("--role", o->roles, "a role (repeatable)")->required()->type_name("ROLE");
  cmd.footer(
      "Needs the admin permission on User. Roles are those of the policy in force (ehr policy show).\n\n"
      "Examples:\n"
      "  ehr user grant alice --role physician\n"
      "  ehr user grant carol --role nurse --role pharmacist");
  run = [o](Context& ctx) { return run_user_grant(ctx, *o); };
}

}  // namespace ehr::cli
