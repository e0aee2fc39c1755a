// ehr care check run in-process (cli/cmd_care_check.cc): what it says and
// how it exits when the access policy withheld part of the record.
#include <doctest/doctest.h>

#include <string>

#include "support/cli_runner.h"
#include "support/temp_dir.h"

using ehr::testing::run_cli;

TEST_SUITE("care_check_cli") {

// QA finding care 09: a pharmacist who may not read a restricted (R)
// penicillin allergy got "no findings for patient P" and exit 0, which
// reads as an all-clear.
TEST_CASE("care check: no findings with records withheld is an incomplete check and exits 3") {
  ehr::testing::TempDir dir;
  ehr::testing::CliOptions o;
  o.env = {{"EHR_DB", dir.file("c.db")},
           {"EHR_USER", "alice"},
           {"EHR_KEY_FILE", dir.file("alice.key")},
           {"HOME", dir.path()}};
  REQUIRE(run_cli({"key", "new", "-o", dir.file("alice.key"), "-q"}, o).code == 0);
  REQUIRE(run_cli({"init", "-q", "--role", "physician"}, o).code == 0);
  REQUIRE(run_cli({"key", "new", "-o", dir.file("rx.key"), "-q"}, o).code == 0);
  REQUIRE(run_cli({"user", "add", "rx", "--role", "pharmacist", "--new-key-file", dir.file("rx.key"), "-q"}, o).code ==
          0);
  auto p = run_cli({"patient", "add", "--given", "Pat", "--family", "Test", "--birth-date", "1960-05-05", "--gender",
                    "female", "--mrn", "P1"},
                   o);
  REQUIRE(p.code == 0);
  std::string id = p.out.substr(0, p.out.find('\n'));
  REQUIRE(run_cli({"patient", "team", "add", "P1", "rx", "-q"}, o).code == 0);
  ehr::testing::CliOptions with_allergy = o;
  with_allergy.in =
      R"({"resourceType":"AllergyIntolerance","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},)"
      R"("clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},)"
      R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"764146007","display":"Penicillin"}]}})";
  REQUIRE(run_cli({"record", "add", "--patient", "P1", "--json", "-"}, with_allergy).code == 0);

  // alice reads everything: no findings is an all-clear.
  auto all = run_cli({"care", "check", "--patient", "P1", "--format", "csv"}, o);
  CHECK(all.code == 0);
  CHECK(all.out == "kind,severity,record,what,finding,basis,date\n");
  CHECK(all.err == "ehr: no findings for patient " + id + "\n");

  // rx may not read the restricted allergy.
  ehr::testing::CliOptions rx = o;
  rx.env["EHR_USER"] = "rx";
  rx.env["EHR_KEY_FILE"] = dir.file("rx.key");
  auto part = run_cli({"care", "check", "--patient", "P1", "--format", "csv"}, rx);
  CHECK(part.code == 3);
  CHECK(part.out == "kind,severity,record,what,finding,basis,date\n");
  CHECK(part.err == "ehr: warning: no findings for patient " + id +
                        " in the records you may read; 1 withheld: this check is incomplete\n"
                        "ehr: warning: 1 record withheld by the access policy\n");
  // --quiet does not hide it.
  auto quiet = run_cli({"care", "check", "--patient", "P1", "--format", "csv", "-q"}, rx);
  CHECK(quiet.code == 3);
  CHECK(quiet.err == part.err);
}

}
