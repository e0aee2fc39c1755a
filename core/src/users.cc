// Users, key slots and care teams (ehr/users.h).
#include "ehr/users.h"

#include <algorithm>
#include <functional>
#include <optional>

#include <fmt/format.h>

#include "access.h"
#include "audit_log.h"
#include "session_impl.h"
#include "store_header.h"
#include "words.h"

namespace ehr {

namespace {

bool valid_user_name(const std::string& n) {
  return !n.empty() && n.size() <= 32 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

Status check_roles(const SessionImpl& s, const std::vector<std::string>& roles) {
  if (roles.empty()) return Error::invalid_argument("give at least one role (--role)");
  for (const auto& r : roles)
    if (!s.policy().has_role(r))
      return Error::invalid_argument(
          fmt::format("unknown role {} (the policy has: {})", r, detail::join_words(s.policy().role_names(), ", ")));
  return {};
}

Status require(SessionImpl& s, Action a, const std::string& type, const std::string& patient = "") {
  auto d = authorize(s, a, Target{type, patient, "", ""});
  if (!d.ok()) return d.error();
  return {};
}

Result<std::optional<UserInfo>> load_user_info(SessionImpl& s, const std::string& name) {
  auto rows = s.rows("SELECT name, roles, disabled, created, created_by, changed FROM users WHERE name = ?",
                     {name});
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return std::optional<UserInfo>();
  const auto& r = rows->front();
  UserInfo u;
  u.name = r[0];
  u.roles = detail::split_words(r[1]);
  u.disabled = r[2] != "0";
  u.created = r[3];
  u.created_by = r[4];
  u.changed = r[5];
  auto slots = s.store().list_slots();
  if (!slots.ok()) return slots.error();
  for (const auto& slot : *slots)
    if (slot.user == u.name) u.slots.push_back(slot.index);
  return std::optional<UserInfo>(std::move(u));
}

Result<UserInfo> existing_user(SessionImpl& s, const std::string& name) {
  auto u = load_user_info(s, name);
  if (!u.ok()) return u.error();
  if (!u->has_value()) return Error::not_found(fmt::format("no user {}", name));
  return std::move(**u);
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Enabled admins other than `except`.
// The enabled admins other than `except` who can open the database (who
// hold a key slot): an admin whose last slot is gone manages nothing.
Result<int> other_admins(SessionImpl& s, const std::string& except) {
  auto rows = s.rows("SELECT name, roles FROM users WHERE disabled = 0 AND name <> ?", {except});
  if (!rows.ok()) return rows.error();
  auto slots = s.store().list_slots();
  if (!slots.ok()) return slots.error();
  int n = 0;
  for (const auto& r : *rows)
    if (has(detail::split_words(r[1]), "admin") &&
        std::any_of(slots->begin(), slots->end(), [&](const SlotInfo& i) { return i.user == r[0]; }))
      ++n;
  return n;
}

Status audit(SessionImpl& s, const std::string& action, const std::string& detail,
             const std::string& patient = "") {
  return write_audit(s, {action, "ok", patient, "", "", 1, detail});
}

// Changes a key slot (`change`) and writes its audit entry as one
// operation: neither without the other.
//
// Why this order. The slots live in the file header, outside SQLite's
// transactions, so the two writes cannot commit atomically; the order
// decides which failure is left to repair. Committing the entry first and
// then writing the header (as before) left an entry claiming a change that
// never happened whenever the header write failed. Here the entry is
// written first, then the header is changed inside the same write
// transaction (which also serialises it with other writers), then the
// transaction commits:
//   - the entry cannot be written: nothing is changed (fail closed);
//   - the header write fails: the store leaves the header as it was (see
//     store::commit_header) and the rollback takes the entry back;
//   - the COMMIT fails: the header has changed without its entry, so the
//     slot as it was (kept in the SlotChange) is written back. Only if
//     that fails too can a change stand without its entry, and the error
//     says so.
//
// A new slot (add_slot_with) is the other way round: the entry names the
// slot's index, known only once the header is written, so the slot is made
// first and the rows that record it (`record`) follow in the same
// transaction; if they cannot be written, the slot is taken out again as
// for a failed COMMIT.
Status slot_change_in_transaction(SessionImpl& s, const std::function<Status()>& before,
                                  const std::function<Result<store::SlotChange>()>& change,
                                  const std::function<Status(const store::SlotChange&)>& after) {
  std::optional<store::SlotChange> done;
  Status st = s.transaction([&]() -> Status {
    EHR_TRY(before());
    auto c = change();
    if (!c.ok()) return c.error();
    done = std::move(*c);
    return after(*done);
  });
  if (st.ok() || !done) return st;
  Status undone = store::undo_slot_change(s.db(), *done);
  if (undone.ok()) return st;
  return Error(st.error().code(),
               fmt::format("{}; key slot {} was changed but could not be put back ({}): the change stands "
                           "without its audit entry",
                           st.error().message(), done->index, undone.error().message()));
}

Status audited_slot_change(SessionImpl& s, const std::string& action, const std::string& detail,
                           const std::function<Result<store::SlotChange>()>& change) {
  return slot_change_in_transaction(
      s, [&] { return audit(s, action, detail); }, change, [](const store::SlotChange&) { return Status(); });
}

// Adds a key slot and, in the same transaction, the rows that record it
// (`record`, given its index); neither stands without the other.
Result<int> add_slot_with(SessionImpl& s, const SlotOptions& slot, const Secret& secret,
                          const std::function<Status(int index)>& record) {
  int index = -1;
  Status st = slot_change_in_transaction(
      s, [] { return Status(); }, [&] { return store::add_slot_in_transaction(s.db(), slot, secret); },
      [&](const store::SlotChange& c) {
        index = c.index;
        return record(c.index);
      });
  if (!st.ok()) return st.error();
  return index;
}

}  // namespace

Status check_user_name(const std::string& name) {
  if (!valid_user_name(name))
    return Error::invalid_argument("user name must be 1-32 of a-z, 0-9, '.', '-', '_'");
  return {};
}

Result<std::vector<UserInfo>> list_users(Session& session) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(require(s, Action::kAdmin, "User"));
  auto names = s.rows("SELECT name FROM users ORDER BY name");
  if (!names.ok()) return names.error();
  std::vector<UserInfo> out;
  for (const auto& n : *names) {
    auto u = existing_user(s, n[0]);
    if (!u.ok()) return u.error();
    out.push_back(std::move(*u));
  }
  return out;
}

Result<UserInfo> get_user(Session& session, const std::string& name) {
  SessionImpl& s = SessionImpl::of(session);
  if (name != s.user()) EHR_TRY(require(s, Action::kAdmin, "User"));
  return existing_user(s, name);
}

Status check_user_add(Session& session, const std::string& name, const std::vector<std::string>& roles) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(require(s, Action::kAdmin, "User"));
  EHR_TRY(check_user_name(name));
  EHR_TRY(check_roles(s, roles));
  auto before = load_user_info(s, name);
  if (!before.ok()) return before.error();
  if (before->has_value()) return Error::already_exists(fmt::format("user {} exists", name));
  return {};
}

Result<int> add_user(Session& session, const SlotOptions& slot, const std::vector<std::string>& roles,
                     const Secret& secret) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(check_user_add(session, slot.user, roles));
  // Slots of a name without a user record (made before users existed) would
  // authenticate the new user: refuse rather than inherit them.
  auto slots = s.store().list_slots();
  if (!slots.ok()) return slots.error();
  for (const auto& sl : *slots)
    if (sl.user == slot.user)
      return Error::conflict(fmt::format("key slot {} already opens as {}; remove it first (ehr key remove {})",
                                         sl.index, slot.user, sl.index));
  return add_slot_with(s, slot, secret, [&](int index) -> Status {
    EHR_TRY(s.exec("INSERT INTO users(name, roles, disabled, created, created_by, changed) "
                   "VALUES(?, ?, 0, ?, ?, '')",
                   {slot.user, detail::join_words(roles), s.now(), s.user()}));
    return audit(s, "user-add", fmt::format("user {} roles {} slot {}", slot.user, detail::join_words(roles), index));
  });
}

