// The audit trail: what every operation wrote (see audit entries below), the
// tamper-evident chain over it, signed checkpoints, and the views auditors
// need (filtered listing, FHIR AuditEvent export, the accounting of
// disclosures, emergency accesses).
//
// Every operation on records, users, keys, policy and the database appends
// one entry in its own transaction (a failed append fails the operation).
// Entries hold ids, actions, outcomes and counts, never clinical content.
// The table is append-only (triggers refuse UPDATE and DELETE) and each
// entry carries
//     hash_n = BLAKE2b-256(key = K, hash_{n-1} || canonical(entry_n))
// where K is a random 32-byte chain key stored in the (encrypted) database,
// hash_0 = BLAKE2b-256(key = K, "ehr audit chain v1" || trail id), and
// canonical() is the length-prefixed encoding of every column (audit_chain.cc
// documents it). The trail id is random, made with the chain, and outlives key
// rotation. Anybody holding a key of the database can read K, so the chain
// alone shows accidental damage and edits by those without a key; a
// checkpoint (sequence, head hash, time, trail id) signed with an Ed25519 key
// kept apart from the database, and stored elsewhere, shows a rewritten or
// truncated history to whoever checks the trail against it.
//
// Reading the trail needs the audit-read permission (auditors and admins in
// the default policy) and is itself audited.

#ifndef EHR_AUDIT_H_
#define EHR_AUDIT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/session.h"
#include "ehr/status.h"
#include "ehr/store.h"

