// The policy installed in a database, and explained decisions (ehr/access.h).
#include <algorithm>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "access.h"
#include "audit_log.h"
#include "crypto_sodium.h"
#include "ehr/access.h"
#include "session_impl.h"
#include "words.h"

namespace ehr {

namespace {

PolicyVersion builtin_version() {
  PolicyVersion v;
  v.source = "built-in (schemas/policy/default.yaml)";
  v.text = std::string(Policy::builtin_text());
  v.digest = crypto::blake2b_256_hex(v.text);
  return v;
}

}  // namespace

Result<std::vector<PolicyVersion>> policy_versions(Session& session) {
  SessionImpl& s = SessionImpl::of(session);
  auto rows = s.rows("SELECT version, installed, installed_by, source, digest, text FROM policy ORDER BY version");
  if (!rows.ok()) return rows.error();
  std::vector<PolicyVersion> out;
  for (auto& r : *rows) {
    PolicyVersion v;
    v.version = std::stoll(r[0]);
    v.installed = r[1];
    v.installed_by = r[2];
    v.source = r[3];
    v.digest = r[4];
    v.text = std::move(r[5]);
    out.push_back(std::move(v));
  }
  return out;
}

Result<PolicyVersion> current_policy(Session& session) {
  auto all = policy_versions(session);
  if (!all.ok()) return all.error();
  if (all->empty()) return builtin_version();
  return std::move(all->back());
}

Result<PolicyVersion> apply_policy(Session& session, std::string_view text, std::string_view source) {
  SessionImpl& s = SessionImpl::of(session);
  auto allowed = authorize(s, Action::kAdmin, Target{"Policy", "", "", ""});
  if (!allowed.ok()) return allowed.error();
  auto parsed = Policy::parse(text, source);
  if (!parsed.ok()) return parsed.error();
  // Every role a user holds must survive, or that user would lose all access silently.
  auto users = s.rows("SELECT name, roles FROM users WHERE disabled = 0 ORDER BY name");
  if (!users.ok()) return users.error();
  for (const auto& u : *users)
    for (const auto& r : detail::split_words(u[1]))
      if (!parsed->has_role(r))
        return Error::config(fmt::format("{}: role {} of user {} is not in the new policy", source, r, u[0]));
  if (!parsed->has_role("admin"))
    return Error::config(fmt::format("{}: the policy must keep the admin role", source));
  // Someone who can open the database must still be able to change the
  // policy, the users and the keys under it: keeping the admin role's name
  // while taking its rights (or denying them through another role) would
  // freeze the policy for good, since it lives only in the database.
  auto slots = s.store().list_slots();
  if (!slots.ok()) return slots.error();
  bool manageable = false;
  for (const auto& u : *users) {
    if (!std::any_of(slots->begin(), slots->end(), [&](const SlotInfo& i) { return i.user == u[0]; })) continue;
    bool all = true;
    for (const char* type : {"Policy", "User", "Key"}) {
      AccessFacts f;
      f.roles = detail::split_words(u[1]);
      f.action = Action::kAdmin;
      f.type = type;
      all = all && parsed->decide(f).allowed;
    }
    manageable = manageable || all;
  }
  if (!manageable)
    return Error::config(fmt::format(
        "{}: under this policy no enabled user who can open the database may administer Policy, User and "
        "Key (the admin role must allow action admin on them), so the policy could never be changed again",
        source));
  PolicyVersion v;
  v.installed = s.now();
  v.installed_by = s.user();
  v.source = std::string(source);
  v.digest = crypto::blake2b_256_hex(text);
  v.text = std::string(text);
  EHR_TRY(s.transaction([&]() -> Status {
    auto next = s.rows("SELECT coalesce(max(version), 0) + 1 FROM policy");
    if (!next.ok()) return next.error();
    v.version = std::stoll(next->front()[0]);
    EHR_TRY(s.exec("INSERT INTO policy(version, installed, installed_by, source, digest, text) "
                   "VALUES(?,?,?,?,?,?)",
                   {std::to_string(v.version), v.installed, v.installed_by, v.source, v.digest, v.text}));
    return write_audit(s, {"policy-apply", "ok", "", "", v.digest, 1,
                           fmt::format("policy version {}", v.version)});
  }));
  s.set_policy(std::move(*parsed));
  s.set_policy_version(v.version);
  return v;
}

Status authorize_operation(Session& session, Action action, const std::string& type,
                           const std::string& audit_action, const std::string& detail) {
  SessionImpl& s = SessionImpl::of(session);
  auto d = authorize(s, action, Target{type, "", "", ""});
  if (!d.ok()) return d.error();
  Status st = s.transaction([&]() { return write_audit(s, {audit_action, "ok", "", "", "", 1, detail}); });
  s.reset_statements();  // the operation may need the connection to itself (VACUUM INTO)
  return st;
}

namespace {

// Whether the session's user may read every one of `patients` (a Patient
// record each, on its own labels), as patient show would decide it now:
// an active break-the-glass grant counts, none is started.
Result<bool> may_read_patients(SessionImpl& s, const std::vector<std::string>& patients) {
  for (const auto& id : patients) {
    auto row = s.rows("SELECT coalesce(patient, ''), coalesce(security, ''), "
                      "CASE WHEN code IS NULL THEN '' ELSE coalesce(code_system, '') || '|' || code END "
                      "FROM resource WHERE type = 'Patient' AND id = ?",
                      {id});
    if (!row.ok()) return row.error();
    if (row->empty()) return false;
    const auto& r = row->front();
    auto d = decide(s, Action::kRead, Target{"Patient", r[0], r[1], r[2]}, /*start_grant=*/false);
    if (!d.ok()) return d.error();
    if (!d->allowed) return false;
  }
  return true;
}

}  // namespace

Result<Explanation> explain_access(Session& session, const AccessQuestion& q) {
  SessionImpl& s = SessionImpl::of(session);
  // Auditors and policy admins may ask about any user and any patient.
  const Target audit{"AuditEvent", "", "", ""};
  auto may_audit = decide(s, Action::kAuditRead, audit);
  if (!may_audit.ok()) return may_audit.error();
  auto may_admin = decide(s, Action::kAdmin, Target{"Policy", "", "", ""});
  if (!may_admin.ok()) return may_admin.error();
  const bool overseer = may_audit->allowed || may_admin->allowed;
  if (q.user != s.user() && !overseer) {
    // Another user's roles and care teams: for auditors and policy admins only.
    auto denied = authorize(s, Action::kAuditRead, audit);  // audited, with the usual message
    if (!denied.ok()) return denied.error();
  }
  // Every check is audited (policy-check), naming the patient asked about:
  // the answer tells whether a patient exists and who is on their care
  // team. The detail holds the question without its labels and code, which
  // next to a patient could say something clinical.
  std::string asked = fmt::format("user {} {} {}{}", q.user, action_name(q.action), q.type,
                                  q.emergency ? " emergency" : "");
  AuditRecord rec{"policy-check", "ok", "", "", "", 0, ""};
  std::optional<Error> refusal;
  Explanation e;
  EHR_TRY(s.transaction([&]() -> Status {
    auto u = s.rows("SELECT roles, disabled FROM users WHERE name = ?", {q.user});
    if (!u.ok()) return u.error();
    if (u->empty()) {
      refusal = Error::not_found(fmt::format("no user {}", q.user));
      rec.outcome = "not-found";
      rec.detail = fmt::format("user {}: no such user", q.user);
      return write_audit(s, rec);
    }
    e.facts.roles = detail::split_words(u->front()[0]);
    e.user_disabled = u->front()[1] != "0";
    e.facts.action = q.action;
    e.facts.type = q.type;
    e.facts.labels = q.labels;
    e.facts.code = q.code;
    e.facts.emergency = q.emergency;
    if (!q.patient.empty()) {
      auto ids = patients_for_key(s, q.patient);
      if (!ids.ok()) return ids.error();
      rec.patients = detail::join_words(*ids);
      // Whoever may not read the patient learns no more than for a key
      // naming nobody: the same error, so a check is no way to probe which
      // MRNs exist or whose team someone is on. The trail says which it was.
      bool reach = overseer;
      if (!reach && !ids->empty()) {
        auto r = may_read_patients(s, *ids);
        if (!r.ok()) return r.error();
        reach = *r;
      }
      if (ids->empty() || !reach) {
        refusal = Error::not_found(overseer ? fmt::format("no patient {}", q.patient)
                                            : fmt::format("no patient {} that you may read", q.patient));
        rec.outcome = ids->empty() ? "not-found" : "denied";
        rec.detail = asked + (ids->empty() ? ": no such patient" : ": may not read the patient");
        return write_audit(s, rec);
      }
      if (ids->size() > 1) {
        refusal = ambiguous_patient_key(q.patient, ids->size());
        rec.outcome = "not-found";
        rec.detail = asked + fmt::format(": {} patients match", ids->size());
        return write_audit(s, rec);
      }
      const std::string& patient = ids->front();
      e.patient = patient;
      e.facts.has_patient = true;
      auto team = s.rows("SELECT 1 FROM care_team WHERE patient = ? AND user = ?", {patient, q.user});
      if (!team.ok()) return team.error();
      e.facts.on_care_team = !team->empty();
      if (!e.facts.on_care_team && !e.facts.emergency) {
        auto g = s.rows("SELECT 1 FROM emergency WHERE user = ? AND patient = ? AND expires > ?",
                        {q.user, patient, s.now()});
        if (!g.ok()) return g.error();
        e.facts.emergency = !g->empty();
      }
    }
    e.decision = s.policy().decide(e.facts);
    if (e.user_disabled) {
      e.decision.allowed = false;
      e.decision.rule = "user disabled";
      e.decision.reason = fmt::format("user {} is disabled", q.user);
    }
    rec.detail = asked + (e.decision.allowed ? ": allow" : ": deny");
    return write_audit(s, rec);
  }));
  if (refusal) return *refusal;
  return e;
}

}  // namespace ehr
