// Audit rows (audit_log.h).
#include "audit_log.h"

namespace ehr {

Status write_audit(SessionImpl& s, const AuditRecord& r) {
  std::string roles;
  for (const auto& x : s.roles()) roles += (roles.empty() ? "" : " ") + x;
  auto st = s.statement(
      "INSERT INTO audit(time, user, roles, action, outcome, purpose, patients, resources, "
      "query_hash, count, detail, emergency) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st.ok()) return st.error();
  store::Statement& q = **st;
  EHR_TRY(q.bind_text(1, s.now()));
  EHR_TRY(q.bind_text(2, s.user()));
  EHR_TRY(q.bind_text(3, roles));
  EHR_TRY(q.bind_text(4, r.action));
  EHR_TRY(q.bind_text(5, r.outcome));
  EHR_TRY(q.bind_text(6, s.purpose()));
  EHR_TRY(q.bind_text(7, r.patients));
  EHR_TRY(q.bind_text(8, r.resources));
  EHR_TRY(q.bind_text(9, r.query_hash));
  EHR_TRY(q.bind_int(10, r.count));
  EHR_TRY(q.bind_text(11, r.detail));
  EHR_TRY(q.bind_int(12, r.emergency || s.emergency_for(r.patients) ? 1 : 0));
  auto done = q.step();
  if (!done.ok()) return done.error();
  return {};
}

}  // namespace ehr
