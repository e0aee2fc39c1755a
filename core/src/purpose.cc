// Purposes of use (ehr/audit.h): HL7 v3 PurposeOfUse codes
// (http://terminology.hl7.org/CodeSystem/v3-ActReason) under the names
// `--purpose` takes.
#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "ehr/audit.h"

namespace ehr {

const std::vector<Purpose>& purposes() {
  static const std::vector<Purpose> kAll = {
      {"treatment", "TREAT", "treatment", true},
      {"emergency", "ETREAT", "Emergency Treatment", true},
      {"payment", "HPAYMT", "healthcare payment", true},
      {"operations", "HOPERAT", "healthcare operations", true},
      {"patient-request", "PATRQT", "patient requested", true},
      {"coverage", "COVERAGE", "coverage under policy or program", false},
      {"public-health", "PUBHLTH", "public health", false},
      {"research", "HRESCH", "healthcare research", false},
      {"legal", "HLEGAL", "legal", false},
      {"law-enforcement", "LAW", "law enforcement", false},
      {"family-request", "FAMRQT", "family requested", false},
      {"power-of-attorney", "PWATRNY", "power of attorney", false},
      {"support-network", "SUPNWK", "support network", false},
      {"marketing", "HMARKT", "healthcare marketing", false},
      {"system-administration", "HSYSADMIN", "healthcare system administration", true},
  };
  return kAll;
}

const Purpose* find_purpose(std::string_view name_or_code) {
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const auto& p : purposes())
    if (same(p.name, name_or_code) || same(p.code, name_or_code)) return &p;
  return nullptr;
}

Result<const Purpose*> parse_purpose(std::string_view name_or_code) {
  if (const Purpose* p = find_purpose(name_or_code)) return p;
  std::string known;
  for (const auto& p : purposes()) known += (known.empty() ? "" : ", ") + std::string(p.name);
  return Error::invalid_argument(fmt::format("unknown purpose {} (known: {})", name_or_code, known));
}

}  // namespace ehr
