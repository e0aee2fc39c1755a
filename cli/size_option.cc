// Size option values (size_option.h).
#include "size_option.h"

#include <limits>

namespace ehr::cli {

std::optional<std::int64_t> parse_size(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::int64_t mult = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'K': case 'k': mult = std::int64_t{1} << 10; digits.pop_back(); break;
    case 'M': case 'm': mult = std::int64_t{1} << 20; digits.pop_back(); break;
    case 'G': case 'g': mult = std::int64_t{1} << 30; digits.pop_back(); break;
    default: break;
  }
  if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  std::int64_t n = std::stoll(digits);
  if (n == 0 || n > std::numeric_limits<std::int64_t>::max() / mult) return std::nullopt;
  return n * mult;
}

}  // namespace ehr::cli
