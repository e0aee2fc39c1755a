// The one-line summary of a FHIR resource that people read in tables and
// spreadsheets: its clinical date, main code, display text, value with unit
// and status. `ehr record show/list` (table, csv) and `ehr export --format
// csv` print these, so both agree. Pure functions over Json; no access
// decision (callers decide before they summarise).

#ifndef EHR_SUMMARY_H_
#define EHR_SUMMARY_H_

#include <string>
#include <string_view>

#include "ehr/json.h"

namespace ehr {

struct RecordSummary {
  // When the care happened: the first of effectiveDateTime, onsetDateTime,
  // occurrenceDateTime, performedDateTime, authoredOn, recordedDate, issued,
  // date, birthDate, else the start of effectivePeriod, performedPeriod,
  // period; "" when none.
  std::string date;
  // The first coding of code, vaccineCode, medicationCodeableConcept or type
  // (the first of these present with a coding): its system and code.
  std::string code_system;
  std::string code;
  // The text of that concept (text, else the first coding's display, else
  // its code); for resources without one, the first name ("Given Family",
  // else its text), else description.
  std::string display;
  // valueQuantity's value (unit: its unit, else its code); a coded value's
  // text; valueString/Boolean/Integer/DateTime; components' quantity values
  // joined by "/" (unit: the first component's unit); the first dosage's
  // text; "criticality C" for an allergy. unit is "" but for quantities.
  std::string value;
  std::string unit;
  // status; else clinicalStatus's text, or "entered-in-error" when that is
  // the verification status.
  std::string status;
};

RecordSummary summarize_record(const Json& resource);

// summarize_record(resource).display, without the rest.
std::string record_display(const Json& resource);

// summarize_record(resource).status, without the rest.
std::string record_status(const Json& resource);

// `value` as a spreadsheet cell may hold it without running it: text
// starting with '=', '+', '-', '@', TAB or CR (what spreadsheets take for a
// formula: =HYPERLINK(...) in a name or a recipient) gets a leading
// apostrophe, unless it is a plain number ("-5", "+1.5e3"). Every CSV ehr
// writes passes its cells through this.
std::string spreadsheet_safe(std::string_view value);

}  // namespace ehr

#endif  // EHR_SUMMARY_H_
