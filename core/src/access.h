// The decision point inside core: every operation on records, users, keys,
// care teams and the policy asks authorize() (or decide(), for filtering
// results) with the facts of its target. Decisions come from the session's
// policy (ehr/access.h); the care-team relation and break-the-glass grants
// come from the database.

#ifndef EHR_CORE_ACCESS_H_
#define EHR_CORE_ACCESS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/access.h"
#include "ehr/json.h"
#include "ehr/status.h"
#include "session_impl.h"

namespace ehr {

// What is being acted on.
struct Target {
  std::string type;      // resource type or User, Key, Policy, CareTeam, AuditEvent
  std::string patient;   // the patient the record belongs to; "" for none
  std::string security;  // meta.security codes, space-separated
  std::string code;      // main code SYSTEM|CODE, "" for none
};

// The decision for the session's user doing `action` on `target`. Looks up
// the care team and active emergency grants; when a read (only a read: a
// search never breaks the glass) relies on break-the-glass requested by the
// session (--emergency) and no grant is active yet, starts one (an `emergency` row and an audit entry) for the
// policy's emergency_minutes. With `start_grant` false no grant is started
// (an active one still counts): for the earlier versions a history shows,
// which may have belonged to another patient. Errors: storage errors only.
Result<Decision> decide(SessionImpl& s, Action action, const Target& target, bool start_grant = true);

// decide(), and on a denial: an audit entry (outcome "denied"; written even
// when the enclosing transaction rolls back) and kAccessDenied "user U
// (roles: R) may not <action> <type>[ of patient P]: <reason>" (R the roles
// separated by spaces).
Result<Decision> authorize(SessionImpl& s, Action action, const Target& target);

// The ids of the patients `key` names: the patient whose id it is, else
// every patient holding it as an identifier value (MRN), by id; empty when
// none. Reads no clinical content. Errors: storage errors only.
Result<std::vector<std::string>> patients_for_key(SessionImpl& s, const std::string& key);

// The id of the patient named by `key`: its id, else an identifier value
// (MRN) of exactly one patient. Reads no clinical content, so it needs no
// decision; callers authorize what they then do. Errors: kNotFound "no
// patient KEY"; kConflict "KEY identifies N patients; use the patient id";
// either writes record_unfound_patient's entry.
Result<std::string> resolve_patient_key(SessionImpl& s, const std::string& key);

// kConflict "KEY identifies N patients; use the patient id": the error of
// every lookup whose key several patients hold.
Error ambiguous_patient_key(const std::string& key, std::size_t patients);

// Audits a patient lookup by `key` that found no one patient (`matches`
// patients hold it): a read with outcome not-found, the key only as a hash
// (it could be anything typed), written even when the caller's transaction
// rolls back, so that probing which MRNs exist leaves a trace.
void record_unfound_patient(SessionImpl& s, const std::string& key, std::int64_t matches);

// `resource` reduced to the decision's fields (resourceType, id and meta
// always kept), labelled REDACTED in meta.security; unchanged when the
// decision has no field list.
Json apply_fields(const Json& resource, const Decision& d);

}  // namespace ehr

#endif  // EHR_CORE_ACCESS_H_
