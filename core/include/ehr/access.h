// The access policy and its decision point.
//
// A Policy maps roles to permissions over (resource type x action), with
// conditions: the care-team relationship, security labels, main codes and
// field filtering; an explicit deny beats any allow; everything not allowed
// is denied. Policies are YAML (schema ehr-policy; the default ships in
// schemas/policy/default.yaml and is embedded). decide() is a pure function
// of the policy and the facts of one request, so every decision can be
// tested, and explained (`ehr policy check`) without a database.
//
// The record operations of records.h and users.h consult the decision point
// of their Session; nothing here bypasses it.

#ifndef EHR_ACCESS_H_
#define EHR_ACCESS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/status.h"

namespace ehr {

class Session;

enum class Action {
  kRead, kSearch, kCreate, kUpdate, kRetract, kPurge, kExport, kImport, kAuditRead, kAdmin,
  kMerge,  // patient identity: duplicate review, merge, unmerge, not-duplicate (on Patient)
};

// "read", "search", ..., "audit-read", "admin", "merge": the names of the policy and the audit trail.
std::string_view action_name(Action a);
// The Action named `name`, or nullopt.
std::optional<Action> parse_action(std::string_view name);
// Every action, in the order above.
const std::vector<Action>& all_actions();
// Every action's name in that order, joined by `separator`, the last two by
// `last_separator` when given: action_names(", ", " or ") is "read, search,
// ..., admin or merge".
std::string action_names(std::string_view separator, std::string_view last_separator = {});

// What the decision point knows about one request.
struct AccessFacts {
  std::vector<std::string> roles;   // the user's roles
  Action action = Action::kRead;
  std::string type;                 // resource type, or User, Key, Policy, CareTeam, AuditEvent, Database
  bool has_patient = false;         // the record belongs to a patient (care-team rules apply)
  bool on_care_team = false;        // the user is on that patient's care team
  bool emergency = false;           // break-the-glass is requested or granted for that patient
                                    // (it allows read and search only)
  std::vector<std::string> labels;  // meta.security codes of the record ("R", "PSYTHPN", ...)
  std::string code;                 // main code as SYSTEM|CODE, "" when none
};

struct Decision {
  bool allowed = false;
  // Allowed only through break-the-glass (a read or search; the user is off
  // the care team and an eligible role asked for or holds an emergency grant).
  bool emergency = false;
  // Denied, but an eligible role would be allowed with --emergency.
  bool emergency_would_allow = false;
  // Denied by a deny rule (not merely for want of an allow).
  bool explicit_deny = false;
  // When allowed: the only top-level elements the user may see; empty = all.
  std::vector<std::string> fields;
  // The rule that decided: "physician allow 1 (line 58)", "service deny 1
  // (line 131)", or "default deny".
  std::string rule;
  // Why, in words: "role physician: not on the patient's care team".
  std::string reason;
};

// A parsed, validated policy. Immutable; cheap to share.
class Policy {
 public:
  // Parses and validates policy YAML. `source` names the text in errors.
  // Errors: kConfig "SOURCE:LINE:COLUMN: <what>" for YAML syntax, unknown
  // keys, unknown actions, labels, groups or scopes, a role without rules,
  // a rule without actions, and labels on allow rules.
  static Result<Policy> parse(std::string_view text, std::string_view source);
  // The policy embedded from schemas/policy/default.yaml.
  static const Policy& builtin();
  // Its text.
  static std::string_view builtin_text();

  // The decision for `facts` (see the file comment for the rules).
  Decision decide(const AccessFacts& facts) const;

  // The roles the policy defines, in file order.
  std::vector<std::string> role_names() const;
  bool has_role(std::string_view role) const;
  // The role's one-line description ("" for an unknown role).
  std::string role_description(std::string_view role) const;
  // Whether any of `roles` joins a patient's care team on creating it.
  bool joins_care_team(const std::vector<std::string>& roles) const;
  // Whether any allow rule of `roles` is limited to the patient's care team.
  // When none is, decide() answers the same whatever AccessFacts.on_care_team
  // and AccessFacts.emergency say, so a caller need not look them up.
  bool scopes_to_care_team(const std::vector<std::string>& roles) const;
  // Minutes one break-the-glass grant lasts.
  int emergency_minutes() const;
  // settings.export_requires_encryption (default false): whether an export
  // must be sealed to a recipient key unless plaintext is asked for
  // explicitly (ehr/export.h ExportOptions::plaintext).
  bool export_requires_encryption() const;
  // The label names whose codes `codes` carries ("restricted", ...).
  std::vector<std::string> label_names(const std::vector<std::string>& codes) const;

