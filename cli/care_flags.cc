// Shared pieces of the ehr care commands (care_flags.h).
#include "care_flags.h"

#include <fmt/format.h>

namespace ehr::cli {

Result<CareRules> load_care_rules(const Context& ctx) { return CareRules::load(ctx.config().get("care_rules")); }

Result<CivilDate> as_of_date(const std::string& text, const Session& s) {
  if (text.empty()) {
    auto today = parse_civil_date(s.now().substr(0, 10));
    if (!today) return Error::internal("the clock gave no date: " + s.now());
    return *today;
  }
  auto d = parse_civil_date(text);
  if (!d || text.size() != 10)
    return Error::invalid_argument(fmt::format("--as-of: bad date {} (expected YYYY-MM-DD)", text));
  return *d;
}

}  // namespace ehr::cli
