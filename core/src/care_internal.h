// What care.cc shares with other core units (the importer): resolving the
// medication a medication record names by reference, so that the
// medication-allergy check (ehr/care.h check_medication_allergies, which
// stays pure) sees its codes.

#ifndef EHR_CORE_CARE_INTERNAL_H_
#define EHR_CORE_CARE_INTERNAL_H_

#include "ehr/json.h"
#include "ehr/status.h"
#include "session_impl.h"

namespace ehr::detail {

// `medication` (a MedicationRequest, MedicationStatement,
// MedicationAdministration or MedicationDispense) as the allergy check
// should read it: one whose medicationReference names a stored Medication
// ("Medication/ID", not retracted) gets that Medication's code as its
// medicationCodeableConcept; one whose reference names no stored (or
// contained) Medication with a code gets the reference's display as text.
// Anything else comes back unchanged. The Medication is read without an
// access decision or audit entry: it is a product description, not a
// patient's record, and only its code is used. Errors: storage errors.
Result<Json> resolve_medication_reference(SessionImpl& s, const Json& medication);

}  // namespace ehr::detail

#endif  // EHR_CORE_CARE_INTERNAL_H_
