// ehr key list: the active key slots (no key material).
#include "commands.h"
#include "slot_rows.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_key_list(Context& ctx) {
  auto store = open_store(ctx);
  if (!store.ok()) return ctx.fail(store.error());
  auto slots = store->list_slots();
  if (!slots.ok()) return ctx.fail(slots.error());
  ctx.print_rows(slot_rows(*slots), slot_columns());
  return 0;
}

}  // namespace

void setup_key_list(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Examples:\n"
      "  ehr key list\n"
      "  ehr key list --format csv");
  run = run_key_list;
}

}  // namespace ehr::cli