Status disable_user(Session& session, const std::string& name) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(require(s, Action::kAdmin, "User"));
  auto u = existing_user(s, name);
  if (!u.ok()) return u.error();
  if (u->disabled) return Error::conflict(fmt::format("user {} is already disabled", name));
  if (name == s.user()) return Error::conflict("you cannot disable yourself");
  if (has(u->roles, "admin")) {
    auto others = other_admins(s, name);
    if (!others.ok()) return others.error();
    if (*others == 0) return Error::conflict(fmt::format("{} is the last enabled admin with a key slot", name));
  }
  // The flag first: even if removing a slot fails, the user no longer opens a session.
  EHR_TRY(s.transaction([&]() -> Status {
    EHR_TRY(s.exec("UPDATE users SET disabled = 1, changed = ? WHERE name = ?", {s.now(), name}));
    return audit(s, "user-disable", fmt::format("user {} slots {}", name, u->slots.size()));
  }));
  for (int slot : u->slots) EHR_TRY(s.store().remove_slot(slot));
  return {};
}

Result<int> enable_user(Session& session, const SlotOptions& slot, const Secret& secret) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(require(s, Action::kAdmin, "User"));
  auto u = existing_user(s, slot.user);
  if (!u.ok()) return u.error();
  if (!u->disabled) return Error::conflict(fmt::format("user {} is not disabled", slot.user));
  for (const auto& r : u->roles)
    if (!s.policy().has_role(r))
      return Error::conflict(fmt::format("role {} of user {} is not in the policy in force; "
                                         "ehr user revoke {} --role {} first", r, slot.user, slot.user, r));
  if (u->roles.empty())
    return Error::conflict(fmt::format("user {} has no role; ehr user grant {} --role ROLE first", slot.user,
                                       slot.user));
  return add_slot_with(s, slot, secret, [&](int index) -> Status {
    EHR_TRY(s.exec("UPDATE users SET disabled = 0, changed = ? WHERE name = ?", {s.now(), slot.user}));
    return audit(s, "user-enable", fmt::format("user {} slot {}", slot.user, index));
  });
}

