// What every command's run function receives: the streams, the effective
// configuration, the output format and the diagnostic helpers.
//
// Diagnostics go to stderr as "ehr: error: ...", "ehr: warning: ...",
// "ehr: hint: ..." (lower case, no final period); data goes to stdout only.

#ifndef EHR_CLI_CONTEXT_H_
#define EHR_CLI_CONTEXT_H_

#include <optional>
#include <string>
#include <string_view>

#include "ehr/config.h"
#include "ehr/json.h"
#include "ehr/seal.h"
#include "ehr/status.h"
#include "io.h"
#include "output.h"
#include "terminal.h"

namespace ehr::cli {

class Context {
 public:
  Context(Io& io, Config config, Format format, bool quiet, bool no_input, bool recovery = false);

  Io& io() { return io_; }
  std::ostream& out() { return io_.out; }
  const Config& config() const { return config_; }
  Format format() const { return format_; }
  bool quiet() const { return quiet_; }
  bool no_input() const { return no_input_; }
  // --recovery: the caller's secret is a recovery code, not a passphrase.
  bool recovery() const { return recovery_; }
  // --purpose (a purpose name of ehr/audit.h; "" when not given) and
  // --recipient ("" when nobody outside the organisation receives the data).
  const std::string& purpose() const { return purpose_; }
  const std::string& recipient() const { return recipient_; }
  // When --recipient named a recipient key file (ehr key new --recipient):
  // its key, whose label is recipient(); exports are sealed to it.
  const std::optional<RecipientKey>& recipient_key() const { return recipient_key_; }
  void set_recipient_key(RecipientKey key) { recipient_key_ = std::move(key); }
  void set_purpose(std::string purpose, std::string recipient) {
    purpose_ = std::move(purpose);
    recipient_ = std::move(recipient);
  }

  // "ehr: error: <message>" (always shown).
  void error(std::string_view message);
  // "ehr: warning: <message>" (always shown).
  void warning(std::string_view message);
  // "ehr: hint: <message>" (hidden by --quiet).
  void hint(std::string_view message);
  // "ehr: <message>", an informational line (hidden by --quiet).
  void info(std::string_view message);

  // Queues a hint that fail() prints after the error it goes with.
  void add_hint(std::string message) { pending_hints_.push_back(std::move(message)); }

  // Reports `e` (message, plus a hint where one helps) and returns its exit
  // code: the one place a core Error becomes output and a code.
  int fail(const Error& e);

  // Renders rows or one document to stdout in the chosen format.
  void print_rows(const Json& rows, const std::vector<std::string>& columns);
  void print_document(const Json& doc);
  // Renders documents given as JSON text (render_json_texts). REQUIRES:
  // format() is kJson or kNdjson.
  void print_json_texts(const std::vector<std::string_view>& texts);

 private:
  Io& io_;
  Config config_;
  Format format_;
  bool quiet_;
  bool no_input_;
  bool recovery_;
  std::string purpose_;
  std::string recipient_;
  std::optional<RecipientKey> recipient_key_;
  Style err_style_;
  RenderOptions render_;
  std::vector<std::string> pending_hints_;
};

// Prints "ehr: error: <message>" to `io.err` before a Context exists (parse
// and configuration errors).
void print_error(Io& io, std::string_view message, bool color);
void print_hint(Io& io, std::string_view message, bool color);

}  // namespace ehr::cli

#endif  // EHR_CLI_CONTEXT_H_
