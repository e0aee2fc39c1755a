// Building FHIR R4 resources from the friendly fields of `ehr patient add`
// and `ehr record add`, so a clinician's "weight 72.5 kg" becomes a proper
// vital-signs Observation with LOINC code and UCUM unit. The result still
// goes through validation when it is stored.

#ifndef EHR_BUILDERS_H_
#define EHR_BUILDERS_H_

#include <string>
#include <vector>

#include "ehr/json.h"
#include "ehr/status.h"

namespace ehr {

struct PatientFields {
  std::vector<std::string> given;
  std::string family;
  std::string birth_date;  // YYYY-MM-DD
  std::string gender;      // male|female|other|unknown
  std::string mrn;         // with mrn_system
  std::string mrn_system;
  std::string phone;
  std::string email;
  std::string address;     // free text: "12 Main St, Springfield, IL 62701"
};

// A Patient from `f` (no id: the store assigns one). Applies only the fields
// that are set, onto `base` when given (patient update). Errors:
// kInvalidArgument naming the flag ("--gender must be one of male, female,
// other, unknown", "--birth-date must be YYYY-MM-DD").
Result<Json> build_patient(const PatientFields& f, Json base = Json());

struct RecordFields {
  std::string kind;        // see record_kinds()
  std::string patient;     // patient id
  std::string code;
  std::string system;      // URI or alias (loinc, snomed, rxnorm, cvx, icd10, ucum)
  std::string display;
  std::string value;       // a number for vital and lab; text for notes
  std::string unit;        // UCUM
  std::string date;        // when it happened: YYYY-MM-DD or an instant
  // The time of recording, an instant (YYYY-MM-DDThh:mm:ssZ): the date of a
  // kind dated when recorded (record_kind_dated_when_recorded) that has no
  // `date`. "" leaves such a record undated.
  std::string recorded_at;
  std::string status;      // overrides the kind's default status
  std::string systolic, diastolic;
  std::string criticality;  // low|high|unable-to-assess
  std::string reaction;     // allergy reaction manifestation text
  std::string category;     // allergy: food|medication|environment|biologic
  std::string dosage;       // medication dosage text
  std::string encounter_class;  // AMB, EMER, IMP, ...
};

// The kinds `record add --type` accepts, with a one-line description each.
const std::vector<std::pair<std::string, std::string>>& record_kinds();

// Whether a record of kind `k` without --date is dated at the time of
// recording (f.recorded_at): vital, lab, blood-pressure, procedure,
// medication (an order is authored when written), encounter and note. Not a
// condition or allergy (an onset may be unknown), a medication-statement
// (when the patient started is not when it was recorded) or an immunization
// (which needs --date).
bool record_kind_dated_when_recorded(const std::string& k);

// Builds the resource for `f.kind`. Errors: kInvalidArgument naming the
// missing or malformed flag ("--code is required for --type lab"), or a flag
// the kind does not use ("--unit applies to --type vital and lab, not
// condition": --value, --unit, --systolic, --diastolic, --code, --system,
// --display, --criticality, --reaction, --category, --dosage, --class);
// kInvalidData when the --value of a vital
// or lab is not a number (nothing is built, so nothing is stored).
Result<Json> build_record(const RecordFields& f);

// The element of an R4 resource of `type` that holds its one patient as a
// single Reference (Observation and most: "subject"; AllergyIntolerance,
// Immunization, Claim and others: "patient"; Coverage: "beneficiary"; Task:
// "for"; ResearchSubject: "individual"; AppointmentResponse: "actor"). ""
// for a type with no such element: Patient itself, types without a patient,
// and those naming patients in a list or a nested element (Account.subject,
// Appointment.participant.actor, Group.member, Provenance.target,
// Schedule.actor, Contract.subject).
std::string_view patient_element(std::string_view type);

// Sets the status of a record being amended, in the element its type keeps
// it in: a Condition's or AllergyIntolerance's clinicalStatus (a coding of
// the R4 clinical-status code system; the code is checked when the record
// is validated; a stray `status`, which older ehr amends wrote there, is
// removed), else the `status` code the record has.
// Errors: kInvalidArgument "--status: TYPE has no status to change
// ..." when it has none (Patient, or a type without status).
Status set_record_status(Json& resource, const std::string& status);

// Appends `note` (an R4 Annotation) to the record's `note` list.
// Errors: kInvalidArgument "--note: TYPE has no note element ..."
// for a type without one (Encounter, DocumentReference, Patient, ...).
Status add_record_note(Json& resource, Json note);

// Expands a code-system alias ("loinc") to its URI; other values unchanged.
std::string code_system_uri(const std::string& alias);

}  // namespace ehr

#endif  // EHR_BUILDERS_H_
