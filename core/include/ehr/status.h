// Error values of the ehr core: Error, Status and Result<T>.
//
// Core never throws across its public headers, never prints and never exits.
// Every fallible operation returns a Status (no payload) or a Result<T> (a T
// or an Error). The CLI turns an Error into a message and an exit code in one
// place (cli/exit_codes.h); the ErrorCode set is closed so that mapping is
// total. Result<T> is shaped like std::expected so it can be swapped later.
//
// Thread safety: these are plain values; distinct objects may be used from
// distinct threads without synchronisation.

#ifndef EHR_STATUS_H_
#define EHR_STATUS_H_

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ehr {

// The closed set of failure kinds. Each maps to exactly one exit code in
// cli/exit_codes.h; adding one is a deliberate change to that table and to
// every man page's EXIT STATUS section.
enum class ErrorCode {
  kNotFound,         // a looked-up patient, record, user or slot does not exist
  kInvalidArgument,  // the request itself is malformed (bad flag value, bad id syntax)
  kInvalidData,      // input data fails parsing or validation (JSON, FHIR rules, CSV)
  kCorruption,       // a stored file is damaged or tampered with (page MAC, audit chain)
  kNoInput,          // an input file or the database does not exist or cannot be read
  kAlreadyExists,    // the target of a create already exists (file, id, user)
  kCantCreate,       // an output file or directory cannot be created
  kIoError,          // an operating-system I/O call failed
  kBusy,             // the database or a job is locked by someone else; retry later
  kAuthFailed,       // no key slot opens with the given secret (deliberately vague)
  kAccessDenied,     // the access policy denies the operation
  kConfig,           // configuration or policy file is invalid
  kConflict,         // the operation conflicts with the stored state (version, merge)
  kInterrupted,      // the user interrupted the operation (SIGINT)
  kInternal,         // a bug: an invariant of ehr itself was violated
};

// Returns the stable lower-case name of `code` ("not-found", "access-denied", ...),
// used in JSON error output and tests.
std::string_view error_code_name(ErrorCode code);

// A failure: a code plus a human-readable message. Messages are lower case,
// without a final period, and never contain patient data or secrets.
class Error {
 public:
  Error(ErrorCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Error not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
  static Error invalid_argument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
  static Error invalid_data(std::string m) { return {ErrorCode::kInvalidData, std::move(m)}; }
  static Error corruption(std::string m) { return {ErrorCode::kCorruption, std::move(m)}; }
  static Error no_input(std::string m) { return {ErrorCode::kNoInput, std::move(m)}; }
  static Error already_exists(std::string m) { return {ErrorCode::kAlreadyExists, std::move(m)}; }
  static Error cant_create(std::string m) { return {ErrorCode::kCantCreate, std::move(m)}; }
  static Error io_error(std::string m) { return {ErrorCode::kIoError, std::move(m)}; }
  static Error busy(std::string m) { return {ErrorCode::kBusy, std::move(m)}; }
  static Error auth_failed(std::string m) { return {ErrorCode::kAuthFailed, std::move(m)}; }
  static Error access_denied(std::string m) { return {ErrorCode::kAccessDenied, std::move(m)}; }
  static Error config(std::string m) { return {ErrorCode::kConfig, std::move(m)}; }
  static Error conflict(std::string m) { return {ErrorCode::kConflict, std::move(m)}; }
  static Error interrupted(std::string m) { return {ErrorCode::kInterrupted, std::move(m)}; }
  static Error internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

  ErrorCode code() const { return code_; }
  bool is(ErrorCode c) const { return code_ == c; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "`prefix`: <message>", for adding context
  // (a file name, a field path) while an error travels up.
  Error with_context(std::string_view prefix) const {
    return Error(code_, std::string(prefix) + ": " + message_);
  }

 private:
  ErrorCode code_;
  std::string message_;
};

// Either a T or an Error. Accessing value() of a failed Result (or error() of
// a successful one) is a programming error and aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { check(true); return std::get<0>(v_); }
  const T& value() const& { check(true); return std::get<0>(v_); }
  T&& value() && { check(true); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { check(false); return std::get<1>(v_); }

 private:
  void check(bool want_value) const {
    if (ok() != want_value) std::abort();
  }
  std::variant<T, Error> v_;
};

// Success or an Error, without a payload.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}
  static Status ok_status() { return Status(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // REQUIRES: !ok()
  const Error& error() const {
    if (ok_) std::abort();
    return error_;
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

}  // namespace ehr

// Propagates a failed Status or Result from the enclosing function.
#define EHR_TRY(expr)                                  \
  do {                                                 \
    auto&& ehr_try_r_ = (expr);                        \
    if (!ehr_try_r_.ok()) return ehr_try_r_.error();   \
  } while (0)

#endif  // EHR_STATUS_H_
