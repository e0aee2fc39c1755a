// The access decision point: every operation on records asks decide() first.
//
// This is the minimal rule the record model ships with: the admin, physician
// and nurse roles may do everything, every other role nothing. The access
// rules issue replaces it with the full YAML policy; callers do not change.

#ifndef EHR_CORE_ACCESS_H_
#define EHR_CORE_ACCESS_H_

#include <string>
#include <string_view>

#include "ehr/status.h"
#include "session_impl.h"

namespace ehr {

enum class Action { kRead, kSearch, kCreate, kUpdate, kRetract, kPurge, kExport, kImport, kAuditRead, kAdmin };

// "read", "search", "create", ... as in the policy and the audit trail.
std::string_view action_name(Action a);

struct Decision {
  bool allowed = false;
  std::string rule;  // which rule decided ("role physician", "default deny")
};

Decision decide(const SessionImpl& s, Action action, std::string_view type, std::string_view patient);

// decide(), and on a denial: an audit entry (outcome "denied", written at
// once) and kAccessDenied "user U (roles: R) may not <action> <type>".
Status authorize(SessionImpl& s, Action action, std::string_view type, std::string_view patient);

}  // namespace ehr

#endif  // EHR_CORE_ACCESS_H_
