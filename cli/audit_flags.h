// The filter flags `audit show` and `audit export` share.
#ifndef EHR_CLI_AUDIT_FLAGS_H_
#define EHR_CLI_AUDIT_FLAGS_H_

#include <CLI/CLI.hpp>

#include "commands.h"
#include "ehr/audit.h"

namespace ehr::cli {

inline void add_audit_filter_flags(CLI::App& cmd, AuditFilter& f) {
  cmd.add_option("--patient", f.patient, "entries naming this patient (id or MRN)")->type_name("PATIENT");
  cmd.add_option("--user", f.user, "entries of this user")->type_name("USER");
  cmd.add_option("--action", f.action, "entries of this action (read, search, create, emergency, ...)")
      ->type_name("ACTION");
  cmd.add_option("--since", f.since, "at or after T: YYYY, YYYY-MM, YYYY-MM-DD or an instant")
      ->type_name("T");
  cmd.add_option("--until", f.until, "before T (same forms as --since)")->type_name("T");
  cmd.add_flag("--emergency", f.emergency_only, "only entries made under break-the-glass");
  cmd.add_option("--limit", f.limit, "only the newest N entries, still printed oldest first (0: all)")
      ->type_name("N");
}

}  // namespace ehr::cli

#endif  // EHR_CLI_AUDIT_FLAGS_H_
