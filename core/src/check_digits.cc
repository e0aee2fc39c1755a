// Check digits of the identifiers FHIR data carries (ehr/validate.h): Luhn,
// Verhoeff, LOINC mod 10 with its published exceptions, NPI, SNOMED CT SCTID.
// Algorithms as in shared/design/anchors-security-care.md section 3.4.

#include <array>
#include <string_view>

#include "ehr/validate.h"
#include "fhir_rules.h"

#include "words.h"

namespace ehr {

namespace {

using detail::all_digits;

// Sum of Luhn weights over `s` read right to left, the rightmost character
// doubled first (it is the digit the check digit follows). Characters count as
// their ASCII code minus 48, so letters work (the OpenMRS variant LOINC uses
// for LP/LA codes); for digits this is plain Luhn.
int luhn_weight_sum(std::string_view s) {
  int sum = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    int d = s[s.size() - 1 - i] - '0';
    // 2d with its digits added, written so letters (d > 9) follow OpenMRS.
    sum += (i % 2 == 0) ? 2 * d - (d / 5) * 9 : d;
  }
  return sum;
}

int luhn_check_digit(std::string_view base) { return (10 - luhn_weight_sum(base) % 10) % 10; }

// Verhoeff tables: d is the multiplication table of the dihedral group D5,
// p the permutation applied by position (period 8).
constexpr std::array<std::array<int, 10>, 10> kVerhoeffD = {{
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
    {2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
    {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
    {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
    {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
}};
constexpr std::array<std::array<int, 10>, 8> kVerhoeffP = {{
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
    {5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
    {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
    {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
}};

}  // namespace

bool luhn_valid(std::string_view digits) {
  if (!all_digits(digits) || digits.size() < 2) return false;
  return luhn_check_digit(digits.substr(0, digits.size() - 1)) == digits.back() - '0';
}

bool verhoeff_valid(std::string_view digits) {
  if (!all_digits(digits)) return false;
  int c = 0;
  for (size_t i = 0; i < digits.size(); ++i)
    c = kVerhoeffD[c][kVerhoeffP[i % 8][digits[digits.size() - 1 - i] - '0']];
  return c == 0;
}

bool loinc_code_valid(std::string_view code) {
  // <letters><digits>-<digit>; letters only as a prefix (LP, LA, LG, LL, X).
  size_t dash = code.find('-');
  if (dash == std::string_view::npos || dash + 2 != code.size()) return false;
  std::string_view base = code.substr(0, dash);
  size_t letters = 0;
  while (letters < base.size() && base[letters] >= 'A' && base[letters] <= 'Z') ++letters;
  std::string_view number = base.substr(letters);
  if (!all_digits(number) || !all_digits(code.substr(dash + 1))) return false;
  if (letters == 0 && number.size() > 7) return false;
  if (luhn_check_digit(base) == code.back() - '0') return true;
  const auto& rules = detail::embedded_fhir_rules();
  return rules.ok() && rules->loinc_legacy.contains(code);
}

bool npi_valid(std::string_view npi) {
  if (npi.size() != 10 || !all_digits(npi) || (npi[0] != '1' && npi[0] != '2')) return false;
  // Luhn as if the card-issuer prefix 80840 stood in front of the NPI.
  return luhn_check_digit(std::string("80840").append(npi.substr(0, 9))) == npi[9] - '0';
}

bool snomed_sctid_valid(std::string_view sctid) {
  if (sctid.size() < 6 || sctid.size() > 18 || !all_digits(sctid) || sctid[0] == '0') return false;
  // Partition id: the two digits before the check digit. 0x short format, 1x
  // long format (with a namespace); x = 0 concept, 1 description, 2
  // relationship, 3-5 the RF1 subset and cross-map kinds.
  char format = sctid[sctid.size() - 3];
  char kind = sctid[sctid.size() - 2];
  if ((format != '0' && format != '1') || kind > '5') return false;
  return verhoeff_valid(sctid);
}

}  // namespace ehr
