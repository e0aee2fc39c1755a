// What the ehr care commands share: loading the decision-support data named
// by the care_rules setting, and reading --as-of.

#ifndef EHR_CLI_CARE_FLAGS_H_
#define EHR_CLI_CARE_FLAGS_H_

#include <string>

#include "context.h"
#include "ehr/care.h"
#include "ehr/session.h"

namespace ehr::cli {

// The built-in care rules with the care_rules directory laid over them.
// Errors: those of CareRules::load (kConfig, kNoInput).
Result<CareRules> load_care_rules(const Context& ctx);

// The --as-of DATE given, or today (UTC, from the session's clock) when
// `text` is empty. Errors: kInvalidArgument "--as-of: bad date X (expected YYYY-MM-DD)".
Result<CivilDate> as_of_date(const std::string& text, const Session& s);

}  // namespace ehr::cli

#endif  // EHR_CLI_CARE_FLAGS_H_
