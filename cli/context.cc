// Diagnostics and rendering helpers shared by all commands (context.h).
#include "context.h"

#include <ostream>

#include "exit_codes.h"

namespace ehr::cli {

Context::Context(Io& io, Config config, Format format, bool quiet, bool no_input, bool recovery)
    : io_(io), config_(std::move(config)), format_(format), quiet_(quiet), no_input_(no_input),
      recovery_(recovery) {
  const std::string& color = config_.get("color");
  err_style_.on = use_color(color, io_.err_tty, io_);
  render_.color = use_color(color, io_.out_tty, io_);
}

void print_error(Io& io, std::string_view message, bool color) {
  Style s{color};
  io.err << s.red(s.bold("ehr: error:")) << ' ' << message << '\n' << std::flush;
}

void print_hint(Io& io, std::string_view message, bool color) {
  Style s{color};
  io.err << s.dim("ehr: hint:") << ' ' << message << '\n' << std::flush;
}

void Context::error(std::string_view message) { print_error(io_, message, err_style_.on); }

void Context::warning(std::string_view message) {
  io_.err << err_style_.yellow("ehr: warning:") << ' ' << message << '\n' << std::flush;
}

void Context::hint(std::string_view message) {
  if (!quiet_) print_hint(io_, message, err_style_.on);
}

void Context::info(std::string_view message) {
  if (!quiet_) io_.err << "ehr: " << message << '\n' << std::flush;
}

int Context::fail(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kAccessDenied:
      error("access denied: " + e.message());
      break;
    case ErrorCode::kInternal:
      error("internal error: " + e.message());
      hint("this is a bug in ehr; please report it with the command you ran");
      break;
    default:
      error(e.message());
  }
  if (e.code() == ErrorCode::kAuthFailed && pending_hints_.empty())  // else the caller knows better
    hint("check --user, and --key-file or --passphrase-file (or EHR_KEY_FILE, EHR_PASSPHRASE_FILE)");
  // Not after "<db> was replaced while this command waited (ehr db
  // rotate-key); run it again", which says what to do.
  if (e.code() == ErrorCode::kBusy && !e.message().ends_with("; run it again"))
    hint("another ehr process holds the lock; retry later");
  if (e.code() == ErrorCode::kIoError && e.message().find(": the database is read-only") != std::string::npos)
    hint("ehr writes an audit entry for every command and keeps a -wal and -shm beside the database, "
         "so even db info and db check need write access; to inspect a read-only backup, copy it somewhere writable");
  for (const auto& h : pending_hints_) hint(h);
  pending_hints_.clear();
  return exit_code_for(e.code());
}

void Context::print_rows(const Json& rows, const std::vector<std::string>& columns) {
  render_rows(io_.out, rows, columns, format_, render_);
  io_.out.flush();
}

void Context::print_json_texts(const std::vector<std::string_view>& texts) {
  render_json_texts(io_.out, texts, format_);
  io_.out.flush();
}

void Context::print_document(const Json& doc) {
  render_document(io_.out, doc, format_, render_);
  io_.out.flush();
}

}  // namespace ehr::cli
