// The name decide() gives a rule of the built-in policy ("physician allow 1
// (line 66)"), found in schemas/policy/default.yaml's text, so that tests
// name rules without hard-coding line numbers that move when the file does.
#ifndef EHR_TESTS_SUPPORT_POLICY_LINES_H_
#define EHR_TESTS_SUPPORT_POLICY_LINES_H_

#include <sstream>
#include <string>

#include "ehr/access.h"

namespace ehr::testing {

// `kind` is "allow" or "deny"; `n` counts from 1. "" if there is no such rule.
inline std::string builtin_rule(const std::string& role, const std::string& kind, int n) {
  std::istringstream in{std::string(Policy::builtin_text())};
  std::string line;
  int number = 0, seen = 0;
  enum { kRole, kKind, kRules } state = kRole;
  while (std::getline(in, line)) {
    ++number;
    if (state == kRole && line == "  " + role + ":") state = kKind;
    else if (state == kKind && line == "    " + kind + ":") state = kRules;
    else if (state == kRules && line.rfind("      - ", 0) == 0 && ++seen == n)
      return role + " " + kind + " " + std::to_string(n) + " (line " + std::to_string(number) + ")";
    else if (state != kRole && line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ')
      return "";  // the next role began
  }
  return "";
}

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_POLICY_LINES_H_
