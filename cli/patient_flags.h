// The friendly patient flags shared by `patient add` and `patient update`.
#ifndef EHR_CLI_PATIENT_FLAGS_H_
#define EHR_CLI_PATIENT_FLAGS_H_

#include <CLI/CLI.hpp>

#include "ehr/builders.h"

namespace ehr::cli {

inline void add_patient_flags(CLI::App& cmd, PatientFields& f) {
  // One value per flag: a name is text, so "[Baby]" is not CLI11's list
  // syntax; a second name takes its own --given, or quotes (QA finding ops 04).
  cmd.add_option("--given", f.given, "given name(s); repeat for several")->type_name("NAME")->allow_extra_args(false);
  cmd.add_option("--family", f.family, "family name")->type_name("NAME");
  cmd.add_option("--birth-date", f.birth_date, "date of birth, YYYY-MM-DD")->type_name("DATE");
  cmd.add_option("--gender", f.gender, "male, female, other or unknown")->type_name("GENDER");
  cmd.add_option("--mrn", f.mrn, "medical record number (system: mrn_system setting)")->type_name("MRN");
  cmd.add_option("--phone", f.phone, "phone number")->type_name("PHONE");
  cmd.add_option("--email", f.email, "e-mail address")->type_name("EMAIL");
  cmd.add_option("--address", f.address, "postal address as one line of text")->type_name("TEXT");
}

inline bool any_patient_flag(const PatientFields& f) {
  return !f.given.empty() || !f.family.empty() || !f.birth_date.empty() || !f.gender.empty() ||
         !f.mrn.empty() || !f.phone.empty() || !f.email.empty() || !f.address.empty();
}

}  // namespace ehr::cli

#endif  // EHR_CLI_PATIENT_FLAGS_H_