namespace ehr {

// --- purposes of use ---------------------------------------------------------

// A purpose of use (HL7 v3 PurposeOfUse), as `--purpose` names it.
struct Purpose {
  std::string_view name;     // "treatment", "payment", ...
  std::string_view code;     // "TREAT", "HPAYMT", ...
  std::string_view display;  // "treatment", as HL7 names it
  // Treatment, payment or health care operations (and the patient's own
  // request): excluded from the accounting of disclosures (45 CFR 164.528).
  bool excluded_from_accounting = false;
};

// Every purpose ehr knows, in a fixed order (treatment first).
const std::vector<Purpose>& purposes();
// The purpose named `name_or_code` (its name or v3 code, any case), or nullptr.
const Purpose* find_purpose(std::string_view name_or_code);
// As find_purpose, or kInvalidArgument "unknown purpose P (known: treatment, ...)".
Result<const Purpose*> parse_purpose(std::string_view name_or_code);

// --- entries -----------------------------------------------------------------

struct AuditEntry {
  std::int64_t seq = 0;
  std::string time;        // UTC instant, ms
  std::string user;        // the authenticated (or, for failed opens, claimed) user
  std::string roles;       // space-separated roles in force
  std::string action;      // read, search, create, update, retract, purge, import, export,
                           // emergency, login-failed, user-add, key-add, policy-apply, ...
  std::string outcome;     // ok, denied, not-found, auth-failed, error
  std::string purpose;     // a Purpose name ("treatment")
  std::string patients;    // space-separated patient ids
  std::string resources;   // space-separated Type/id[/_history/v]
  std::string query_hash;  // searches: BLAKE2b of the normalised query
  std::int64_t count = 0;  // resources returned or written
  std::string detail;      // resource type or other non-clinical detail
  bool emergency = false;  // under break-the-glass
  std::string tool;        // "ehr 0.1.0"
  std::string recipient;   // who received the data outside the organisation ("" = none)
  std::string hash;        // chain value, 64 hex digits
};

// What list_audit selects; empty fields select everything.
struct AuditFilter {
  // Entries naming this patient among their patients (whole ids): a patient
  // id, or an identifier value (MRN) naming exactly one patient; a key that
  // names no patient is taken as an id (the trail outlives purged patients).
  std::string patient;
  std::string user;        // exactly this user
  std::string action;      // exactly this action ("read", "emergency", ...)
  // Inclusive lower and exclusive upper bounds on time: YYYY, YYYY-MM,
  // YYYY-MM-DD (compared as prefixes of the UTC time, so since 2026-11 and
  // until 2026-12 select November) or an instant with Z or an offset
  // (2026-11-25T10:00:00Z, 2026-11-25T11:00:00.250+01:00).
  std::string since;
  std::string until;
  bool emergency_only = false;  // only entries made under break-the-glass
  std::int64_t limit = 0;  // 0 = all; else the newest `limit`, still in sequence order
};

// Entries matching `f`, in sequence order. REQUIRES audit-read on AuditEvent.
// Appends an audit-read entry (detail "trail" and the filters, patients the
// patient filter, count the entries returned) in the transaction that reads,
// so the result never includes that entry.
// Errors: kAccessDenied (audited); kInvalidArgument "--since X: not a date or
// instant (...)" (or --until) and "--limit N: must be 0 (all entries) or
// more" for a negative limit; kConflict when the patient key names several patients.
Result<std::vector<AuditEntry>> list_audit(Session& s, const AuditFilter& f);

// The id of the session's audit trail (32 hex digits), which AuditEvent ids
// and checkpoints carry. Reads nothing, needs no permission.
std::string audit_trail_id(Session& s);

// --- chain, verification, checkpoints ----------------------------------------

// A signed statement of the trail's head, one line of text:
//   ehr-audit-checkpoint v1 trail=<32 hex> seq=<n> head=<64 hex> time=<instant>
//     key=<64 hex Ed25519 public key> sig=<128 hex>
// (one line; the signature covers everything before " sig=").
struct Checkpoint {
  std::string trail_id;
  std::int64_t seq = 0;
  std::string head;        // hex
  std::string time;
  std::string public_key;  // hex
  std::string signature;   // hex
  std::string line() const;
};

// Parses the checkpoint in `line` (text before "ehr-audit-checkpoint" is
// ignored, so syslog lines parse). Errors: kInvalidData naming the field.
Result<Checkpoint> parse_checkpoint(std::string_view line);
// Whether the signature verifies under the checkpoint's own public key.
bool checkpoint_signature_ok(const Checkpoint& c);

// A signing key is the 32-byte Ed25519 seed of a key file (`ehr key new`);
// keep it apart from the database and its keys. Its public key, hex.
// Errors: kInvalidArgument unless the secret is 32 bytes.
Result<std::string> signing_public_key(const Secret& seed);

// Appends an audit-checkpoint entry and returns the signed checkpoint of the
// head including it. REQUIRES audit-read. Errors: kInvalidArgument for a bad
// signing key; kAccessDenied.
Result<Checkpoint> make_checkpoint(Session& s, const Secret& seed);

struct VerifyReport {
  bool ok() const { return problems.empty(); }
  std::int64_t entries = 0;              // entries checked
  std::int64_t last_seq = 0;
  std::string head;                      // hex of the last entry's hash
  std::string trail_id;
  std::optional<std::int64_t> first_bad_seq;  // first entry that fails
  std::vector<std::string> problems;     // first_bad_seq's problem first
  std::int64_t checkpoints_checked = 0;
};

// Recomputes the chain from the first entry and checks `checkpoints`
// against it (signature, trail id, the entry at their sequence must exist
// and hash to their head), and checks every emergency grant against its
// chained entry (it has one, and the reason it holds is the one sealed).
// A grant without an entry is a problem naming no entry (first_bad_seq
// unset when it is the only one). REQUIRES audit-read. Writes an audit-verify entry
// after checking. Errors (not findings): kAccessDenied, kIoError.
Result<VerifyReport> verify_audit(Session& s, const std::vector<Checkpoint>& checkpoints,
                                  const std::string& require_key = "");

// --- views -------------------------------------------------------------------

// `e` as a FHIR R4 AuditEvent resource (JSON text, one line, no clinical
// content), id "<trail_id>-<seq>":
//   type, subtype, action  record operations as the FHIR RESTful interaction
//       they mirror: type rest (audit-event-type), subtype read (or
//       history-instance for a whole history, operation for $everything),
//       search-type, create, update (also retract), delete (purge), action
//       R, E, C, U, D. Others by their DICOM audit event id (DCM): import
//       110107 Import C; export and db-backup 110106 Export R; emergency
//       110113 Security Alert / 110127 Emergency Override Started E;
//       login-failed 110114 User Authentication / 110122 Login E; user and
//       key changes 110113 / 110137 User security Attributes Changed E;
//       role-grant, role-revoke 110113 / 110136 Security Roles Changed E;
//       team-add, team-remove 110113 / 110135 Object Security Attributes
//       Changed E; policy-apply, db-rotate-key 110113 / 110129 Security
//       Configuration E; a denied admin action 110113 / 110132 Use of
//       Restricted Function E; audit-read, audit-checkpoint, audit-verify
//       110101 Audit Log Used R; anything else 110100 Application Activity E.
//   recorded  the entry's time; outcome  0 ok, 4 denied or not-found, 8
//       auth-failed, 12 anything else; outcomeDesc  "<outcome>[: <detail>]".
//   purposeOfEvent  the purpose's v3 ActReason code, and BTG (break the
//       glass) for an entry under an emergency grant; the same in
//       agent[0].purposeOfUse.
//   agent[0]  who.identifier.value the user, role[].text the roles,
//       requestor true; agent[1], with a recipient: type DCM 110152
//       Destination Role ID, who.display the recipient, requestor false.
//   source  observer.identifier.value the trail id, observer.display the
//       tool ("ehr 0.1.0"), type 4 Application Server.
//   entity  each patient (Patient/<id>, type 1 Person, role 1 Patient); each
//       resource (type 2 System Object, role 4 Domain Resource; what the
//       literal reference, a read of many naming the rest in description
//       with a count detail); a search's query (role 24 Query, details
//       query-hash and count); another action's hash as a digest detail.
std::string audit_event_json(const AuditEntry& e, const std::string& trail_id);

struct Disclosure {
  std::string time;
  std::string recipient;
  std::string user;
  std::string what;       // resources or a description (type, count)
  std::string purpose;    // Purpose name
  bool excluded = false;  // TPO or patient request: excluded from the accounting
  std::int64_t seq = 0;
};

// Disclosures of `patient` (an id or MRN, as AuditFilter::patient) since
// `since` (as AuditFilter::since; default: six years before the session's
// now(), 29 February counting back to 28 February), oldest first: the
// successful reads and searches naming the patient in sessions with a
// recipient, and every successful export naming the patient (recipient
// kUnnamedRecipient when the session named none). `what` is the resources,
// or "<count> <detail>" for a search or an export;
// `excluded` is the purpose's excluded_from_accounting. REQUIRES audit-read;
// appends an audit-read entry (detail "disclosures since=<bound>", patients
// the patient) in the transaction that reads.
// Errors: kAccessDenied (audited); kInvalidArgument for an empty patient or
// a malformed since; kConflict when the key names several patients.
inline constexpr const char* kUnnamedRecipient = "(not named)";
Result<std::vector<Disclosure>> list_disclosures(Session& s, const std::string& patient,
                                                 const std::string& since = "");

struct EmergencyAccess {
  std::int64_t grant = 0;   // the break-the-glass grant id
  std::string user;
  std::string patient;
  std::string reason;
  std::string started;
  std::string expires;
  std::int64_t accesses = 0;  // audit entries under the grant
  std::string last_access;  // time of the last of them, "" when none
  // Whether `reason` is the one the grant's chained audit entry sealed (a
  // keyed hash in its query_hash): false when the emergency table was
  // changed since, or the entry is missing. Grants started before ehr sealed
  // reasons have nothing to compare and count as intact.
  bool reason_intact = true;
  std::int64_t entry = 0;  // seq of the grant's audit entry, 0 when none
  // The grant's row is gone from the emergency table (deleted outside ehr):
  // what is listed comes from its audit entry (reason "", reason_intact false).
  bool grant_missing = false;
};

// Break-the-glass grants started since `since` (as AuditFilter::since; all
// when empty), oldest first, with the accesses made under each: the
// entries flagged emergency of the grant's user naming its patient within
// [started, expires), the grant's own "emergency" entry not counted. A grant
// whose row is gone but whose audit entry remains is listed from the entry
// (grant_missing).
// REQUIRES audit-read; appends an audit-read entry (detail "emergencies")
// in the transaction that reads. Errors: kAccessDenied (audited);
// kInvalidArgument for a malformed since.
Result<std::vector<EmergencyAccess>> list_emergencies(Session& s, const std::string& since = "");

}  // namespace ehr

#endif  // EHR_AUDIT_H_