namespace {

Status change_roles(Session& session, const std::string& name, const std::vector<std::string>& roles,
                    bool grant) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(require(s, Action::kAdmin, "User"));
  if (grant && name == s.user()) {
    // Separation of duties: an admin runs the system without reading
    // charts, so taking a role (a clinical one above all) takes a second
    // admin, and the trail shows both. At creation, ehr init --role.
    AuditRecord rec;
    rec.action = "role-grant";
    rec.outcome = "denied";
    rec.detail = fmt::format("user {} roles {}", name, detail::join_words(roles));
    s.record_denial(rec);
    return Error::access_denied(fmt::format(
        "user {} may not grant roles to themselves; another admin can (ehr init --role gives the first "
        "admin a role at creation)",
        name));
  }
  auto u = existing_user(s, name);
  if (!u.ok()) return u.error();
  std::vector<std::string> now = u->roles;
  if (grant) {
    EHR_TRY(check_roles(s, roles));
    for (const auto& r : roles)
      if (!has(now, r)) now.push_back(r);
  } else {
    if (roles.empty()) return Error::invalid_argument("give at least one role (--role)");
    for (const auto& r : roles) {
      if (!has(now, r)) return Error::conflict(fmt::format("user {} does not have role {}", name, r));
      now.erase(std::find(now.begin(), now.end(), r));
    }
    // A disabled user may be left with none (a policy dropped their only
    // role): enabling them asks for a role first.
    if (now.empty() && !u->disabled)
      return Error::conflict(fmt::format("user {} would have no role left; disable the user instead", name));
    if (has(u->roles, "admin") && !has(now, "admin") && !u->disabled) {
      auto others = other_admins(s, name);
      if (!others.ok()) return others.error();
      if (*others == 0) return Error::conflict(fmt::format("{} is the last enabled admin with a key slot", name));
    }
  }
  return s.transaction([&]() -> Status {
    EHR_TRY(s.exec("UPDATE users SET roles = ?, changed = ? WHERE name = ?", {detail::join_words(now), s.now(), name}));
    if (name == s.user()) s.set_roles(now);
    return audit(s, grant ? "role-grant" : "role-revoke",
                 fmt::format("user {} roles {} now {}", name, detail::join_words(roles), detail::join_words(now)));
  });
}

}  // namespace

