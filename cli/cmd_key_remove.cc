// ehr key remove SLOT: delete a key slot.
#include <fmt/format.h>

#include "commands.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_key_remove(Context& ctx, int slot) {
  auto store = open_store(ctx);
  if (!store.ok()) return ctx.fail(store.error());
  Status s = store->remove_slot(slot);
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
      "Examples:\n"
      "  ehr key remove 3\n"
      "  ehr key remove 3 && ehr db rotate-key");
  run = [slot](Context& ctx) { return run_key_remove(ctx, *slot); };
}

}  // namespace ehr::cli
