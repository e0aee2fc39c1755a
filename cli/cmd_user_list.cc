// ehr user list: every user, their roles, status and key slots.
#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"
#include "user_rows.h"

namespace ehr::cli {

namespace {

int run_user_list(Context& ctx) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto users = list_users(*session);
  if (!users.ok()) return ctx.fail(users.error());
  Json rows = Json::array();
  for (const auto& u : *users) rows.push_back(user_row(u));
  ctx.print_rows(rows, user_columns());
  return 0;
}

}  // namespace

void setup_user_list(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Needs the admin permission on User.\n\n"
      "Examples:\n"
      "  ehr user list\n"
      "  ehr user list --format csv > users.csv");
  run = run_user_list;
}

}  // namespace ehr::cli