Status grant_roles(Session& s, const std::string& name, const std::vector<std::string>& roles) {
  return change_roles(s, name, roles, true);
}

Status revoke_roles(Session& s, const std::string& name, const std::vector<std::string>& roles) {
  return change_roles(s, name, roles, false);
}

Result<int> add_key(Session& session, const SlotOptions& slot, const Secret& secret) {
  SessionImpl& s = SessionImpl::of(session);
  if (slot.user != s.user()) EHR_TRY(require(s, Action::kAdmin, "Key"));
  auto u = existing_user(s, slot.user);
  if (!u.ok()) return u.error();
  if (u->disabled) return Error::conflict(fmt::format("user {} is disabled; ehr user enable gives a new slot", slot.user));
  return add_slot_with(s, slot, secret, [&](int index) {
    return audit(s, "key-add", fmt::format("user {} slot {}", slot.user, index));
  });
}

Status remove_key(Session& session, int index) {
  SessionImpl& s = SessionImpl::of(session);
  auto slots = s.store().list_slots();
  if (!slots.ok()) return slots.error();
  auto it = std::find_if(slots->begin(), slots->end(), [&](const SlotInfo& i) { return i.index == index; });
  if (it == slots->end()) return Error::not_found(fmt::format("no key slot {}", index));
  if (it->user != s.user()) EHR_TRY(require(s, Action::kAdmin, "Key"));
  // An enabled admin keeps at least one slot unless another admin remains.
  auto owner = load_user_info(s, it->user);
  if (!owner.ok()) return owner.error();
  if (owner->has_value() && !(*owner)->disabled && has((*owner)->roles, "admin") &&
      (*owner)->slots.size() == 1) {
    auto others = other_admins(s, it->user);
    if (!others.ok()) return others.error();
    if (*others == 0)
      return Error::conflict(
          fmt::format("slot {} is the last of {}, the last enabled admin with a key slot", index, it->user));
  }
  return audited_slot_change(s, "key-remove", fmt::format("user {} slot {}", it->user, index),
                             [&] { return store::remove_slot_in_transaction(s.db(), index); });
}

namespace {

// "a passphrase", "a key file", "a recovery code".
std::string a_slot_secret(SlotType type) {
  switch (type) {
    case SlotType::kPassphrase: return "a passphrase";
    case SlotType::kKeyFile: return "a key file";
    case SlotType::kRecoveryCode: return "a recovery code";
  }
  return "an unknown secret";
}

}  // namespace

Status check_own_slot_takes(Session& session, Secret::Kind kind) {
  auto slots = SessionImpl::of(session).store().list_slots();
  if (!slots.ok()) return slots.error();
  auto own = std::find_if(slots->begin(), slots->end(),
                          [](const SlotInfo& i) { return i.opened_this_store; });
  if (own == slots->end())
    return Error::conflict("the slot that opened this store no longer exists");
  // Changing the type would lock out whoever holds the old kind of secret
  // (a service's key file turned into a passphrase it does not know).
  if (own->type != store::slot_type_for(kind))
    return Error::conflict(fmt::format("slot {} opens with {}, not {}", own->index,
                                       a_slot_secret(own->type),
                                       a_slot_secret(store::slot_type_for(kind))));
  return {};
}