  Policy(const Policy&);
  Policy& operator=(const Policy&);
  Policy(Policy&&) noexcept;
  Policy& operator=(Policy&&) noexcept;
  ~Policy();

  struct Data;  // the parsed form; defined in core only

 private:
  explicit Policy(std::shared_ptr<const Data> d);
  std::shared_ptr<const Data> d_;
};

// One installed version of the policy (ehr policy show/list).
struct PolicyVersion {
  std::int64_t version = 0;  // 0 = the built-in default (nothing installed yet)
  std::string installed;     // instant, UTC ("" for the built-in default)
  std::string installed_by;  // ehr user
  std::string source;        // the file name it was applied from
  std::string digest;        // BLAKE2b-256 of the text, hex
  std::string text;          // the YAML as applied
};

// The policy in force in the session's database. Any user may read it.
Result<PolicyVersion> current_policy(Session& s);
// Every installed version, oldest first (empty when only the built-in applies).
Result<std::vector<PolicyVersion>> policy_versions(Session& s);

// Validates `text` and installs it as the next version, in force from the
// next decision on; audited. REQUIRES the admin permission on Policy.
// Errors: kConfig as Policy::parse (nothing installed); kConfig when a
// user's role would vanish from the policy ("role R of user U is not in the
// new policy"); kAccessDenied.
Result<PolicyVersion> apply_policy(Session& s, std::string_view text, std::string_view source);

// The decision point for operations on the database as a whole (db
// backup: export on Database; db rotate-key: admin on Database): authorizes
// the session's user and, when allowed, writes an audit entry with
// `audit_action` and `detail` (no clinical content). Errors: kAccessDenied
// (audited); storage errors.
Status authorize_operation(Session& s, Action action, const std::string& type,
                           const std::string& audit_action, const std::string& detail);

// The request `ehr policy check` asks about: may `user` do `action` on a
// record of `type` (of `patient`, optional), carrying `labels`, with main
// code `code`, with or without `emergency`?
struct AccessQuestion {
  std::string user;
  Action action = Action::kRead;
  std::string type;
  std::string patient;              // id or MRN (an identifier naming one patient); "" = none
  std::vector<std::string> labels;
  std::string code;
  bool emergency = false;
};

// The decision, with the facts it was made on (the user's roles, the care
// team). Anyone may ask about themself; asking about another user needs
// audit-read on AuditEvent or admin on Policy (kAccessDenied, audited as a
// denied audit-read otherwise).
//
// Audited, and fails closed: every answer and every refusal below writes
// one policy-check entry (outcome ok, not-found or denied) naming the
// patients the key names, with the question in its detail ("user bob read
// Observation: deny"; never the labels or code), or the call fails with the
// storage error.
//
// A patient given by a user without audit-read or admin on Policy must be
// one that user may read now (patient show's decision on the Patient
// record, an active break-the-glass grant included, none started);
// otherwise the answer is the one for a key naming nobody, kNotFound "no
// patient KEY that you may read" (audited as denied), so that a check does
// not reveal whether an MRN exists or whose care team someone is on.
// Errors: kNotFound "no user U", "no patient KEY" (auditors and policy
// admins), "no patient KEY that you may read" (others); kConflict "KEY
// identifies N patients; use the patient id"; kAccessDenied; storage
// errors.
struct Explanation {
  std::string patient;  // the patient's id, "" when none was asked about
  AccessFacts facts;
  Decision decision;
  bool user_disabled = false;
};
Result<Explanation> explain_access(Session& s, const AccessQuestion& q);

}  // namespace ehr

#endif  // EHR_ACCESS_H_
