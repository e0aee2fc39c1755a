// ehr key new -o FILE: write a new random key file (0600, never overwrites).
#include <fmt/format.h>

#include "commands.h"
#include "ehr/files.h"
#include "ehr/store.h"
#include "secret_input.h"

namespace ehr::cli {

namespace {

int run_key_new(Context& ctx, const std::string& out) {
  Secret key = new_key_file_bytes();
  std::string text = key_file_text(
      std::string(reinterpret_cast<const char*>(key.bytes().data()), key.bytes().size()));
  if (out == "-") {
    if (ctx.io().out_tty) {
      wipe(text);
      return ctx.fail(Error::invalid_argument(
          "refusing to print a key to the terminal; redirect stdout or use -o FILE"));
    }
    ctx.out() << text << std::flush;
    wipe(text);
    return 0;
  }
  Status s = write_new_file(out, text, 0600);
  wipe(text);
  if (!s.ok()) return ctx.fail(s.error());
  ctx.info(fmt::format("wrote a new key file to {} (mode 0600); add it to a user with "
                       "'ehr key add --new-key-file {}'", out, out));
  return 0;
}

}  // namespace

void setup_key_new(CLI::App& cmd, ConfigFlags&, CommandRun& run) {
  auto out = std::make_shared<std::string>();
  cmd.add_option("-o,--output", *out, "the key file to create (must not exist), or - for stdout")
      ->required()
      ->type_name("FILE");
  cmd.footer(
      "A key file holds 32 random bytes as 64 hexadecimal digits. Opening with it needs no\n"
      "key derivation, which suits cron jobs. Keep it mode 0600.\n\n"
      "Examples:\n"
      "  ehr key new -o /etc/ehr/export.key\n"
      "  ehr key new -o - | vault kv put secret/ehr key=-");
  run = [out](Context& ctx) { return run_key_new(ctx, *out); };
}

}  // namespace ehr::cli
