// The exit codes of ehr: the one table every command and man page follows
// (DESIGN.md section 11), and the one function mapping core errors onto it.

#ifndef EHR_CLI_EXIT_CODES_H_
#define EHR_CLI_EXIT_CODES_H_

#include "ehr/status.h"

namespace ehr::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitNoMatch = 1,       // a lookup found nothing (like grep)
  kExitFindings = 3,      // completed with findings: care alerts, import rejects
  kExitUsage = 64,        // bad command line (every CLI11 parse error)
  kExitDataErr = 65,      // bad input data, failed validation, tampered or corrupt file
  kExitNoInput = 66,      // input or database missing
  kExitInternal = 70,     // internal error (a bug; please report it)
  kExitCantCreate = 73,   // cannot create output
  kExitIoErr = 74,        // I/O error
  kExitTempFail = 75,     // busy or locked, retry later
  kExitNoPerm = 77,       // wrong passphrase or key, or access denied
  kExitConfig = 78,       // bad configuration or policy
  kExitInterrupted = 130, // interrupted (SIGINT)
};

// The exit code for a core error. Total over ErrorCode.
int exit_code_for(ErrorCode code);

}  // namespace ehr::cli

#endif  // EHR_CLI_EXIT_CODES_H_
