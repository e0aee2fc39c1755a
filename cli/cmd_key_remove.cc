// ehr key remove SLOT: delete a key slot.
#include <fmt/format.h>

#include "commands.h"
#include "ehr/users.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_key_remove(Context& ctx, int slot) {
  auto session = open_session(ctx);
  if (!session.ok()) return ctx.fail(session.error());
  Status s = remove_key(*session, slot);
  if (!s.ok()) return ctx.fail(s.error());
  ctx.info(fmt::format("removed key slot {}", slot));
  ctx.hint("copies of the file made before still open with that secret; "
           "'ehr db rotate-key' revokes it against them");
  return 0;
}

}  // namespace

void setup_key_remove(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto slot = std::make_shared<int>(-1);
  cmd.add_option("SLOT", *slot, "index of the slot to remove (see ehr key list)")
      ->required()
      ->check(CLI::Range(0, 7));
  cmd.footer(
      "Your own slots are yours to remove; anyone else's need the admin permission on Key. The\n"
      "last slot of the last enabled admin stays.\n\n"
      "Examples:\n"
      "  ehr key remove 3\n"
      "  ehr key remove 3 && ehr db rotate-key");
  run = [slot](Context& ctx) { return run_key_remove(ctx, *slot); };
}

}  // namespace ehr::cli
