// ehr user revoke NAME --role R...: take roles from a user.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

struct UserRevokeOptions {
  std::string name;
  std::vector<std::string> roles;
};

int run_user_revoke(Context& ctx, const UserRevokeOptions& o) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  Status s = revoke_roles(*session, o.name, o.roles);
  if (!s.ok()) return ctx.fail(s.error());
  std::string roles;
  for (const auto& r : o.roles) roles += (roles.empty() ? "" : " ") + r;
  ctx.info(fmt::format("revoked {} from {}", roles, o.name));
  return 0;
}

}  // namespace

void setup_user_revoke(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto o = std::make_shared<UserRevokeOptions>();
  cmd.add_option("NAME", o->name, "the user")->required();
  cmd.add_option("--role", o->roles, "a role (repeatable)")->required()->type_name("ROLE");
  cmd.footer(
      "Needs the admin permission on User. A user keeps at least one role (disable them\n"
      "instead), and the last enabled admin keeps admin.\n\n"
      "Examples:\n"
      "  ehr user revoke alice --role physician\n"
      "  ehr user revoke carol --role pharmacist");
  run = [o](Context& ctx) { return run_user_revoke(ctx, *o); };
}

}  // namespace ehr::cli
