// Core error -> exit code (exit_codes.h).
#include "exit_codes.h"

namespace ehr::cli {

int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return kExitNoMatch;
    case ErrorCode::kInvalidArgument: return kExitUsage;
    case ErrorCode::kInvalidData: return kExitDataErr;
    case ErrorCode::kCorruption: return kExitDataErr;
    case ErrorCode::kConflict: return kExitDataErr;
    case ErrorCode::kNoInput: return kExitNoInput;
    case ErrorCode::kAlreadyExists: return kExitCantCreate;
    case ErrorCode::kCantCreate: return kExitCantCreate;
    case ErrorCode::kIoError: return kExitIoErr;
    case ErrorCode::kBusy: return kExitTempFail;
    case ErrorCode::kAuthFailed: return kExitNoPerm;
    case ErrorCode::kAccessDenied: return kExitNoPerm;
    case ErrorCode::kConfig: return kExitConfig;
    case ErrorCode::kInterrupted: return kExitInterrupted;
    case ErrorCode::kInternal: return kExitInternal;
  }
  return kExitInternal;
}

}  // namespace ehr::cli
