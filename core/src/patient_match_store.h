// The stored side of matching that the importer shares with
// ehr/patient_merge.h: candidates through the match_key table and the
// review queue. No decision is taken and no audit entry written here.

#ifndef EHR_CORE_PATIENT_MATCH_STORE_H_
#define EHR_CORE_PATIENT_MATCH_STORE_H_

#include <string>
#include <vector>

#include "ehr/matching.h"
#include "session_impl.h"

namespace ehr::detail {

struct MatchCandidate {
  std::string id;           // the stored patient's id
  std::string security;     // its meta.security codes (for the caller's decision)
  MatchScore score;
};

// Stored patients sharing a blocking key with `f`, scored against it, best
// first (score, then id). Leaves out f.id itself, merged sources, pairs
// decided not-duplicate and keys shared by more than config.max_block
// patients. Only candidates at or above the possible-match threshold.
Result<std::vector<MatchCandidate>> match_candidates(SessionImpl& s, const MatchFeatures& f,
                                                     const MatchConfig& config);

// Puts the pair (a, b) in the review queue (or refreshes its score), in
// either order. REQUIRES: inside a transaction.
Status queue_for_review(SessionImpl& s, const std::string& a, const std::string& b, const MatchScore& m,
                        const std::string& found_by);

// "family:exact given:phonetic ..." : a score's agreeing fields as one word list.
std::string agreed_fields(const MatchScore& m);

}  // namespace ehr::detail

#endif  // EHR_CORE_PATIENT_MATCH_STORE_H_
