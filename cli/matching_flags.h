// The matching weights a command uses: the built-in schemas/matching.yaml,
// or the file the `matching` config key names.
#ifndef EHR_CLI_MATCHING_FLAGS_H_
#define EHR_CLI_MATCHING_FLAGS_H_

#include "context.h"
#include "ehr/matching.h"

namespace ehr::cli {

inline Result<MatchConfig> load_matching(const Context& ctx) {
  return MatchConfig::load(ctx.config().get("matching"));
}

}  // namespace ehr::cli

#endif  // EHR_CLI_MATCHING_FLAGS_H_
