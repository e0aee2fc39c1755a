// Cohort files of ehr export --group (ehr/export.h ExportGroup): a list of
// patient ids or MRNs, one a line, or a FHIR Group resource; and the
// identity an export job keeps for one (export_internal.h).
#include <filesystem>

#include <fmt/format.h>

#include "ehr/export.h"
#include "ehr/json.h"
#include "export_internal.h"
#include "resource_index.h"

namespace ehr::detail {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The line's content without its comment: '#' at its start or after
// whitespace begins one (an MRN may hold a '#' of its own: "A#12").
std::string_view strip_comment(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i)
    if (line[i] == '#' && (i == 0 || is_space(line[i - 1]))) return line.substr(0, i);
  return line;
}

// The patient id of a Group member's reference: "Patient/ID" or
// "Patient/ID/_history/N" (parse_reference); "" otherwise.
std::string patient_id_of(std::string_view ref) {
  std::string type, id;
  if (!parse_reference(ref, type, id) || type != "Patient") return "";
  return id;
}

Result<std::vector<GroupMember>> group_resource_members(const std::string& shown,
                                                        std::string_view text) {
  auto doc = parse_json(text);
  if (!doc.ok()) return doc.error().with_context(shown);
  const Json* type = doc->find("resourceType");
  if (type == nullptr || !type->is_string() || type->text() != "Group")
    return Error::invalid_data(fmt::format(
        "{}: not a FHIR Group resource{}", shown,
        type != nullptr && type->is_string() ? " (its resourceType is " + type->text() + ")" : ""));
  std::vector<GroupMember> out;
  const Json* members = doc->find("member");
  if (members == nullptr) return out;
  if (!members->is_array())
    return Error::invalid_data(fmt::format("{}: member is not an array", shown));
  for (std::size_t i = 0; i < members->items().size(); ++i) {
    const Json& m = members->items()[i];
    std::string where = fmt::format("{}: member[{}]", shown, i);
    const Json* inactive = m.find("inactive");
    if (inactive != nullptr && inactive->is_bool() && inactive->as_bool())
      continue;  // no longer a member
    const Json* entity = m.find("entity");
    const Json* ref = entity != nullptr ? entity->find("reference") : nullptr;
    if (ref == nullptr || !ref->is_string())
      return Error::invalid_data(fmt::format("{}: no entity.reference", where));
    // An absolute URL names a patient on another server (ehr has no base
    // URL): a payer's Patient/123 is not the Patient/123 here, and taking
    // it so would disclose another person's records.
    if (ref->text().find("://") != std::string::npos)
      return Error::invalid_data(fmt::format(
          "{}: entity.reference {} names a patient on another server (an absolute URL), not one stored here; "
          "list Patient/ID references, or the patients' MRNs in a text file",
          where, ref->text()));
    std::string id = patient_id_of(ref->text());
    if (id.empty())
      return Error::invalid_data(fmt::format(
          "{}: entity.reference {} is not a Patient reference (Patient/ID)", where, ref->text()));
    out.push_back({std::move(id), std::move(where)});
  }
  return out;
}

}  // namespace

std::string group_shown_name(const std::string& name) { return name == "-" ? "<stdin>" : name; }

std::string group_identity(const std::string& name) {
  if (name == "-") return name;
  std::error_code ec;
  auto abs = std::filesystem::absolute(name, ec);
  return ec ? name : abs.lexically_normal().string();
}

Result<std::vector<GroupMember>> group_members(const ExportGroup& group) {
  const std::string shown = group_shown_name(group.name);
  std::string_view text = group.text;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte-order mark
  std::vector<GroupMember> out;
  if (!trim(text).empty() && trim(text).front() == '{') {
    auto members = group_resource_members(shown, text);
    if (!members.ok()) return members.error();
    out = std::move(*members);
  } else {
    std::size_t line_no = 0;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t nl = text.find('\n', start);
      if (nl == std::string_view::npos) nl = text.size();
      ++line_no;
      std::string_view key = trim(strip_comment(text.substr(start, nl - start)));
      if (!key.empty()) out.push_back({std::string(key), fmt::format("{}:{}", shown, line_no)});
      start = nl + 1;
    }
  }
  if (out.empty()) return Error::invalid_data(fmt::format("{}: the group has no members", shown));
  return out;
}

}  // namespace ehr::detail
