// Bulk export (ehr export): the records of the session's database written
// as a FHIR Bulk Data output directory, one consistent snapshot per run.
//
// The layout (as a Bulk Data server's output, file names relative):
//   manifest.json                    transactionTime, request,
//                                    requiresAccessToken false, output[],
//                                    deleted[], error[] (always empty: a
//                                    run that cannot write a record fails;
//                                    records the policy withholds are
//                                    counted in extension.withheld)
//   Type.001.ndjson, Type.002.ndjson one resource per line, the current
//                                    version as stored, files of one type
//                                    each, a new file when the next line
//                                    would pass max_file_bytes
//   deleted/Bundle.001.ndjson        with a `since` only: transaction
//                                    Bundles of DELETE entries (Type/id) for
//                                    the records retracted or purged in the
//                                    window, up to 1000 entries a Bundle
// Each output[] and deleted[] item has type, url and count, and an
// "extension" object with the file's "sha256" (hex) and "bytes". The
// manifest's own "extension" holds "changeSequence": the database's change
// sequence at the snapshot (every exported version has a sequence at or
// below it).
//
// What it guarantees:
//  - One snapshot: everything is read in one read transaction, which never
//    blocks writers. transactionTime is taken just before it, under the
//    write lock while no write is under way, and the snapshot is checked to
//    start from exactly that state (SessionImpl::snapshot): every change in
//    it is before transactionTime and every later one after it, so the next
//    run's `since` set to it neither repeats nor misses a change. The audit
//    entries are appended right after the snapshot, before the rename.
//  - Deterministic: lines hold the stored JSON byte for byte, within each
//    type in storage order (rid) for a whole database (no types, patients
//    or group: one pass over the table reads each page once) and in id
//    order otherwise (and for a job's small window), so the same window of
//    the same database exported twice gives identical NDJSON files.
//  - Windows: a record is in the window when its last change
//    (meta.lastUpdated) is at or after `since` and before `until`, so
//    consecutive windows [a, b) and [b, c) neither overlap nor leave a gap.
//    Retracted (entered-in-error) records are never in output[]: with a
//    `since` they are listed as deleted, without one they are left out.
//  - Type filters (ehr/type_filter.h) narrow what the window holds, type by
//    type, and only output[]: deleted/ lists every record of the exported
//    types retracted or purged in the window, whether or not it matched
//    (a purged record has nothing left to match, and a receiver ignores the
//    DELETE of a record it never had). A record that no longer matches is
//    simply not exported again; it is never listed as deleted.
//  - Atomic output: files are written (mode 0600) into a hidden temporary
//    sibling ".NAME.tmp-XXXXXX" (mode 0700) that the run holds locked,
//    fsynced with their directories, and renamed to out_dir only when all
//    is written and audited. A failed run removes its temporary directory;
//    one killed (SIGKILL, power loss) leaves it, and the next export into
//    the same parent removes any such directory that no running export
//    holds: those of out_dir's own name, and those of other names that still
//    carry the mark (".ehr-export-incomplete") an unfinished run leaves in it.
//  - Access and audit: the user needs export on each type asked for (on
//    Patient when no type is named; the built-in policy gives it to the
//    service role), else the run fails before anything is read
//    (kAccessDenied, audited). Each record is then decided on its own
//    facts (patient, security labels, code): one the user may not export
//    (such as a record labelled restricted or psychotherapy, which the
//    service role has no clearance for) is withheld, as a read withholds
//    it: left out of output[] and deleted[], counted in
//    ExportReport::withheld and the manifest, never named. Where the
//    decision names fields, the record is exported reduced to them and
//    labelled REDACTED (NDJSON), and every CSV column comes from that
//    reduced record (see ExportFormat). A type filter is matched against
//    the record as the decision lets the user export it, and only after
//    the decision, so that it never reveals a withheld element.
//    A successful run writes, in its transaction, one audit entry (action
//    export) per patient whose records it wrote, with the count per type,
//    and one for the run (its detail ending ", N withheld" when the policy
//    withheld some); with a session recipient they are disclosures
//    (ehr/audit.h list_disclosures).
//  - Encrypted hand-over (encrypt_to): every file, manifest.json included,
//    is sealed to the recipient's key as it is written (ehr/seal.h; no
//    plaintext reaches the disk) and named with ".ehrenc" appended
//    (Patient.001.ndjson.ehrenc, deleted/Bundle.001.ndjson.ehrenc,
//    manifest.json.ehrenc). The manifest's url, bytes and sha256 describe
//    the sealed files, so a receiver can check them before decrypting.
//    With sign_with, each file also carries an Ed25519 signature.
// The manifest's "extension" also holds "withheld": the number of records
// the policy withheld (only when there are some); with type filters, "typeFilters":
// their canonical forms (TypeFilter::canonical, the parameters --lenient
// ignored left out); with a group, "group": {"file" (as named), "members"
// (patients in it), and with a job "added" and "removed" (see job)}.
//
// Thread safety: as the Session.

