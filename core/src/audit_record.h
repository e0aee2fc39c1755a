// One audit entry as the operations of core describe it; audit_log.h writes
// it with the session's user, roles, purpose and clock.

#ifndef EHR_CORE_AUDIT_RECORD_H_
#define EHR_CORE_AUDIT_RECORD_H_

#include <cstdint>
#include <string>

namespace ehr {

struct AuditRecord {
  std::string action;      // "read", "create", ...
  std::string outcome;     // "ok", "denied", "not-found", "error"
  std::string patients;    // space-separated patient ids
  std::string resources;   // space-separated Type/id[/_history/v]
  std::string query_hash;  // for searches: BLAKE2b of the normalised query
  std::int64_t count = 0;  // resources returned or written
  std::string detail;      // resource type or other non-clinical detail
  bool emergency = false;  // under break-the-glass (also set for patients read so in the session)
  // For entries about someone other than the session's user (a failed open
  // by a claimed user name): that name, with no roles. "" = the session's user.
  std::string as_user{};
};

}  // namespace ehr

#endif  // EHR_CORE_AUDIT_RECORD_H_
