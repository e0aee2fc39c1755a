// Tests of the check-digit functions (core/src/check_digits.cc), with every
// vector of shared/design/anchors-security-care.md section 3.4.
#include <doctest/doctest.h>

#include <string_view>

#include "ehr/validate.h"

TEST_SUITE("validate") {

TEST_CASE("LOINC codes: the anchor vectors pass and a changed check digit fails") {
  for (std::string_view code : {"12345-5", "2345-7", "4548-4", "718-7", "2160-0", "2823-3",
                                "2951-2", "6690-2", "777-3", "2093-3", "17861-6", "2028-9"}) {
    CAPTURE(code);
    CHECK(ehr::loinc_code_valid(code));
  }
  for (std::string_view code : {"12345-4", "2345-8", "4548-5", "718-6", "2160-1", "2823-4",
                                "2832-3", "17861-7", "2028-0"}) {
    CAPTURE(code);
    CHECK_FALSE(ehr::loinc_code_valid(code));
  }
}

TEST_CASE("LOINC codes: the 14 legacy codes with published bad check digits are valid") {
  for (std::string_view code : {"11491-6", "11501-6", "5895-7", "5896-5", "5897-3", "5928-1",
                                "6028-3", "6415-5", "6580-7", "6645-7", "6646-5", "6647-3",
                                "6648-1", "6649-9"}) {
    CAPTURE(code);
    CHECK(ehr::loinc_code_valid(code));
  }
  // The list is exact: other wrong digits of the same codes still fail.
  CHECK_FALSE(ehr::loinc_code_valid("11491-5"));
  CHECK_FALSE(ehr::loinc_code_valid("5895-6"));
  CHECK_FALSE(ehr::loinc_code_valid("6649-7"));
}

TEST_CASE("LOINC Part and Answer ids use the OpenMRS alphanumeric variant") {
  for (std::string_view code : {"LA6568-5", "LA6570-1", "LA11841-6", "LA13909-9", "LP29684-5",
                                "LP29708-2", "LP7839-6"}) {
    CAPTURE(code);
    CHECK(ehr::loinc_code_valid(code));
  }
  CHECK_FALSE(ehr::loinc_code_valid("LA6568-0"));  // the digits-only Luhn digit
  CHECK_FALSE(ehr::loinc_code_valid("LP29684-8"));
}

TEST_CASE("LOINC codes of the wrong shape are invalid") {
  for (std::string_view code : {"", "2345", "2345-", "-7", "2345-77", "23 45-7", "12345678-5",
                                "la6568-5", "L6A568-5", "2345_7", "2345-X", " 2345-7"}) {
    CAPTURE(code);
    CHECK_FALSE(ehr::loinc_code_valid(code));
  }
}

TEST_CASE("NPI: Luhn with the 80840 prefix") {
  CHECK(ehr::npi_valid("1234567893"));
  CHECK_FALSE(ehr::npi_valid("1234567890"));
  CHECK(ehr::npi_valid("1245319599"));   // CMS's worked example
  CHECK(ehr::npi_valid("2000000002"));
  for (std::string_view npi : {"", "123456789", "12345678931", "123456789X", "3234567893",
                               "9999974493", "0234567893"}) {
    CAPTURE(npi);
    CHECK_FALSE(ehr::npi_valid(npi));
  }
}

TEST_CASE("SNOMED CT SCTIDs: Verhoeff check digit and partition id") {
  for (std::string_view id : {"22298006", "73211009", "404684003", "138875005", "44054006",
                              "900000000000207008", "195967001", "1221000119103"}) {
    CAPTURE(id);
    CHECK(ehr::snomed_sctid_valid(id));
  }
  CHECK_FALSE(ehr::snomed_sctid_valid("22298007"));
  CHECK_FALSE(ehr::snomed_sctid_valid("73211008"));
  for (std::string_view id : {"", "12345", "0022298006", "1234567890123456789", "2229800a6",
                              "22298076"}) {  // 22298076: partition 07 is unknown
    CAPTURE(id);
    CHECK_FALSE(ehr::snomed_sctid_valid(id));
  }
}

TEST_CASE("Luhn and Verhoeff helpers") {
  CHECK(ehr::luhn_valid("79927398713"));
  CHECK_FALSE(ehr::luhn_valid("79927398710"));
  CHECK_FALSE(ehr::luhn_valid("7"));
  CHECK_FALSE(ehr::luhn_valid("7992739871a"));
  CHECK(ehr::verhoeff_valid("2363"));  // the classic example: 236 -> 3
  CHECK_FALSE(ehr::verhoeff_valid("2364"));
  CHECK_FALSE(ehr::verhoeff_valid(""));
  CHECK_FALSE(ehr::verhoeff_valid("23a3"));
}

}