#ifndef EHR_EXPORT_H_
#define EHR_EXPORT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ehr/progress.h"
#include "ehr/seal.h"
#include "ehr/session.h"
#include "ehr/status.h"
#include "ehr/type_filter.h"

namespace ehr {

// The files of an output directory: NDJSON as above, or CSV for spreadsheets:
// one Type.csv per type (never split; max_file_bytes does not apply) with a
// header row and the columns patient, type, id, version, last_updated, date,
// status, code_system, code, display, value, unit (ehr/summary.h; RFC 4180,
// CRLF, UTF-8 without a byte-order mark; a cell that a spreadsheet would run
// as a formula, starting with = + - @ TAB or CR and not a plain number, gets
// a leading apostrophe), and with a since deleted.csv (type, id, patient)
// instead of deleted/; manifest.json the same, its urls naming the .csv
// files and count their data rows. The same access decisions as NDJSON:
// every column of a record reduced to the decision's fields comes from the
// reduced record, so the patient column is blank unless a kept element
// names the patient (for a Patient, its own id always shows), and
// deleted.csv leaves the patient blank for such a type.
enum class ExportFormat { kNdjson, kCsv };

// A cohort file (ehr export --group FILE), read by the caller. Its format is
// told by its content:
//  - a FHIR Group resource (JSON: the first non-blank character is '{'):
//    each member's entity.reference, "Patient/ID" (also versioned; an
//    absolute URL names another server's patient and is an error); members
//    with inactive true are left out;
//  - otherwise lines: one patient id or MRN a line (resolved as
//    ExportOptions::patients are), surrounding whitespace trimmed; blank
//    lines and comments ignored: a '#' at the start of a line or after
//    whitespace starts a comment that runs to the line's end (so an MRN may
//    hold a '#' of its own); a UTF-8 byte-order mark is ignored.
// Duplicates count once. A group without members is an error.
struct ExportGroup {
  // The file as named, for messages ("cohort.txt:3: no patient X");
  // "-" is standard input, named "<stdin>". A job keeps the file's absolute
  // path (or "-") as its group. REQUIRES: non-empty.
  std::string name;
  // The file's content.
  std::string text;
};

struct ExportOptions {
  ExportFormat format = ExportFormat::kNdjson;
  // The output directory: must not exist, or be an empty directory; its
  // parent must exist. REQUIRES: non-empty.
  std::string out_dir;
  // Resource types to export (R4 names); empty = every type.
  std::vector<std::string> types;
  // Patients (ids or MRNs, as find_patient): only their compartments, each
  // the Patient and the records whose patient it is, and the stored
  // Practitioner, PractitionerRole, Organization, Location and Medication
  // records those reference, followed transitively (so that the output
  // stands on its own, as Bulk Data allows for patient-level exports;
  // the types and window apply to them too). Empty = every record, with or
  // without a patient.
  std::vector<std::string> patients;
  // A cohort: its members' compartments, as `patients` (and together with
  // them: the union). std::nullopt = none.
  std::optional<ExportGroup> group;
  // Type filters: records of a type some filter names are exported only
  // when one of its filters matches (ehr/type_filter.h); other types are
  // not filtered. With `types`, each filter's type must be one of them.
  // Default: none.
  TypeFilterSet type_filters;
  // Instants (YYYY-MM-DDThh:mm:ss[.sss] with Z or an offset): the window of
  // last changes, since inclusive, until exclusive. "" = unbounded.
  std::string since;
  std::string until;
  // A new file of the same type starts when the next line would make the
  // current one larger (a single larger line gets a file of its own).
  // REQUIRES: > 0.
  std::int64_t max_file_bytes = std::int64_t{256} << 20;
  // A named incremental job for cron ([A-Za-z0-9._-], 1 to 64 characters;
  // "" = none). Its first run exports everything, as without `since`; each
  // later run exports what changed after the change sequence its last
  // successful run reached, with deleted/ for what was retracted or purged
  // meanwhile: the checkpoint is the database's change sequence, never a
  // clock. `since` and `until` must then be empty. The job keeps the types,
  // patients, group and type filters of its first run (the filters in their
  // canonical form, so their order and spelling do not matter); a run asking
  // for others is kInvalidArgument.
  // A job's group is its file, not a frozen member list: each run reads it
  // again, and its last successful run's members are kept in the database.
  // Members who were in that run get the window since the checkpoint;
  // members new since then get their whole history (their current records,
  // none listed as deleted), as Bulk Data's group membership pattern has it;
  // members no longer in the file get nothing more (no deletions either).
  // A run holds the job's lock from start to end (kBusy
  // when another run of the job holds it; the kernel drops the lock of a
  // run that dies, so none is ever left stale). The checkpoint advances only
  // once the output directory is in place: a run that fails or is killed
  // before leaves it unchanged, and the next run exports the whole window.
  std::string job;
  // The manifest's "request": what was asked, with no secret in it.
  std::string request;
  // Seal every file to this recipient key (see above). nullptr = plaintext.
  const RecipientKey* encrypt_to = nullptr;
  // With encrypt_to: sign every file with this signing key (the 32-byte
  // Ed25519 seed of a key file, as ehr/audit.h signing_public_key takes).
  // nullptr = unsigned.
  const Secret* sign_with = nullptr;
  // Plaintext output asked for explicitly (ehr export --plaintext): needed
  // without encrypt_to when the policy's export_requires_encryption is set.
  bool plaintext = false;
  // Polled between records; when it returns true the run stops with
  // kInterrupted and leaves nothing behind. Empty = never.
  std::function<bool()> cancelled;
};

// One written file.
struct ExportFile {
  std::string type;    // resource type ("Bundle" for deleted files)
  std::string url;     // relative to out_dir: "Patient.001.ndjson"
  std::int64_t count = 0;  // lines (resources, or Bundles for deleted files)
  std::int64_t bytes = 0;
  std::string sha256;  // hex
};

struct ExportReport {
  std::string out_dir;
  std::string transaction_time;
  std::int64_t change_sequence = 0;
  std::vector<ExportFile> output;   // by type, then number
  std::vector<ExportFile> deleted;
  std::map<std::string, std::int64_t> types;  // resources written per type
  std::int64_t resources = 0;   // lines of output[]
  std::int64_t deletions = 0;   // DELETE entries of deleted[]
  std::int64_t patients = 0;    // patients whose records were written
  // Records in the window the access policy let the user not export,
  // left out of output[] and deleted[] (counted before any type filter).
  std::int64_t withheld = 0;
  std::int64_t bytes = 0;       // every file, manifest.json included
  // With a job: whether this was its first run, and the checkpoint its
  // window started after (change sequence and transactionTime of the
  // previous run; 0 and "" on the first).
  bool job_first_run = false;
  std::int64_t job_after_sequence = 0;
  std::string job_after_time;
  // With a group: its members (resolved, unique); with a job also how many
  // of them are new since its last run (all of them on the first) and how
  // many of that run's members are no longer in it.
  std::int64_t group_members = 0;
  std::int64_t group_added = 0;
  std::int64_t group_removed = 0;
  // Temporary directories of earlier killed runs removed before this one.
  std::vector<std::string> removed_stale;
};

// Exports the session's records to options.out_dir.
// Errors (nothing left behind): kInvalidArgument for an empty out_dir, an
// unknown type, a malformed since or until, until not after since,
// max_file_bytes <= 0, sign_with without encrypt_to, plaintext with
// encrypt_to, a type filter for a type not in `types`; kInvalidData for a
// group file that is not one ("FILE: ..."), or has no member; kNotFound
// "FILE:LINE: no patient P" for a group member that is not stored (a JSON
// Group names "FILE: member[I]"), kConflict for an MRN of several; kAccessDenied "the access policy requires exports to be
// encrypted: ..." (audited) when the policy requires encryption and neither
// encrypt_to nor plaintext is given; kNotFound "no patient P"; kConflict when an MRN
// names several patients; kAccessDenied (audited) when the user may not
// export a type asked for (records withheld one by one are no error);
// kAlreadyExists "DIR
// exists and is not empty" (or is not a directory); kCantCreate when the
// parent is missing or not writable; kIoError (also "exported to DIR, but
// the job's checkpoint could not be saved", when the output is in place but
// the next run will repeat its window); kBusy (the database, or the job's
// lock); kInterrupted.
Result<ExportReport> export_bulk(Session& s, const ExportOptions& options, ProgressSink& progress);

}  // namespace ehr

#endif  // EHR_EXPORT_H_
