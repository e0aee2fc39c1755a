// Resource rendering (resource_output.h).
#include "resource_output.h"

#include <fmt/format.h>

#include <map>
#include <ostream>
#include <sstream>

#include "ehr/summary.h"
#include "ehr/validate.h"

namespace ehr::cli {

namespace {

std::string text(const Json* j) {
  if (j == nullptr) return "";
  if (j->is_string() || j->is_number()) return j->text();
  if (j->is_bool()) return j->as_bool() ? "true" : "false";
  return "";
}

const Json* first(const Json* j) {
  if (j == nullptr) return nullptr;
  if (j->is_array()) return j->items().empty() ? nullptr : &j->items().front();
  return j;
}

}  // namespace

Json summary_row(const StoredResource& r) {
  Json row = Json::object();
  row.set("type", Json::string(r.type));
  row.set("id", Json::string(r.id));
  RecordSummary s = summarize_record(r.resource);
  row.set("date", Json::string(s.date));
  row.set("code", Json::string(s.code));
  row.set("display", Json::string(s.display));
  row.set("value", Json::string(s.unit.empty() ? s.value : s.value + " " + s.unit));
  row.set("status", Json::string(s.status));
  row.set("version", Json::number(r.version));
  row.set("patient", Json::string(r.patient));
  return row;
}

const std::vector<std::string>& summary_columns() {
  static const std::vector<std::string> cols = {"type", "id", "date", "code", "display", "value", "status"};
  return cols;
}

Json searchset_bundle(const std::vector<StoredResource>& resources) {
  Json b = Json::object();
  b.set("resourceType", Json::string("Bundle"));
  b.set("type", Json::string("searchset"));
  b.set("total", Json::number(static_cast<int64_t>(resources.size())));
  Json entries = Json::array();
  for (const auto& r : resources) {
    Json e = Json::object();
    e.set("resource", r.resource);
    Json search = Json::object();
    search.set("mode", Json::string("match"));
    e.set("search", std::move(search));
    entries.push_back(std::move(e));
  }
  b.set("entry", std::move(entries));
  return b;
}

void print_resources(Context& ctx, std::vector<StoredResource> resources) {
  switch (ctx.format()) {
    case Format::kTable:
    case Format::kCsv: {
      Json rows = Json::array();
      for (const auto& r : resources) rows.push_back(summary_row(r));
      ctx.print_rows(rows, summary_columns());
      return;
    }
    case Format::kBundle:
      ctx.print_document(searchset_bundle(resources));
      return;
    default: {
      Json arr = Json::array();
      for (auto& r : resources) arr.push_back(std::move(r.resource));
      ctx.print_rows(arr, {});
      return;
    }
  }
}

namespace {

bool prints_json_text(Format f) { return f == Format::kJson || f == Format::kNdjson; }

void print_texts(Context& ctx, const std::vector<StoredJson>& resources) {
  std::vector<std::string_view> texts;
  texts.reserve(resources.size());
  for (const auto& r : resources) texts.emplace_back(r.json);
  ctx.print_json_texts(texts);
}

std::vector<StoredResource> parse_all(std::vector<StoredJson> resources) {
  std::vector<StoredResource> out;
  out.reserve(resources.size());
  for (auto& r : resources) out.push_back(parse_stored(std::move(r)));
  return out;
}

}  // namespace

void print_resources(Context& ctx, std::vector<StoredJson> resources) {
  if (prints_json_text(ctx.format())) {
    print_texts(ctx, resources);
    return;
  }
  print_resources(ctx, parse_all(std::move(resources)));
}

void print_clinical_summary(Context& ctx, const std::vector<StoredResource>& record) {
  std::ostream& out = ctx.out();
  const StoredResource* patient = nullptr;
  std::map<std::string, std::vector<const StoredResource*>> by_section;
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kSections = {
      {"Active problems", {"Condition"}},
      {"Medications", {"MedicationRequest", "MedicationStatement"}},
      {"Allergies", {"AllergyIntolerance"}},
      {"Vitals and labs", {"Observation", "DiagnosticReport"}},
      {"Immunizations", {"Immunization"}},
      {"Procedures", {"Procedure"}},
      {"Encounters", {"Encounter"}},
      {"Care plans", {"CarePlan"}},
      {"Documents", {"DocumentReference"}},
  };
  for (const auto& r : record) {
    if (r.type == "Patient") {
      patient = &r;
      continue;
    }
    std::string section = "Other records";
    for (const auto& [name, types] : kSections)
      if (std::find(types.begin(), types.end(), r.type) != types.end()) section = name;
    if (section == "Active problems") {
      std::string st = record_status(r.resource);
      if (!(st.empty() || st == "active" || st == "recurrence" || st == "relapse")) section = "Past problems";
    }
    by_section[section].push_back(&r);
  }
  if (patient != nullptr) {
    Json row = patient_row(*patient, ctx.config().get("mrn_system"));
    // Escaped as the table's cells are: a line feed in a name must not
    // break the header (QA finding ops 06).
    auto field = [&](const char* key) { return table_safe(text(row.find(key))); };
    out << "Patient " << field("name") << "  (" << table_safe(patient->id) << ")\n";
    out << "  born " << field("birth_date") << ", " << field("gender");
    if (!field("mrn").empty()) out << ", MRN " << field("mrn");
    if (!field("phone").empty()) out << ", phone " << field("phone");
    out << "\n";
  }
  std::vector<std::string> order;
  for (const auto& s : kSections) {
    order.push_back(s.first);
    if (s.first == "Active problems") order.push_back("Past problems");
  }
  order.push_back("Other records");
  for (const auto& name : order) {
    auto it = by_section.find(name);
    if (it == by_section.end()) continue;
    out << "\n" << name << " (" << it->second.size() << ")\n";
    Json rows = Json::array();
    for (const auto* r : it->second) rows.push_back(summary_row(*r));
    std::vector<std::string> cols = {"date", "display", "value", "status", "type", "id"};
    std::ostringstream table;
    render_rows(table, rows, cols, Format::kTable, {});
    std::istringstream lines(table.str());
    std::string line;
    while (std::getline(lines, line)) out << "  " << line << "\n";
  }
  out.flush();
}

Json patient_row(const StoredResource& r, const std::string& mrn_system) {
  Json row = Json::object();
  row.set("id", Json::string(r.id));
  row.set("name", Json::string(record_display(r.resource)));
  row.set("birth_date", Json::string(text(r.resource.find("birthDate"))));
  row.set("gender", Json::string(text(r.resource.find("gender"))));
  std::string mrn;
  if (const Json* ids = r.resource.find("identifier"); ids != nullptr && ids->is_array()) {
    for (const auto& i : ids->items())
      if (text(i.find("system")) == mrn_system) mrn = text(i.find("value"));
    if (mrn.empty())
      for (const auto& i : ids->items()) {
        std::string type_code = text(first(first(i.find("type")) ? first(i.find("type"))->find("coding") : nullptr)
                                         ? first(first(i.find("type"))->find("coding"))->find("code")
                                         : nullptr);
        if (type_code == "MR") mrn = text(i.find("value"));
      }
  }
  row.set("mrn", Json::string(mrn));
  std::string phone;
  if (const Json* tel = r.resource.find("telecom"); tel != nullptr && tel->is_array())
    for (const auto& t : tel->items())
      if (text(t.find("system")) == "phone" && phone.empty()) phone = text(t.find("value"));
  row.set("phone", Json::string(phone));
  return row;
}

void print_patients(Context& ctx, std::vector<StoredResource> patients) {
  if (ctx.format() != Format::kTable && ctx.format() != Format::kCsv) {
    print_resources(ctx, std::move(patients));
    return;
  }
  Json out = Json::array();
  for (const auto& r : patients) out.push_back(patient_row(r, ctx.config().get("mrn_system")));
  ctx.print_rows(out, patient_columns());
}

void print_patients(Context& ctx, std::vector<StoredJson> patients) {
  if (prints_json_text(ctx.format())) {
    print_texts(ctx, patients);
    return;
  }
  print_patients(ctx, parse_all(std::move(patients)));
}

const std::vector<std::string>& patient_columns() {
  static const std::vector<std::string> cols = {"id", "name", "birth_date", "gender", "mrn", "phone"};
  return cols;
}

void print_validation_warnings(Context& ctx, const Json& resource) {
  for (const ValidationIssue& issue : validate_resource(resource)) {
    if (issue.is_error) continue;
    ctx.warning(fmt::format("{}: {}", issue.path, warning_message(issue)));
  }
}

}  // namespace ehr::cli
