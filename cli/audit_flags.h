// The filter flags `audit show` and `audit export` share, and the check
// every audit command puts on its filter values.
#ifndef EHR_CLI_AUDIT_FLAGS_H_
#define EHR_CLI_AUDIT_FLAGS_H_

#include <CLI/CLI.hpp>

#include "ehr/audit.h"

namespace ehr::cli {

// Refuses an empty value (64): an audit filter given as "" (a cron line's
// unset variable) must not quietly widen to the whole trail.
inline const CLI::Validator& not_empty() {
  static const CLI::Validator v(
      [](std::string& value) { return value.empty() ? std::string("must not be empty") : std::string(); }, "");
  return v;
}

inline void add_audit_filter_flags(CLI::App& cmd, AuditFilter& f) {
  cmd.add_option("--patient", f.patient, "entries naming this patient (id or MRN)")
      ->type_name("PATIENT")
      ->check(not_empty());
  cmd.add_option("--user", f.user, "entries of this user")->type_name("USER")->check(not_empty());
  cmd.add_option("--action", f.action, "entries of this action (read, search, create, emergency, ...)")
      ->type_name("ACTION")
      ->check(not_empty());
  cmd.add_option("--since", f.since, "at or after T: YYYY, YYYY-MM, YYYY-MM-DD or an instant")
      ->type_name("T")
      ->check(not_empty());
  cmd.add_option("--until", f.until, "before T (same forms as --since)")->type_name("T")->check(not_empty());
  cmd.add_flag("--emergency", f.emergency_only, "only entries made under break-the-glass");
  cmd.add_option("--limit", f.limit, "only the newest N entries, still printed oldest first (0: all)")
      ->type_name("N");
}

}  // namespace ehr::cli

#endif  // EHR_CLI_AUDIT_FLAGS_H_
