// ehr user disable NAME: remove a user's key slots and mark them disabled.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_user_disable(Context& ctx, const std::string& name) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  Status s = disable_user(*session, name);
  if (!s.ok()) return ctx.fail(s.error());
  ctx.info(fmt::format("disabled {}: their key slots are removed", name));
  ctx.hint("copies of the file made before still open with their secrets; "
           "'ehr db rotate-key' revokes them against those too");
  return 0;
}

}  // namespace

void setup_user_disable(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto name = std::make_shared<std::string>();
  cmd.add_option("NAME", *name, "the user to disable")->required();
  cmd.footer(
      "Removes every key slot of the user, so their passphrases and key files no longer open\n"
      "the database; their history and audit entries stay. Refuses to disable yourself or the\n"
      "last enabled admin. 'ehr user enable' gives them a new slot.\n\n"
      "Examples:\n"
      "  ehr user disable bob\n"
      "  ehr user disable bob && ehr db rotate-key");
  run = [name](Context& ctx) { return run_user_disable(ctx, *name); };
}

}  // namespace ehr::cli
