// Instants as ehr stores them (meta.lastUpdated, audit times): UTC with
// milliseconds, "YYYY-MM-DDThh:mm:ss.mmmZ", so that they compare as text.

#ifndef EHR_CORE_INSTANT_H_
#define EHR_CORE_INSTANT_H_

#include <string>
#include <string_view>

namespace ehr::detail {

// An instant YYYY-MM-DDThh:mm:ss[.fff...](Z|+hh:mm|-hh:mm) in the stored
// form (UTC, milliseconds; finer digits dropped), or "" when `s` is not one.
std::string normalised_instant(std::string_view s);

}  // namespace ehr::detail

#endif  // EHR_CORE_INSTANT_H_
