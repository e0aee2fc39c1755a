// The audit trail's hash chain (ehr/audit.h describes it): the chain key and
// trail id kept in the database, the canonical encoding of an entry, and the
// chain step. Used by the audit writer, verification and checkpoints.

#ifndef EHR_CORE_AUDIT_CHAIN_H_
#define EHR_CORE_AUDIT_CHAIN_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crypto_sodium.h"
#include "ehr/audit.h"
#include "ehr/status.h"

namespace ehr {

namespace store {
class Connection;
class Statement;
}  // namespace store

using ChainHash = std::array<std::uint8_t, crypto::kHashBytes>;

// The chain of one database: its key, trail id and (inside a write
// transaction) the head as last written, so bulk writers need not read it.
struct AuditChain {
  crypto::SecureBytes key;  // 32 bytes; empty until loaded
  std::string trail_id;     // 32 hex digits
  // BLAKE2b keyed with `key`, before any input: each chain step copies it
  // rather than hashing the key block again (set with the key).
  std::shared_ptr<const crypto::Blake2b> keyed;
  std::optional<std::pair<std::int64_t, ChainHash>> head;  // valid within one transaction
  bool loaded() const { return !key.empty(); }
};

// The canonical encoding of `e`'s columns (every field but hash): each field
// as a 4-byte big-endian length and its bytes, in the order seq, time, user,
// roles, action, outcome, purpose, patients, resources, query_hash, count,
// detail, emergency, tool, recipient (integers in decimal, emergency 0/1).
std::string canonical_entry(const AuditEntry& e);

// The same encoding from the fields as text, in that order (what
// canonical_entry encodes for an entry), appended to `out`.
inline constexpr size_t kEntryFields = 15;
void encode_entry_fields(std::string& out, const std::array<std::string_view, kEntryFields>& fields);

// The inverse: the fields of canonical encoding `encoded`, in that order,
// viewing `encoded`. nullopt when it is not exactly kEntryFields fields.
std::optional<std::array<std::string_view, kEntryFields>> split_entry_fields(std::string_view encoded);

// The field indexes split_entry_fields returns that its callers read.
inline constexpr size_t kFieldUser = 2, kFieldAction = 4, kFieldOutcome = 5, kFieldPatients = 7,
                        kFieldDetail = 11;

// hash_0 of a chain.
ChainHash chain_genesis(const AuditChain& c);
// hash_n from hash_{n-1} and entry n.
ChainHash chain_step(const AuditChain& c, const ChainHash& prev, const AuditEntry& e);
// hash_n from hash_{n-1} and entry n already encoded.
ChainHash chain_step_encoded(const AuditChain& c, const ChainHash& prev, std::string_view encoded);

// Every break-the-glass grant as the detail of the entry that started it
// (user, patient, "grant N until T"), from the table's own rows (NOT
// INDEXED): the index emergency_user covers these columns, and an index
// page rolled back apart from the table's would still hold a deleted grant.
inline constexpr const char* kGrantRowsSql =
    "SELECT user, patient, 'grant ' || id || ' until ' || expires FROM emergency NOT INDEXED";

// The seal of a break-the-glass reason in its grant's chained audit entry
// (query_hash): BLAKE2b-256 keyed with the chain key over "emergency-reason:"
// and the reason, as hex. Keyed, so that the trail (which holds no clinical
// content, and is exported and checkpointed) does not let anyone without the
// database test guesses of a reason; chained, so that a reason changed in the
// emergency table no longer matches. REQUIRES: c.loaded().
std::string emergency_reason_seal(const AuditChain& c, std::string_view reason);

// Loads the chain key and trail id into `c`; when the database has none yet
// (just migrated to schema 5), makes them and chains the entries written
// before, in one transaction. Errors: those of the store.
Status ensure_audit_chain(store::Connection& db, AuditChain& c);

// verify_audit reads the trail on one thread and hashes it on a second;
// false makes it do both on the calling thread (as when no thread can be
// started), so tests cover both. Process-wide; not for concurrent use.
void set_verify_on_two_threads_for_testing(bool two);

// The columns of an audit row as SELECTed by kAuditColumns, into an entry.
inline constexpr const char* kAuditColumns =
    "seq, time, user, roles, action, outcome, purpose, patients, resources, query_hash, count, "
    "detail, emergency, tool, recipient, hash";
// One row of kAuditColumns as an entry (hash as hex; "" when NULL).
AuditEntry audit_entry_of(store::Statement& q);

}  // namespace ehr

#endif  // EHR_CORE_AUDIT_CHAIN_H_
