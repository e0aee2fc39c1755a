// ehr db info: format facts and key slots of the database (no key material).
#include "commands.h"
#include "slot_rows.h"
#include "store_open.h"

namespace ehr::cli {

namespace {

int run_db_info(Context& ctx) {
  auto store = open_store(ctx);
  if (!store.ok()) return ctx.fail(store.error());
  auto info = store->info();
  if (!info.ok()) return ctx.fail(info.error());
  Json doc = Json::object();
  doc.set("path", Json::string(store->path()));
  doc.set("format", Json::number(int64_t{info->format_version}));
  doc.set("page_size", Json::number(int64_t{info->page_size}));
  doc.set("reserve", Json::number(int64_t{info->reserve}));
  doc.set("cipher", Json::string(info->cipher));
  doc.set("file_id", Json::string(info->file_id));
  doc.set("generation", Json::number(static_cast<int64_t>(info->generation)));
  doc.set("file_size", Json::number(static_cast<int64_t>(info->file_size)));
  doc.set("page_count", Json::number(static_cast<int64_t>(info->page_count)));
  doc.set("schema_version", Json::number(info->schema_version));
  Json slots = slot_rows(info->slots);
  if (ctx.format() == Format::kTable) {
    ctx.print_document(doc);
    ctx.out() << '\n';
    ctx.print_rows(slots, slot_columns());
    return 0;
  }
  doc.set("slots", std::move(slots));
  ctx.print_document(doc);
  return 0;
}

}  // namespace

void setup_db_info(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  cmd.footer(
      "Examples:\n"
      "  ehr db info\n"
      "  ehr db info --format json | jq .slots");
  run = run_db_info;
}

}  // namespace ehr::cli
