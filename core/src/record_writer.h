// The record model's writers, for core units that write many records under
// their own access decisions and audit entries (the importer): no decision
// is taken and no audit entry written here. Everything else goes through
// ehr/records.h.

#ifndef EHR_CORE_RECORD_WRITER_H_
#define EHR_CORE_RECORD_WRITER_H_

#include <optional>
#include <string>

#include "ehr/json.h"
#include "ehr/records.h"
#include "resource_index.h"
#include "session_impl.h"

namespace ehr::detail {

// The current version of type/id (retracted ones too), or nullopt.
Result<std::optional<StoredResource>> load_resource(SessionImpl& s, const std::string& type,
                                                    const std::string& id);

// Whether type/id was purged (its id cannot be used again).
Result<bool> is_purged(SessionImpl& s, const std::string& type, const std::string& id);

// What "the same content" compares: canonical JSON without id and without
// meta.versionId and meta.lastUpdated.
std::string resource_content_key(const Json& resource);

// Whether `resource` says entered-in-error (status or verificationStatus).
bool is_retracted_resource(const Json& resource);

// Writes `resource` as version 1 (meta set, index, history "create").
// `index`, when given, is index_resource(resource), which the caller has
// computed already (the meta written does not change it); nullptr: computed here.
// REQUIRES: inside a transaction; `resource` validated, with an id that
// is neither stored nor purged.
Result<StoredResource> write_created(SessionImpl& s, Json resource, const std::string& reason,
                                     const IndexEntry* index = nullptr);

// Writes `resource` as the version after `cur` with history action
// `action` ("update", "retract"); `index` as for write_created.
// REQUIRES: inside a transaction; validated.
Result<StoredResource> write_version(SessionImpl& s, const StoredResource& cur, Json resource,
                                     const std::string& action, const std::string& reason,
                                     const IndexEntry* index = nullptr);

// Resolves the patients `e` gives by identifier against the stored patients
// (resolve_patient_keys): e.patient becomes the record's patient as stored.
// write_created and write_version do it themselves; a caller deciding on an
// index entry before writing calls it first. Errors: storage errors.
Status resolve_patient(SessionImpl& s, IndexEntry& e);

// The ids of the stored patients holding identifier `value` (of `system`;
// an empty system: of any system), as resolve_patient looks them up.
// Errors: storage errors.
Result<std::vector<std::string>> patients_with_identifier(SessionImpl& s, const std::string& system,
                                                          const std::string& value);

// The patients an audit entry about stored record `r` names: its patient, or
// for a record of several patients the ones it references ("" for a record
// of no patient or an unidentified one).
std::string audit_patients(const StoredResource& r);

// `resource` marked entered-in-error as a retraction marks it.
Json retracted_content(const Json& resource);

}  // namespace ehr::detail

#endif  // EHR_CORE_RECORD_WRITER_H_