Status change_own_secret(Session& session, const Secret& secret, const KdfParams& kdf) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(check_own_slot_takes(session, secret.kind()));
  return audited_slot_change(s, "key-passwd", fmt::format("user {}", s.user()),
                             [&] { return store::change_secret_in_transaction(s.db(), secret, kdf); });
}

namespace {


bool valid_team_role(const std::string& r) {
  return !r.empty() && r.size() <= 32 && std::all_of(r.begin(), r.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

Status add_team_member(Session& session, const std::string& key, const std::string& user,
                       const std::string& role) {
  SessionImpl& s = SessionImpl::of(session);
  if (!valid_team_role(role))
    return Error::invalid_argument("team role must be 1-32 of a-z, 0-9, '-' (e.g. attending)");
  auto id = resolve_patient_key(s, key);
  if (!id.ok()) return id.error();
  const std::string& patient = *id;
  EHR_TRY(require(s, Action::kUpdate, "CareTeam", patient));
  auto u = existing_user(s, user);
  if (!u.ok()) return u.error();
  auto there = s.rows("SELECT 1 FROM care_team WHERE patient = ? AND user = ?", {patient, user});
  if (!there.ok()) return there.error();
  if (!there->empty())
    return Error::already_exists(fmt::format("{} is on the care team of {}", user, patient));
  Status st = s.transaction([&]() -> Status {
    EHR_TRY(s.exec("INSERT INTO care_team(patient, user, role, added, added_by) VALUES(?,?,?,?,?)",
                   {patient, user, role, s.now(), s.user()}));
    return audit(s, "team-add", fmt::format("user {} role {}", user, role), patient);
  });
  s.forget_care_team();
  return st;
}

Status remove_team_member(Session& session, const std::string& key, const std::string& user) {
  SessionImpl& s = SessionImpl::of(session);
  auto id = resolve_patient_key(s, key);
  if (!id.ok()) return id.error();
  const std::string& patient = *id;
  EHR_TRY(require(s, Action::kUpdate, "CareTeam", patient));
  auto there = s.rows("SELECT 1 FROM care_team WHERE patient = ? AND user = ?", {patient, user});
  if (!there.ok()) return there.error();
  if (there->empty()) return Error::not_found(fmt::format("{} is not on the care team of {}", user, patient));
  Status st = s.transaction([&]() -> Status {
    EHR_TRY(s.exec("DELETE FROM care_team WHERE patient = ? AND user = ?", {patient, user}));
    return audit(s, "team-remove", fmt::format("user {}", user), patient);
  });
  s.forget_care_team();
  return st;
}

Result<std::vector<TeamMember>> care_team(Session& session, const std::string& key) {
  SessionImpl& s = SessionImpl::of(session);
  auto id = resolve_patient_key(s, key);
  if (!id.ok()) return id.error();
  const std::string& patient = *id;
  // Read on the patient as a read of it decides it: with its labels (QA
  // finding access 05: a registrar not cleared for a restricted patient
  // listed who treats them).
  auto labels = s.rows("SELECT coalesce(security, '') FROM resource WHERE type = 'Patient' AND id = ?", {patient});
  if (!labels.ok()) return labels.error();
  auto d = authorize(s, Action::kRead, Target{"Patient", patient, labels->empty() ? "" : (*labels)[0][0], ""});
  if (!d.ok()) return d.error();
  auto rows = s.rows("SELECT user, role, added, added_by FROM care_team WHERE patient = ? ORDER BY user",
                     {patient});
  if (!rows.ok()) return rows.error();
  std::vector<TeamMember> out;
  for (const auto& r : *rows) out.push_back({r[0], r[1], r[2], r[3]});
  EHR_TRY(s.transaction([&]() {
    return write_audit(s, {"read", "ok", patient, "Patient/" + patient + "/care-team",
                           "", static_cast<std::int64_t>(out.size()), "CareTeam"});
  }));
  return out;
}

}  // namespace ehr
