// The error -> exit code table (cli/exit_codes.cc) and the one place that
// prints errors (Context::fail).
#include <doctest/doctest.h>

#include <sstream>

#include "context.h"
#include "exit_codes.h"

using ehr::ErrorCode;
using ehr::cli::exit_code_for;

TEST_SUITE("exit_codes") {

TEST_CASE("every error code maps to its documented exit code") {
  struct Row {
    ErrorCode code;
    int exit;
    const char* name;
  };
  const Row table[] = {
      {ErrorCode::kNotFound, 1, "not-found"},
      {ErrorCode::kInvalidArgument, 64, "invalid-argument"},
      {ErrorCode::kInvalidData, 65, "invalid-data"},
      {ErrorCode::kCorruption, 65, "corruption"},
      {ErrorCode::kConflict, 65, "conflict"},
      {ErrorCode::kNoInput, 66, "no-input"},
      {ErrorCode::kInternal, 70, "internal"},
      {ErrorCode::kAlreadyExists, 73, "already-exists"},
      {ErrorCode::kCantCreate, 73, "cant-create"},
      {ErrorCode::kIoError, 74, "io-error"},
      {ErrorCode::kBusy, 75, "busy"},
      {ErrorCode::kAuthFailed, 77, "auth-failed"},
      {ErrorCode::kAccessDenied, 77, "access-denied"},
      {ErrorCode::kConfig, 78, "config"},
      {ErrorCode::kInterrupted, 130, "interrupted"},
  };
  for (const auto& r : table) {
    CAPTURE(r.name);
    CHECK(exit_code_for(r.code) == r.exit);
    CHECK(ehr::error_code_name(r.code) == r.name);
  }
}

TEST_CASE("fail() prints one error line, a hint where one helps, and returns the code") {
  std::istringstream in;
  std::ostringstream out, err;
  ehr::cli::Io io(in, out, err);
  auto cfg = ehr::resolve_config({});
  REQUIRE(cfg.ok());
  ehr::cli::Context ctx(io, *cfg, ehr::cli::Format::kJson, false, false);

  SUBCASE("access denied is prefixed") {
    CHECK(ctx.fail(ehr::Error::access_denied("physician may not read Patient/p1")) == 77);
    CHECK(err.str() == "ehr: error: access denied: physician may not read Patient/p1\n");
  }
  SUBCASE("wrong key gets a hint") {
    CHECK(ctx.fail(ehr::Error::auth_failed("wrong passphrase or key")) == 77);
    CHECK(err.str() ==
          "ehr: error: wrong passphrase or key\n"
          "ehr: hint: check --user, and --key-file or --passphrase-file (or EHR_KEY_FILE, "
          "EHR_PASSPHRASE_FILE)\n");
  }
  SUBCASE("internal errors ask for a report") {
    CHECK(ctx.fail(ehr::Error::internal("invariant broken")) == 70);
    CHECK(err.str() ==
          "ehr: error: internal error: invariant broken\n"
          "ehr: hint: this is a bug in ehr; please report it with the command you ran\n");
  }
  CHECK(out.str().empty());
}

}
