// Names of error codes (ehr/status.h).
#include "ehr/status.h"

namespace ehr {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return "not-found";
    case ErrorCode::kInvalidArgument: return "invalid-argument";
    case ErrorCode::kInvalidData: return "invalid-data";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kNoInput: return "no-input";
    case ErrorCode::kAlreadyExists: return "already-exists";
    case ErrorCode::kCantCreate: return "cant-create";
    case ErrorCode::kIoError: return "io-error";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kAuthFailed: return "auth-failed";
    case ErrorCode::kAccessDenied: return "access-denied";
    case ErrorCode::kConfig: return "config";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kInterrupted: return "interrupted";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

}  // namespace ehr
