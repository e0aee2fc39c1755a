// The audit writer: one row per operation on records, in the operation's
// transaction. No clinical content: ids, actions, outcomes, counts only.
// (The tamper-evident chain over these rows comes with the audit issue.)

#ifndef EHR_CORE_AUDIT_LOG_H_
#define EHR_CORE_AUDIT_LOG_H_

#include <string>

#include "ehr/status.h"
#include "session_impl.h"

namespace ehr {

// Appends one audit row with the session's user, roles, purpose and clock.
Status write_audit(SessionImpl& s, const AuditRecord& r);

}  // namespace ehr

#endif  // EHR_CORE_AUDIT_LOG_H_
