// Users, their roles and key slots, and patients' care teams.
//
// A user is a name with roles (from the policy in force) and one or more
// key slots: opening the database with one of them authenticates the user.
// Disabling a user removes their slots from the file header, so their
// secrets stop opening it (copies of the file made before still open with
// them: `ehr db rotate-key` revokes those too); enabling gives them a new
// slot. Every change here passes the decision point (the admin permission
// on User or Key, or update on CareTeam) and writes an audit entry.

#ifndef EHR_USERS_H_
#define EHR_USERS_H_

#include <string>
#include <vector>

#include "ehr/session.h"
#include "ehr/status.h"
#include "ehr/store.h"

namespace ehr {

struct UserInfo {
  std::string name;
  std::vector<std::string> roles;
  bool disabled = false;
  std::string created;     // instant, UTC
  std::string created_by;  // "" for the first admin of `ehr init`
  std::string changed;     // instant of the last change, "" if none
  std::vector<int> slots;  // the user's key slots
};

// Checks a user name as every new user's (ehr init's first admin, ehr user
// add): 1-32 of a-z, 0-9, '.', '-', '_'. Errors: kInvalidArgument "user name
// must be 1-32 of a-z, 0-9, '.', '-', '_'".
Status check_user_name(const std::string& name);

// All users, by name. REQUIRES the admin permission on User.
Result<std::vector<UserInfo>> list_users(Session& s);

// One user. Any user may see themself; others need admin on User.
// Errors: kNotFound "no user U"; kAccessDenied.
Result<UserInfo> get_user(Session& s, const std::string& name);

// What add_user checks before it uses the secret: the caller's admin on
// User (a denial is audited), the name, the roles, that no user has the
// name. For asking for the new user's secret only once it can be used.
// Errors: as add_user's, but those of Store::add_slot.
Status check_user_add(Session& s, const std::string& name, const std::vector<std::string>& roles);

// Creates user `slot.user` with `roles` and a first key slot for `secret`.
// Errors: kInvalidArgument for a bad name ("user name must be 1-32 of a-z,
// 0-9, '.', '-', '_'"), no roles, or a role not in the policy ("unknown
// role R (the policy has: ...)"); kAlreadyExists "user U exists"; the
// errors of Store::add_slot; kAccessDenied.
Result<int> add_user(Session& s, const SlotOptions& slot, const std::vector<std::string>& roles,
                     const Secret& secret);

// Disables `name`: removes all their key slots and marks them disabled.
// Errors: kNotFound; kConflict "user U is already disabled", "you cannot
// disable yourself", "U is the last enabled admin"; kAccessDenied.
Status disable_user(Session& s, const std::string& name);

// Enables `slot.user` again with a new key slot for `secret`.
// Errors: kNotFound; kConflict "user U is not disabled", "role R of user U
// is not in the policy in force; ..."; the errors of
// Store::add_slot; kAccessDenied.
Result<int> enable_user(Session& s, const SlotOptions& slot, const Secret& secret);

// Adds / removes roles. Errors: kInvalidArgument for a role not in the
// policy; kConflict when no enabled admin would be left or the user would
// have no role; kNotFound; kAccessDenied, also for granting roles to the
// session's own user (audited as a denied role-grant): that takes another
// admin. Revoking one's own roles is allowed.
Status grant_roles(Session& s, const std::string& name, const std::vector<std::string>& roles);
Status revoke_roles(Session& s, const std::string& name, const std::vector<std::string>& roles);

// Key slots. A user manages their own; the admin permission on Key is
// needed for anyone else's. add_key: the slot's user must exist and be
// enabled (kNotFound / kConflict otherwise). remove_key: kConflict "slot N
// is the last of enabled admin U" keeps an admin from locking all admins out.
// Both are audited (key-add, key-remove) and fail closed: when the slot
// change or its entry cannot be written the call fails and the slots are
// as before (add_key removes the slot it added again; remove_key puts the
// slot back, and its message says so if that fails too).
Result<int> add_key(Session& s, const SlotOptions& slot, const Secret& secret);
Status remove_key(Session& s, int index);

// Whether a secret of `kind` may replace the secret of the slot that opened
// the session: a slot keeps its type, so a passphrase replaces only a
// passphrase (a key file or a recovery code is replaced by adding a slot and
// removing the old one: add_key, remove_key).
// Errors: kConflict "slot N opens with a key file, not a passphrase" (and
// the other pairs of "a passphrase", "a key file", "a recovery code"),
// "the slot that opened this store no longer exists"; kCorruption, kIoError.
Status check_own_slot_takes(Session& s, Secret::Kind kind);

// Replaces the secret of the slot that opened the session (ehr key passwd);
// audited (key-passwd). Nothing is changed or audited when
// check_own_slot_takes refuses. The new secret and its entry stand or fail
// together, as for remove_key: on any error the old secret still opens the
// slot and no key-passwd entry was written (unless the message says the
// change could not be put back).
// Errors: those of check_own_slot_takes and Store::change_secret; storage
// errors of the audit entry.
Status change_own_secret(Session& s, const Secret& secret, const KdfParams& kdf);

// One member of a patient's care team.
struct TeamMember {
  std::string user;
  std::string role;      // the part they play: "attending", "primary-care", ...
  std::string added;     // instant, UTC
  std::string added_by;
};

// Care teams; the patient is named by id or MRN (resolve_patient_key).
// Changing one needs update on CareTeam (for that patient);
// listing needs read on Patient. Errors: kNotFound "no patient P" / "no user
// U"; kAlreadyExists "U is on the care team of P" (add); kNotFound "U is
// not on the care team of P" (remove); kInvalidArgument for a bad team
// role (1-32 of a-z, 0-9, '-'); kAccessDenied.
Status add_team_member(Session& s, const std::string& patient, const std::string& user,
                       const std::string& role);
Status remove_team_member(Session& s, const std::string& patient, const std::string& user);
Result<std::vector<TeamMember>> care_team(Session& s, const std::string& patient);

}  // namespace ehr

#endif  // EHR_USERS_H_
