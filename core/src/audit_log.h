// The audit writer: one row per operation on records, in the operation's
// transaction. No clinical content: ids, actions, outcomes, counts only.
// The hash chain over these rows is audit_chain.h's.

#ifndef EHR_CORE_AUDIT_LOG_H_
#define EHR_CORE_AUDIT_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ehr/status.h"
#include "session_impl.h"

namespace ehr {

// Appends one audit row with the session's user, roles, purpose and clock.
Status write_audit(SessionImpl& s, const AuditRecord& r);

// The entry `r` would be if `s` wrote it now (time, user, roles, purpose,
// emergency flag, tool, recipient); seq 0 and no hash.
AuditEntry audit_entry_of(SessionImpl& s, const AuditRecord& r);

// Appends `e` as it is (its time, user and roles kept: an entry deferred
// from another session, deferred_audit.h) with the next seq and its chain
// hash. REQUIRES: inside a write transaction of `s`.
Status append_audit_entry(SessionImpl& s, AuditEntry e);

// The detail of the entry (action "export", outcome "error") written after
// an export was audited but could not be put in place: "bulk export not
// delivered: entries FIRST to LAST record it", naming the run's entries.
std::string undelivered_export_detail(std::int64_t first, std::int64_t last);
// The inverse: {FIRST, LAST} of such a detail; nullopt for any other text.
std::optional<std::pair<std::int64_t, std::int64_t>> undelivered_export_range(std::string_view detail);

}  // namespace ehr

#endif  // EHR_CORE_AUDIT_LOG_H_
