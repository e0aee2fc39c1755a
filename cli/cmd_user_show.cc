// ehr user show [NAME]: one user (default: yourself).
#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"
#include "user_rows.h"

namespace ehr::cli {

namespace {

int run_user_show(Context& ctx, const std::string& name) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  auto u = get_user(*session, name.empty() ? session->user() : name);
  if (!u.ok()) return ctx.fail(u.error());
  ctx.print_document(user_row(*u));
  return 0;
}

}  // namespace

void setup_user_show(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto name = std::make_shared<std::string>();
  cmd.add_option("NAME", *name, "the user (default: yourself)");
  cmd.footer(
      "Anyone may show themself; other users need the admin permission on User.\n\n"
      "Examples:\n"
      "  ehr user show\n"
      "  ehr user show bob --format json");
  run = [name](Context& ctx) { return run_user_show(ctx, *name); };
}

}  // namespace ehr::cli
