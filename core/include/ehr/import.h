// Batch import (ehr import): FHIR Bundles (transaction, batch, collection),
// Bulk Data NDJSON, Synthea CSV directories and other CSV through a YAML
// mapping, streamed record by record into the session's database.
//
// What it guarantees:
//  - Formats are told apart by content, not by file name; directories are
//    walked (sorted, hidden entries skipped) and their files ordered so that
//    what records refer to (Organization, Practitioner, Location, Medication,
//    then Patient, then Encounter) comes first.
//  - Idempotent: a record matches a stored one by type and id, then by an
//    identifier (system and value, of a record stored before this run; when
//    its identifiers match several stored records it matches none, is
//    stored under its own id and warned about); the same content again is "unchanged" and writes nothing. Changed content
//    follows ImportOptions::on_conflict.
//  - Transactions: one per Bundle (a transaction Bundle is all or nothing),
//    one per file otherwise, or one per batch_size records. A record is
//    written whole or not at all. dry_run validates everything in one
//    transaction that is rolled back.
//  - References: urn:uuid fullUrls of a Bundle become the assigned Type/id;
//    conditional references (Type?identifier=system|value) resolve to the one
//    record they match; a urn:uuid no entry and no record has, or a
//    conditional reference matching none or several, is a dangling
//    reference and rejects its record. Relative references to records not
//    in the database are kept (Bulk Data exports refer outside themselves).
//  - Every write passes the access decision point (action import) and each
//    chunk of up to 1000 written records gets one Provenance resource (who,
//    when, which file) and one audit entry (its patients, counts per type).
//  - Sealed files (ehr/seal.h; an encrypted export, named *.ehrenc) are
//    told apart by their magic and decrypted as they are read, with
//    ImportOptions::unseal.identity; each chunk authenticates before any
//    record in it is used, so a changed byte fails its file (whose
//    transaction rolls back; with batch_size, earlier batches of it stay).
//    A sealed file without an identity is an error before anything is read.
//  - Patient matching (ImportOptions::match, ehr/matching.h): an incoming
//    Patient that matches no stored one by id or identifier is compared
//    with the stored patients that share a blocking key. Under kAuto a
//    single `match` links it to the stored patient: its identifiers are
//    added there (a new version), its id becomes an alias so that its
//    records land on the stored patient, and the chunk's Provenance names
//    the link; importing it again finds the link and changes nothing.
//    Anything less certain (a possible-match, two matches, or any match
//    under kReview) stores it as its own patient and queues each pair for
//    review (ehr patient duplicates). A patient merged into another
//    (ehr/patient_merge.h) is left as merged: the incoming copy of it counts
//    as unchanged, and its records land on the target.
//  - Memory is constant in the input's size: one record is held at a time
//    (a whole Bundle for Bundles), references resolve through the database,
//    and the connection's page cache is raised to 128 MiB for the import
//    (peak RSS about 155 MiB for CSV and NDJSON) and put back after.
//
// Thread safety: as the Session.

#ifndef EHR_IMPORT_H_
#define EHR_IMPORT_H_

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <functional>
#include <string>
#include <vector>

#include "ehr/care.h"
#include "ehr/matching.h"
#include "ehr/progress.h"
#include "ehr/seal.h"
#include "ehr/session.h"
#include "ehr/status.h"

