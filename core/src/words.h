// Space-separated lists as the users, audit and index tables store them
// (roles "admin physician", security codes "R PSYTHPN").

#ifndef EHR_CORE_WORDS_H_
#define EHR_CORE_WORDS_H_

#include <string>
#include <vector>

namespace ehr::detail {

// The words of `s`, split at spaces; empty words dropped.
inline std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(' ', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// `words` joined by `sep`.
inline std::string join_words(const std::vector<std::string>& words, const char* sep = " ") {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

}  // namespace ehr::detail

#endif  // EHR_CORE_WORDS_H_
