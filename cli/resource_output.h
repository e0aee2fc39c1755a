// Printing FHIR resources: summary rows for table and csv, the resources
// themselves for json, ndjson and yaml, and a searchset Bundle for bundle.
// `ehr record show` adds a sectioned clinical summary for the table format.

#ifndef EHR_CLI_RESOURCE_OUTPUT_H_
#define EHR_CLI_RESOURCE_OUTPUT_H_

#include <string>
#include <vector>

#include "context.h"
#include "ehr/records.h"

namespace ehr::cli {

// One summary row: type, id, date, code, display, value, status, version,
// patient. The fields csv and table show (documented in ehr-record(1)).
Json summary_row(const StoredResource& r);
const std::vector<std::string>& summary_columns();

// A searchset Bundle of `resources` (Patient/$everything shape): total, and
// one entry per resource with search.mode "match".
Json searchset_bundle(const std::vector<StoredResource>& resources);

// Prints resources in ctx.format(): table/csv summary rows, json an array of
// resources, ndjson one per line, yaml a list, bundle a searchset Bundle.
// Takes the resources by value so that callers done with them can move them
// in: the json, ndjson and yaml formats then print them without a copy.
void print_resources(Context& ctx, std::vector<StoredResource> resources);

// print_resources for resources whose JSON is still the stored text: json
// and ndjson print that text without parsing it; the other formats parse
// it and print as print_resources does. The output is the same.
void print_resources(Context& ctx, std::vector<StoredJson> resources);

// The patient's whole record as sections, for people at a terminal:
// demographics, active problems, medications, allergies with criticality,
// recent vitals and labs, immunizations, encounters, then everything else.
void print_clinical_summary(Context& ctx, const std::vector<StoredResource>& record);

// Prints patients: patient rows for table and csv, resources otherwise.
void print_patients(Context& ctx, std::vector<StoredResource> patients);

// print_patients for patients whose JSON is still the stored text, as
// print_resources(Context&, std::vector<StoredJson>) is to print_resources.
void print_patients(Context& ctx, std::vector<StoredJson> patients);

// Patient rows: id, name, birth_date, gender, mrn, phone.
Json patient_row(const StoredResource& r, const std::string& mrn_system);
const std::vector<std::string>& patient_columns();

// Prints each validation warning `resource` raises (ehr: warning: PATH:
// MESSAGE): what a write accepted but its author may want to correct, such
// as an Identifier's NPI failing its check digit or a blank string. An
// element R4 does not define is a warning only in a record kept from an
// import ("(kept)"); errors are not printed (the write refused them).
void print_validation_warnings(Context& ctx, const Json& resource);

}  // namespace ehr::cli

#endif  // EHR_CLI_RESOURCE_OUTPUT_H_
