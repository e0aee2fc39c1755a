// CSV rendering of exported records (export_internal.h): RFC 4180 fields with
// the spreadsheet formula guard, and the record and deleted lines.
#include <string>

#include "ehr/summary.h"
#include "export_internal.h"
#include "resource_index.h"

namespace ehr::detail {

namespace {

std::string text(const Json* j) {
  if (j == nullptr) return "";
  if (j->is_string() || j->is_number()) return j->text();
  return "";
}

}  // namespace

std::string csv_cell(std::string_view value) {
  std::string v = spreadsheet_safe(value);
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

const std::vector<std::string>& csv_record_columns() {
  static const std::vector<std::string> cols = {"patient", "type",   "id",          "version",
                                                "last_updated", "date", "status", "code_system",
                                                "code",    "display", "value",     "unit"};
  return cols;
}

const std::vector<std::string>& csv_deleted_columns() {
  static const std::vector<std::string> cols = {"type", "id", "patient"};
  return cols;
}

std::string csv_line(const std::vector<std::string>& cells) {
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out += ',';
    out += csv_cell(cells[i]);
  }
  out += "\r\n";
  return out;
}

std::string csv_record_line(const std::string& patient, const Json& r) {
  RecordSummary s = summarize_record(r);
  const Json* meta = r.find("meta");
  return csv_line({patient, text(r.find("resourceType")), text(r.find("id")),
                   meta != nullptr ? text(meta->find("versionId")) : "",
                   meta != nullptr ? text(meta->find("lastUpdated")) : "", s.date, s.status, s.code_system, s.code,
                   s.display, s.value, s.unit});
}

std::string csv_shown_patient(const std::string& stored, const Json& full, const Json& reduced) {
  IndexEntry shown = index_resource(reduced);
  if (shown.patients.empty() && shown.patient_keys.empty()) return "";
  IndexEntry all = index_resource(full);
  if (shown.patients == all.patients && shown.patient_keys == all.patient_keys) return stored;
  return patient_of_links(shown.patients, !shown.patient_keys.empty());
}

}  // namespace ehr::detail
