// Space-separated lists as the users, audit and index tables store them
// (roles "admin physician", security codes "R PSYTHPN").

#ifndef EHR_CORE_WORDS_H_
#define EHR_CORE_WORDS_H_

#include <string>
#include <string_view>
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

// Whether `s` is non-empty and all ASCII digits.
inline bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Whether `word` is one of the space-separated words of `s`.
inline bool has_word(const std::string& s, const std::string& word) {
  if (word.empty()) return false;
  for (size_t at = s.find(word); at != std::string::npos; at = s.find(word, at + 1)) {
    size_t end = at + word.size();
    if ((at == 0 || s[at - 1] == ' ') && (end == s.size() || s[end] == ' ')) return true;
  }
  return false;
}

// `words` joined by `sep`.
inline std::string join_words(const std::vector<std::string>& words, const char* sep = " ") {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

}  // namespace ehr::detail

#endif  // EHR_CORE_WORDS_H_
