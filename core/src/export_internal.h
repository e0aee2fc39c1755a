// What the export formats share (ehr/export.h, ehr/export_bundle.h): the
// records a patient export takes along besides the compartment, the cohort
// files of --group (export_group.cc), and the CSV rendering of records
// (export_csv.cc).

#ifndef EHR_CORE_EXPORT_INTERNAL_H_
#define EHR_CORE_EXPORT_INTERNAL_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"
#include "ehr/status.h"

namespace ehr {
class SessionImpl;
struct ExportGroup;
}  // namespace ehr

namespace ehr::detail {

// The types a patient export takes along when the patient's records (or
// records already taken along) reference them: Location, Medication,
// Organization, Practitioner, PractitionerRole.
const std::vector<std::string>& referenced_types();

// SQL for "rid IN (...)": the stored records of referenced_types() that the
// current (not retracted) records of `patients` patients reference,
// followed transitively. Binds `patients` placeholders: the patient ids.
std::string referenced_records_sql(std::size_t patients);

// The policy's export_requires_encryption against a plaintext output:
// kAccessDenied (the denial audited) when the policy requires encryption
// and `plaintext` (--plaintext) was not given. export.cc.
Status refuse_unasked_plaintext(SessionImpl& s, bool plaintext);

// A --since/--until value as an export bound: "" for "", else the instant
// in the stored form. Errors: kInvalidArgument naming `option` when `value`
// is not an instant with a zone. export.cc.
Result<std::string> export_time_bound(const char* option, const std::string& value);

// --- cohorts (export_group.cc) ------------------------------------------------------

// One member of a group file: the patient's id or MRN as written, and where
// it was written: "cohort.txt:3", "group.json: member[2]".
struct GroupMember {
  std::string key;
  std::string where;
};

// The members of `group` in file order (duplicates kept), as ExportGroup
// describes its formats. Errors (kInvalidData, the message starting with
// the file's name, "<stdin>" for "-"): JSON that does not parse, a resource
// that is not a Group, a member without a Patient reference, no member.
Result<std::vector<GroupMember>> group_members(const ExportGroup& group);

// The name of a group file in messages: `name`, or "<stdin>" for "-".
std::string group_shown_name(const std::string& name);

// What an export job keeps as its group: the file's absolute path
// (lexically normal, symbolic links not followed, so that a link switched to
// a new list stays the same group), or "-" for standard input.
std::string group_identity(const std::string& name);

// --- CSV (export_csv.cc) ---------------------------------------------------------
// RFC 4180: fields separated by ',', records ended by CRLF, a field quoted
// (its '"' doubled) when it holds ',', '"', CR or LF. Spreadsheet formula
// injection: a field starting with '=', '+', '-', '@', TAB or CR gets a
// leading apostrophe, unless it is a plain number ("-5", "+1.5e3").

// One field, guarded and quoted as needed.
std::string csv_cell(std::string_view value);

// The columns of a record file (Type.csv), in order: patient, type, id,
// version, last_updated, date, status, code_system, code, display, value,
// unit.
const std::vector<std::string>& csv_record_columns();

// The columns of deleted.csv: type, id, patient (left blank when the
// access decision names fields: a deleted record keeps no element to show
// it by).
const std::vector<std::string>& csv_deleted_columns();

// A header or data line of `cells` (each through csv_cell), CRLF-ended.
std::string csv_line(const std::vector<std::string>& cells);

// The data line of an exported record: `patient` as the patient column
// ("" for none; csv_shown_patient for a reduced record), the rest from
// `resource` as exported, reduced if the decision named fields
// (ehr/summary.h).
std::string csv_record_line(const std::string& patient, const Json& resource);

// The patient column of a record the access decision reduced to some
// elements (apply_fields): never more than `reduced` itself shows. `stored`
// is the stored patient column, `full` the stored resource. The stored
// patient when `reduced` keeps every reference to a patient that `full`
// holds (a Patient's own id is always kept); "" when it keeps none (the
// element naming the patient, such as Observation.subject, was withheld);
// otherwise what the kept references name (resource_index.h
// patient_of_links: one patient, kSeveralPatients, or kUnknownPatient for a
// kept reference by identifier, which only the database resolves).
std::string csv_shown_patient(const std::string& stored, const Json& full, const Json& reduced);

}  // namespace ehr::detail

#endif  // EHR_CORE_EXPORT_INTERNAL_H_