namespace ehr {

enum class ImportFormat { kAuto, kBundle, kNdjson, kSyntheaCsv, kCsv };
// "auto", "bundle", "ndjson", "synthea-csv", "csv".
std::string_view import_format_name(ImportFormat f);
std::optional<ImportFormat> parse_import_format(std::string_view name);

// What to do with a record whose id (or identifier) is stored with other
// content. kRequest (the default) follows the request: a Bundle entry's PUT
// updates, its POST creates only if none exists (so the stored one is kept,
// as FHIR's conditional create does), and NDJSON and CSV records update
// (Bulk Data import is an upsert).
enum class OnConflict { kRequest, kFail, kSkip, kUpdate };
// Patient matching on import: kAuto links a certain match, kReview (the
// default) only queues pairs for review, kOff does neither.
enum class MatchMode { kAuto, kReview, kOff };
std::string_view on_conflict_name(OnConflict c);
std::optional<OnConflict> parse_on_conflict(std::string_view name);

struct ImportOptions {
  ImportFormat format = ImportFormat::kAuto;
  // A YAML mapping file for CSV input (--mapping): every CSV file is read
  // through it. Required for kCsv; with kAuto, CSV files that are not a
  // Synthea table need it.
  std::string mapping_path;
  char delimiter = ',';  // CSV field delimiter
  OnConflict on_conflict = OnConflict::kRequest;
  // false (stop): the first rejected record ends the import; its
  // transaction rolls back, earlier ones stay committed. true (continue):
  // rejected records are reported and skipped (a transaction Bundle with one
  // is rejected whole, a file that cannot be read on is refused whole), the
  // rest is committed.
  bool continue_on_error = false;
  // Records per transaction; 0 = one transaction per file or Bundle.
  std::int64_t batch_size = 0;
  bool dry_run = false;
  // The largest record (an NDJSON line, a CSV record, a whole Bundle file).
  std::size_t max_record_bytes = std::size_t{64} << 20;
  // What "-" reads; nullptr = file descriptor 0.
  std::istream* stdin_stream = nullptr;
  // The medication-allergy check of ehr care (issue 9): when set, every
  // MedicationRequest, MedicationStatement, MedicationAdministration and
  // MedicationDispense about to be written is checked against its patient's
  // stored AllergyIntolerance records. A conflict is a warning (rule
  // "allergy-conflict", naming only the severity and the allergy's id) and
  // an audit entry (care-alert); with strict_allergies, a high or moderate
  // conflict rejects the record instead (audited as a refused create).
  const DrugClassMap* drug_classes = nullptr;
  bool strict_allergies = false;
  // Sealed inputs: the identity that opens them and the signer they must
  // carry (ehr/seal.h). Errors of sealed files (no or wrong identity:
  // kAuthFailed; a changed byte, truncation, bad or missing signature:
  // kCorruption) name the file and fail the import.
  UnsealOptions unseal;
  // Patient matching (see above); `matching` nullptr = the built-in weights.
  MatchMode match = MatchMode::kReview;
  const MatchConfig* matching = nullptr;
  // Polled before each record; once it returns true the import stops: the
  // open transaction rolls back (transactions already committed stay) and
  // the report's failure is kInterrupted. Empty = never.
  std::function<bool()> cancelled;
};

// One incoming patient that matching linked or queued.
struct ImportMatch {
  std::string incoming;  // the incoming Patient's id
  std::string patient;   // the stored patient it was linked to or paired with
  double score = 0;
  std::string result;    // "match" or "possible-match"
  std::string action;    // "linked" or "queued"
};

// One rejected record.
struct ImportReject {
  std::string file;      // as given (or "stdin")
  std::int64_t line = 0;   // line of an NDJSON or CSV record; 0 for a Bundle file
  std::int64_t entry = 0;  // 1-based index of a Bundle entry; 0 otherwise
  std::string type;      // the resource type when known
  std::string path;      // FHIR path or CSV column the rule is about, "" when none
  std::string rule;      // stable id: "json", "csv", "validation rule ids", "conflict",
                         // "dangling-reference", "access", "duplicate-id", ...
  std::string message;   // lower case; quotes no cell values
  std::string original;  // the record as read (line, row, entry JSON)
};

// "FILE:LINE: PATH: MESSAGE" / "FILE: entry N: ..." as printed.
std::string format_reject(const ImportReject& r);

struct ImportCounts {
  std::int64_t read = 0;       // records read of this type
  std::int64_t created = 0;
  std::int64_t updated = 0;    // new versions (including deletions as retractions)
  std::int64_t unchanged = 0;  // same content as stored
  std::int64_t skipped = 0;    // other content stored, kept (on_conflict skip, or POST)
  std::int64_t rejected = 0;
};

struct ImportFileReport {
  std::string path;
  std::string format;      // "bundle", "ndjson", "synthea-csv:observations", "csv:NAME", ...
  std::int64_t records = 0;
  std::int64_t rejected = 0;
  std::string error;       // why the whole file was refused or skipped, "" when neither
  // The file could not be read on (not JSON, cut short, a duplicate member,
  // an unbalanced CSV quote, a mapping its header lacks, a sealed chunk that
  // does not authenticate): what its transaction had read is rolled back and
  // the rest is not read. It counts as one rejected record (type
  // "(unknown)", rule "json", "file", "record-size", "mapping" or "seal",
  // reported to the observer with its line when known), and `error` says
  // why. With continue_on_error the import goes on with the next file.
  bool refused = false;
};

struct ImportReport {
  std::map<std::string, ImportCounts> types;  // by resource type
  std::vector<ImportFileReport> files;
  std::int64_t bytes = 0;
  std::vector<std::string> provenance;        // Provenance ids written
  std::int64_t warnings = 0;                  // ImportObserver::warned calls
  std::map<std::string, std::int64_t> warnings_by_rule;  // the same, by rule
  std::vector<ImportMatch> matches;           // in the order met
  std::int64_t linked = 0;                    // incoming patients linked to stored ones
  std::int64_t queued = 0;                    // pairs queued for review
  bool dry_run = false;
  // Set when the import stopped early (continue_on_error false, or an
  // error no record owns: storage, access to the whole import); what was
  // committed before stays. kInvalidData for a rejected record or a
  // refused file (ImportFileReport::refused).
  std::optional<Error> failure;

  ImportCounts total() const;
};

// Receives rejects as they happen (for --rejects and stderr).
class ImportObserver {
 public:
  virtual ~ImportObserver() = default;
  virtual void rejected(const ImportReject& r) = 0;
  // A record imported with a remark: a validation warning (rule
  // "unknown-element", a check digit an Identifier fails where the rules
  // make that a warning, "blank-string"), "identifier-ambiguous" (its
  // identifiers match several stored records, so it was matched to none
  // and stored under its own id) or "allergy-conflict". Default: ignored.
  virtual void warned(const ImportReject& /*w*/) {}
};

// Imports `paths` (files, directories, "-" for standard input).
// Errors (nothing read): kInvalidArgument for bad options (no paths, a
// mapping with kSyntheaCsv, batch_size < 0, a delimiter of '"' or a line
// end); kConfig "FILE:L:C: ..." for a bad mapping; kNoInput for a missing
// path, or one that cannot be read ("PATH: cannot read: WHY": a file, or a
// directory named or inside one); kAccessDenied when the user may not import at all. Everything
// after that is in the report (failure, rejects).
Result<ImportReport> import_paths(Session& s, const std::vector<std::string>& paths,
                                  const ImportOptions& options, ImportObserver& observer,
                                  ProgressSink& progress);

}  // namespace ehr

#endif  // EHR_IMPORT_H_
