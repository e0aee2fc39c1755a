// One patient, one record: the stored side of patient matching (the engine
// is ehr/matching.h). Finding duplicates among the stored patients, the
// review queue an import fills, merging one patient into another, undoing
// a merge exactly, and recording that two patients are not one.
//
// Every function needs the merge permission on Patient for each patient it
// touches (the registrar's in the default policy) and writes its audit
// entry; none prints. A merge is one transaction: it rewrites every
// reference to the source (in records of any type but Provenance, whose
// account of what was done stays true; versioned references name a version
// and stay too) to the target, links
// the two (the source becomes inactive and `replaced-by` the target, the
// target `replaces` it), writes a Provenance, and keeps what it changed so
// that unmerge restores exactly the references it moved. The source's id
// becomes an import alias of the target's (ehr/import.h), so that its old
// export imported again lands on the target and leaves the merge standing. A source merges
// into one target; a merged source cannot be a target, nor can a patient
// that others were merged into be merged itself (so no chain is left
// half-followed).

#ifndef EHR_PATIENT_MERGE_H_
#define EHR_PATIENT_MERGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ehr/matching.h"
#include "ehr/session.h"
#include "ehr/status.h"

namespace ehr {

// One side of a proposed pair, as a person reviewing it needs to see it.
struct DuplicateSide {
  std::string id;
  std::string name;        // "Family, Given Given" of the first name
  std::string birth_date;
  std::string sex;
};

struct DuplicatePair {
  DuplicateSide a, b;      // a.id < b.id
  MatchScore score;
  std::string found_by;    // "import" (queued when an import met it), "identifier" (an
                           // import met two patients holding one identifier whose
                           // demographics do not match: listed whatever the score) or "scan"
  std::string queued;      // when an import queued it ("" for scan)
};

struct DuplicateQuery {
  // Pairs scoring at least this; nullopt = the possible-match threshold.
  std::optional<double> min_score;
  std::string patient;     // only pairs with this patient (id or MRN); "" = all
  bool queue_only = false; // only the review queue, no scan of the database
  int limit = 0;           // 0 = no limit
};

struct DuplicateReport {
  std::vector<DuplicatePair> pairs;  // highest score first, then by ids
  std::int64_t patients = 0;         // patients with blocking keys considered
  std::int64_t compared = 0;         // pairs scored
  std::int64_t common_keys = 0;      // keys shared by more than max_block patients, not used
  std::int64_t withheld = 0;         // pairs with a patient the user may not review
};

// The review queue and a blocked scan of every stored patient (or of one
// patient's candidates), leaving out merged sources, pairs decided
// not-duplicate and pairs below the minimum score. Pairs whose patients the
// user may not review are counted in `withheld`, not shown. One audit entry
// (search, with the patients listed and the count).
// Errors: kInvalidArgument for a bad minimum score; kNotFound "no patient P";
// kAccessDenied when the user may not review duplicates at all.
Result<DuplicateReport> find_duplicates(Session& s, const MatchConfig& config, const DuplicateQuery& q);

struct MergeOutcome {
  std::string source, target;  // patient ids
  std::int64_t records = 0;    // records whose references were moved (or moved back)
  std::string provenance;      // the Provenance id written
};

// Merges patient `source` into `target` (ids or MRNs). REQUIRES: reason
// non-empty. Errors: kInvalidArgument (no reason, source = target);
// kNotFound; kConflict "Patient/S was merged into Patient/T already",
// "Patient/T was merged into Patient/X: merge into Patient/X", "Patient/S
// holds the records of Patient/A merged into it: unmerge A first",
// "Patient/S is retracted"; kAccessDenied.
Result<MergeOutcome> merge_patients(Session& s, const std::string& source, const std::string& target,
                                    const std::string& reason);

// Undoes the merge of `source`: every reference the merge moved that still
// points at the target points at the source again, the links it added are
// removed and the source's active flag is as it was. Records written to
// the target after the merge stay with the target. REQUIRES: reason
// non-empty. Errors: kNotFound "Patient/S is not merged"; kAccessDenied.
Result<MergeOutcome> unmerge_patient(Session& s, const std::string& source, const std::string& reason);

// Records that `a` and `b` are different people: the pair leaves the review
// queue and is never proposed again. REQUIRES: reason non-empty.
// Errors: kInvalidArgument (a = b, no reason); kNotFound; kAccessDenied.
Status mark_not_duplicate(Session& s, const std::string& a, const std::string& b, const std::string& reason);

}  // namespace ehr

#endif  // EHR_PATIENT_MERGE_H_
