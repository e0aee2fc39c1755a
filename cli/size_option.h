// The value of a size option (--max-file-size, --max-record-size).
#ifndef EHR_CLI_SIZE_OPTION_H_
#define EHR_CLI_SIZE_OPTION_H_

#include <cstdint>
#include <optional>
#include <string>

namespace ehr::cli {

// Parses a size such as "256M": up to 12 digits, then optionally K, M or G
// (either case) for 2^10, 2^20 or 2^30 bytes. Returns nullopt for an empty
// or zero size, a sign, a fraction, any other suffix, and a size past 2^63-1.
std::optional<std::int64_t> parse_size(const std::string& text);

}  // namespace ehr::cli

#endif  // EHR_CLI_SIZE_OPTION_H_
