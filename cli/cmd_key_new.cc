// ehr key new -o FILE: write a new random key file (0600, never overwrites);
// with --recipient, a recipient key pair: FILE (the identity) and FILE.pub.
#include <unistd.h>

#include <fmt/format.h>

#include "commands.h"
#include "ehr/files.h"
#include "ehr/seal.h"
#include "ehr/store.h"
#include "secret_input.h"

namespace ehr::cli {

namespace {

struct KeyNewOptions {
  std::string out;
  bool recipient = false;
  std::string label;
};

// A recipient key pair: the identity in `out` (0600) and its public key in
// out.pub (0644), both new; neither is left alone when the other fails.
int run_key_new_recipient(Context& ctx, const KeyNewOptions& o) {
  if (o.out == "-")
    return ctx.fail(Error::invalid_argument("--recipient writes two files; name them with -o NAME, not -o -"));
  std::string label = o.label;
  if (label.empty()) {
    auto slash = o.out.find_last_of('/');
    label = slash == std::string::npos ? o.out : o.out.substr(slash + 1);
  }
  if (!valid_recipient_label(label))
    return ctx.fail(Error::invalid_argument(
        "--label must be 1 to 200 characters without control characters or surrounding spaces"));
  std::string pub_path = o.out + ".pub";
  for (const auto& p : {o.out, pub_path})
    if (path_exists(p)) return ctx.fail(Error::already_exists(fmt::format("{} exists; a key file is never overwritten", p)));
  Identity id = Identity::generate(label);
  std::string secret_text = id.file_text();
  Status s = write_new_file(o.out, secret_text, 0600);
  wipe(secret_text);
  if (!s.ok()) return ctx.fail(s.error());
  s = write_new_file(pub_path, id.recipient().file_text(), 0644);
  if (!s.ok()) {
    ::unlink(o.out.c_str());
    return ctx.fail(s.error());
  }
  ctx.info(fmt::format("wrote the identity {} (mode 0600, keep it secret) and the recipient key {} "
                       "(label \"{}\"); give {} to the sender: ehr --recipient {} export ...",
                       o.out, pub_path, label, pub_path, pub_path));
  return 0;
}

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
  auto o = std::make_shared<KeyNewOptions>();
  cmd.add_option("-o,--output", o->out, "the key file to create (must not exist), or - for stdout")
      ->required()
      ->type_name("FILE");
  cmd.add_flag("--recipient", o->recipient,
               "make a recipient key pair for encrypted hand-over instead: FILE (the identity, "
               "secret) and FILE.pub (the public key to give senders)");
  cmd.add_option("--label", o->label,
                 "with --recipient: the receiving party's name, stored in FILE.pub and recorded as "
                 "the recipient of disclosures to it [default: FILE's base name]")
      ->type_name("TEXT");
  cmd.footer(
      "A key file holds 32 random bytes as 64 hexadecimal digits. Opening with it needs no\n"
      "key derivation, which suits cron jobs; it also serves as a signing key (ehr audit\n"
      "checkpoint --signing-key, ehr export --sign). Keep it mode 0600.\n\n"
      "With --recipient: an X25519 key pair for sealed exports. FILE (mode 0600) is the\n"
      "identity that opens them (ehr import --identity FILE); FILE.pub holds the public key\n"
      "and the label, and is what the sending facility passes as ehr --recipient FILE.pub.\n\n"
      "Examples:\n"
      "  ehr key new -o /etc/ehr/export.key\n"
      "  ehr key new -o - | vault kv put secret/ehr key=-\n"
      "  ehr key new --recipient --label 'St. Elsewhere Hospital' -o elsewhere");
  run = [o](Context& ctx) {
    if (!o->recipient && !o->label.empty())
      return ctx.fail(Error::invalid_argument("--label goes with --recipient"));
    return o->recipient ? run_key_new_recipient(ctx, *o) : run_key_new(ctx, o->out);
  };
}

}  // namespace ehr::cli
