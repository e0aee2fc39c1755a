// One patient's record as a FHIR R4 searchset Bundle, the shape of
// Patient/$everything (ehr export --format bundle): complete and unpaged.
//
// The Bundle (compact JSON, one line and a newline):
//   resourceType "Bundle", type "searchset", timestamp (the snapshot's
//   instant), total (the number of "match" entries), entry[].
//   entry[] in this order:
//    - the Patient, then every current (not retracted) record whose patient
//      it is, by type then id: search.mode "match";
//    - then every stored Practitioner, PractitionerRole, Organization,
//      Location and Medication those records reference, followed
//      transitively (a PractitionerRole's Practitioner and Organization, an
//      Organization's partOf, a Location's managingOrganization), by type
//      then id: search.mode "include" (not counted in total, as R4 defines
//      Bundle.total for searchsets).
//   References to records that are not stored stay as they are.
//   entry.fullUrl is base_url + "/Type/id" when a base URL is given (R4
//   wants fullUrl absolute); without one it is left out (it is optional),
//   and references stay relative (Type/id), which importers (ehr import
//   included) resolve by type and id.
//   Each resource is the stored current version byte for byte, reduced to
//   the fields the access decision allows when it names fields.
//
// What it guarantees (as export_bulk, ehr/export.h):
//  - One snapshot: everything is read in one transaction.
//  - Access: the user needs export on every record written; one denied
//    record fails the run (kAccessDenied, audited), nothing is written.
//  - Audit: one entry (action export) for the patient in the run's
//    transaction, with the counts per type; a disclosure when the session
//    has a recipient.
//  - A file output appears whole (a temporary sibling, fsynced, linked into
//    place, mode 0600) or not at all, never replacing an existing file, and
//    only together with its audit entry.
//
// Thread safety: as the Session.

#ifndef EHR_EXPORT_BUNDLE_H_
#define EHR_EXPORT_BUNDLE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ehr/session.h"
#include "ehr/status.h"
#include "ehr/type_filter.h"

namespace ehr {

struct BundleExportOptions {
  // The patient: id or MRN (as find_patient). REQUIRES: non-empty.
  std::string patient;
  // The file to create (must not exist; its directory must), or "-" for
  // none: the Bundle is returned in BundleExportReport::text.
  // REQUIRES: non-empty.
  std::string output;
  // Only these resource types (R4 names), the Patient and the referenced
  // ones included; empty = every type (as $everything's _type).
  std::vector<std::string> types;
  // Instants (as ExportOptions): only records last changed at or after
  // since and before until (as $everything's _since). "" = unbounded.
  std::string since;
  std::string until;
  // Type filters (ehr/type_filter.h), as ExportOptions::type_filters: an
  // entry (match or include) of a type some filter names is written only
  // when one of its filters matches it (as the decision lets the user see
  // it). The records taken along are still those the patient's current
  // records reference, filtered or not. With `types`, each filter's type
  // must be one of them. Default: none.
  TypeFilterSet type_filters;
  // An absolute http(s) URL without query or fragment: entries get fullUrl
  // base_url/Type/id (a trailing '/' is dropped). "" = no fullUrl.
  std::string base_url;
  // Plaintext asked for explicitly (--plaintext): needed when the policy's
  // export_requires_encryption is set, as a Bundle is never sealed
  // (kAccessDenied, audited, without it).
  bool plaintext = false;
};

struct BundleExportReport {
  std::string patient;           // the patient's id
  std::string output;            // as given
  std::string text;              // the Bundle, when output is "-"
  std::string transaction_time;  // Bundle.timestamp
  std::int64_t matches = 0;      // entries with search.mode match
  std::int64_t included = 0;     // entries with search.mode include
  std::int64_t bytes = 0;        // of the Bundle's text
  std::map<std::string, std::int64_t> types;  // entries per type
};

// Writes the patient's Bundle to options.output (or returns it).
// Errors (nothing written): kInvalidArgument (an unknown type, a malformed
// since/until/base_url, until not after since, a type filter for a type not
// in `types`); kNotFound "no patient P";
// kConflict when an MRN names several patients; kAccessDenied (audited);
// kAlreadyExists "FILE already exists"; kCantCreate (the directory is
// missing or not writable); kIoError; kBusy.
Result<BundleExportReport> export_patient_bundle(Session& s, const BundleExportOptions& options);

}  // namespace ehr

#endif  // EHR_EXPORT_BUNDLE_H_
