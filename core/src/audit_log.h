// The audit writer: one row per operation on records, in the operation's
// transaction. No clinical content: ids, actions, outcomes, counts only.
// (The tamper-evident chain over these rows comes with the audit issue.)

#ifndef EHR_CORE_AUDIT_LOG_H_
#define EHR_CORE_AUDIT_LOG_H_

#include <string>

#include "ehr/status.h"
#include "session_impl.h"

namespace ehr {

struct AuditRecord {
  std::string action;      // "read", "create", ...
  std::string outcome;     // "ok", "denied", "not-found", "error"
  std::string patients;    // space-separated patient ids
  std::string resources;   // space-separated Type/id[/_history/v]
  std::string query_hash;  // for searches: BLAKE2b of the normalised query
  std::int64_t count = 0;  // resources returned or written
  std::string detail;      // resource type or other non-clinical detail
};

// Appends one audit row with the session's user, roles, purpose and clock.
Status write_audit(SessionImpl& s, const AuditRecord& r);

}  // namespace ehr

#endif  // EHR_CORE_AUDIT_LOG_H_
