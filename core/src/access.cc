// The minimal access rule (access.h).
#include "access.h"

#include <fmt/format.h>

#include "audit_log.h"

namespace ehr {

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kRead: return "read";
    case Action::kSearch: return "search";
    case Action::kCreate: return "create";
    case Action::kUpdate: return "update";
    case Action::kRetract: return "retract";
    case Action::kPurge: return "purge";
    case Action::kExport: return "export";
    case Action::kImport: return "import";
    case Action::kAuditRead: return "audit-read";
    case Action::kAdmin: return "admin";
  }
  return "unknown";
}

Decision decide(const SessionImpl& s, Action, std::string_view, std::string_view) {
  for (const auto& r : s.roles())
    if (r == "admin" || r == "physician" || r == "nurse") return {true, "role " + r};
  return {false, "default deny"};
}

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out.empty() ? "none" : out;
}
}  // namespace

Status authorize(SessionImpl& s, Action action, std::string_view type, std::string_view patient) {
  Decision d = decide(s, action, type, patient);
  if (d.allowed) return {};
  AuditRecord rec;
  rec.action = std::string(action_name(action));
  rec.outcome = "denied";
  rec.patients = std::string(patient);
  rec.detail = std::string(type);
  (void)write_audit(s, rec);  // best effort: the denial itself stands either way
  return Error::access_denied(fmt::format("user {} (roles: {}) may not {} {}", s.user(),
                                          join(s.roles()), action_name(action), type));
}

}  // namespace ehr
