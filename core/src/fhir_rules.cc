// Loads the FHIR validation rules (fhir_rules.h) from the embedded YAML files
// schemas/fhir/resources.yaml and schemas/fhir/loinc-legacy.yaml.

#include "fhir_rules.h"

#include <cctype>

#include <fmt/format.h>

#include "schemas.h"
#include "yaml_adapter.h"

namespace ehr::detail {

namespace {

constexpr std::string_view kResourcesFile = "fhir/resources.yaml";
constexpr std::string_view kLegacyFile = "fhir/loinc-legacy.yaml";

// Reads one file's YAML tree and reports errors as "<file>: line L, column C: what".
class Reader {
 public:
  explicit Reader(std::string_view file) : file_(file) {}

  Error at(const YamlNode& n, std::string_view what) const {
    return Error::invalid_data(
        fmt::format("{}: line {}, column {}: {}", file_, n.line, n.column, what));
  }

  Result<const YamlNode*> member(const YamlNode& map, std::string_view key,
                                 YamlNode::Kind kind) const {
    const YamlNode* n = map.get(key);
    if (n == nullptr) return at(map, fmt::format("missing key \"{}\"", key));
    if (n->kind != kind) return at(*n, fmt::format("\"{}\" has the wrong shape", key));
    return n;
  }

  Result<std::string> scalar(const YamlNode& map, std::string_view key) const {
    auto n = member(map, key, YamlNode::Kind::kScalar);
    if (!n.ok()) return n.error();
    if ((*n)->scalar.empty()) return at(**n, fmt::format("\"{}\" is empty", key));
    return (*n)->scalar;
  }

  Result<std::vector<std::string>> scalars(const YamlNode& seq) const {
    if (!seq.is_sequence()) return at(seq, "expected a list");
    std::vector<std::string> out;
    for (const YamlNode& item : seq.items) {
      if (!item.is_scalar() || item.scalar.empty()) return at(item, "expected a non-empty value");
      out.push_back(item.scalar);
    }
    return out;
  }

  Result<bool> severity(const YamlNode& map, std::string_view key) const {
    auto s = scalar(map, key);
    if (!s.ok()) return s.error();
    if (*s == "error") return true;
    if (*s == "warning") return false;
    return at(*map.get(key), fmt::format("severity \"{}\" is neither error nor warning", *s));
  }

  Result<DateKind> date_kind(const YamlNode& n) const {
    if (n.is_scalar()) {
      if (n.scalar == "date") return DateKind::kDate;
      if (n.scalar == "dateTime") return DateKind::kDateTime;
      if (n.scalar == "instant") return DateKind::kInstant;
    }
    return at(n, "expected date, dateTime or instant");
  }

 private:
  std::string_view file_;
};

ElementPath split_path(std::string_view path) {
  ElementPath out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    out.emplace_back(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

Result<ElementPath> element_path(const Reader& r, const YamlNode& n) {
  if (!n.is_scalar() || n.scalar.empty()) return r.at(n, "expected an element path");
  ElementPath p = split_path(n.scalar);
  for (size_t i = 0; i < p.size(); ++i) {
    std::string_view name = p[i];
    if (i + 1 == p.size() && name.ends_with("[x]")) name.remove_suffix(3);
    bool ok = !name.empty();
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok) return r.at(n, fmt::format("bad element path \"{}\"", n.scalar));
  }
  return p;
}

Result<ResourceRules> load_resource(const Reader& r, const YamlNode& node, const FhirRules& rules) {
  ResourceRules out;
  if (!node.is_map()) return r.at(node, "expected a map");
  if (const YamlNode* req = node.get("required")) {
    if (!req->is_sequence()) return r.at(*req, "\"required\" must be a list");
    for (const YamlNode& item : req->items) {
      auto p = element_path(r, item);
      if (!p.ok()) return p.error();
      out.required.push_back(std::move(*p));
    }
  }
  if (const YamlNode* bindings = node.get("bindings")) {
    if (!bindings->is_sequence()) return r.at(*bindings, "\"bindings\" must be a list");
    for (const YamlNode& b : bindings->items) {
      if (!b.is_map()) return r.at(b, "a binding must be a map");
      BindingRule rule;
      const YamlNode* path = b.get("path");
      if (path == nullptr) return r.at(b, "missing key \"path\"");
      auto p = element_path(r, *path);
      if (!p.ok()) return p.error();
      rule.path = std::move(*p);
      if (b.get("system") != nullptr) {
        auto s = r.scalar(b, "system");
        if (!s.ok()) return s.error();
        rule.system = std::move(*s);
      }
      auto codes = r.member(b, "codes", YamlNode::Kind::kSequence);
      if (!codes.ok()) return codes.error();
      auto list = r.scalars(**codes);
      if (!list.ok()) return list.error();
      rule.codes = std::move(*list);
      out.bindings.push_back(std::move(rule));
    }
  }
  if (const YamlNode* inv = node.get("invariants")) {
    auto names = r.scalars(*inv);
    if (!names.ok()) return names.error();
    for (size_t i = 0; i < names->size(); ++i)
      if (!rules.invariants.contains((*names)[i]))
        return r.at(inv->items[i], fmt::format("invariant \"{}\" is not described under "
                                               "\"invariants\"", (*names)[i]));
    out.invariants = std::move(*names);
  }
  if (const YamlNode* dates = node.get("dates")) {
    if (!dates->is_map()) return r.at(*dates, "\"dates\" must be a map");
    for (const auto& [k, v] : dates->entries) {
      auto p = element_path(r, k);
      if (!p.ok()) return p.error();
      auto kind = r.date_kind(v);
      if (!kind.ok()) return kind.error();
      out.dates.emplace_back(std::move(*p), *kind);
    }
  }
  return out;
}

Result<FhirRules> load_resources_file(std::string_view text) {
  Reader r(kResourcesFile);
  auto parsed = parse_yaml(text);
  if (!parsed.ok()) return parsed.error().with_context(kResourcesFile);
  const YamlNode& doc = *parsed;
  if (!doc.is_map()) return r.at(doc, "expected a map at the top");
  auto schema = r.scalar(doc, "schema");
  if (!schema.ok()) return schema.error();
  if (*schema != "ehr-fhir-rules")
    return r.at(*doc.get("schema"), fmt::format("schema is \"{}\", not ehr-fhir-rules", *schema));
  auto version = r.scalar(doc, "version");
  if (!version.ok()) return version.error();
  if (*version != "1")
    return r.at(*doc.get("version"), fmt::format("unsupported version {}", *version));

  FhirRules rules;
  auto types_node = r.member(doc, "resource_types", YamlNode::Kind::kSequence);
  if (!types_node.ok()) return types_node.error();
  auto types = r.scalars(**types_node);
  if (!types.ok()) return types.error();
  rules.resource_types.insert(types->begin(), types->end());

  auto cd = r.member(doc, "check_digits", YamlNode::Kind::kSequence);
  if (!cd.ok()) return cd.error();
  for (const YamlNode& item : (*cd)->items) {
    if (!item.is_map()) return r.at(item, "a check_digits entry must be a map");
    CheckDigitRule c;
    for (auto [field, key] : {std::pair{&c.system, "system"}, {&c.algorithm, "algorithm"},
                              {&c.rule, "rule"}, {&c.label, "label"}}) {
      auto s = r.scalar(item, key);
      if (!s.ok()) return s.error();
      *field = std::move(*s);
    }
    if (c.algorithm != "loinc" && c.algorithm != "snomed" && c.algorithm != "npi")
      return r.at(*item.get("algorithm"), fmt::format("unknown algorithm \"{}\"", c.algorithm));
    auto coding = r.severity(item, "coding");
    if (!coding.ok()) return coding.error();
    auto identifier = r.severity(item, "identifier");
    if (!identifier.ok()) return identifier.error();
    c.coding_error = *coding;
    c.identifier_error = *identifier;
    rules.check_digits.push_back(std::move(c));
  }

  auto dates = r.member(doc, "dates", YamlNode::Kind::kMap);
  if (!dates.ok()) return dates.error();
  for (auto [section, suffix] : {std::pair{"names", false}, {"suffixes", true}}) {
    auto m = r.member(**dates, section, YamlNode::Kind::kMap);
    if (!m.ok()) return m.error();
    for (const auto& [k, v] : (*m)->entries) {
      auto kind = r.date_kind(v);
      if (!kind.ok()) return kind.error();
      if (suffix)
        rules.date_suffixes.emplace_back(k.scalar, *kind);
      else
        rules.date_names.emplace(k.scalar, *kind);
    }
  }
  auto period = r.member(**dates, "period_members", YamlNode::Kind::kSequence);
  if (!period.ok()) return period.error();
  auto members = r.scalars(**period);
  if (!members.ok()) return members.error();
  rules.period_members = std::move(*members);

  auto security = r.member(doc, "security", YamlNode::Kind::kMap);
  if (!security.ok()) return security.error();
  auto conf_system = r.scalar(**security, "confidentiality_system");
  if (!conf_system.ok()) return conf_system.error();
  rules.confidentiality_system = std::move(*conf_system);
  auto conf_codes = r.member(**security, "confidentiality_codes", YamlNode::Kind::kSequence);
  if (!conf_codes.ok()) return conf_codes.error();
  auto codes = r.scalars(**conf_codes);
  if (!codes.ok()) return codes.error();
  rules.confidentiality_codes = std::move(*codes);

  // Invariants first: resources name them.
  auto invariants = r.member(doc, "invariants", YamlNode::Kind::kMap);
  if (!invariants.ok()) return invariants.error();
  for (const auto& [k, v] : (*invariants)->entries) {
    if (!v.is_map()) return r.at(v, "an invariant must be a map");
    auto sev = r.severity(v, "severity");
    if (!sev.ok()) return sev.error();
    auto message = r.scalar(v, "message");
    if (!message.ok()) return message.error();
    rules.invariants.emplace(k.scalar, InvariantInfo{*sev, std::move(*message)});
  }

  auto resources = r.member(doc, "resources", YamlNode::Kind::kMap);
  if (!resources.ok()) return resources.error();
  for (const auto& [k, v] : (*resources)->entries) {
    if (!rules.resource_types.contains(k.scalar))
      return r.at(k, fmt::format("\"{}\" is not an R4 resource type", k.scalar));
    auto rr = load_resource(r, v, rules);
    if (!rr.ok()) return rr.error();
    rules.resources.emplace(k.scalar, std::move(*rr));
  }
  return rules;
}

}  // namespace

std::string_view date_kind_name(DateKind kind) {
  switch (kind) {
    case DateKind::kDate: return "date";
    case DateKind::kDateTime: return "dateTime";
    case DateKind::kInstant: return "instant";
    case DateKind::kTime: return "time";
  }
  return "?";
}

const CheckDigitRule* FhirRules::check_digit_rule(std::string_view system) const {
  for (const CheckDigitRule& c : check_digits)
    if (c.system == system) return &c;
  return nullptr;
}

Result<FhirRules> load_fhir_rules(std::string_view resources_yaml,
                                  std::string_view loinc_legacy_yaml) {
  auto rules = load_resources_file(resources_yaml);
  if (!rules.ok()) return rules.error();

  Reader r(kLegacyFile);
  auto parsed = parse_yaml(loinc_legacy_yaml);
  if (!parsed.ok()) return parsed.error().with_context(kLegacyFile);
  if (!parsed->is_map()) return r.at(*parsed, "expected a map at the top");
  auto schema = r.scalar(*parsed, "schema");
  if (!schema.ok()) return schema.error();
  if (*schema != "ehr-loinc-legacy")
    return r.at(*parsed->get("schema"),
                fmt::format("schema is \"{}\", not ehr-loinc-legacy", *schema));
  auto codes_node = r.member(*parsed, "codes", YamlNode::Kind::kSequence);
  if (!codes_node.ok()) return codes_node.error();
  auto codes = r.scalars(**codes_node);
  if (!codes.ok()) return codes.error();
  rules->loinc_legacy.insert(codes->begin(), codes->end());
  return rules;
}

const Result<FhirRules>& embedded_fhir_rules() {
  static const Result<FhirRules> rules = []() -> Result<FhirRules> {
    auto resources = embedded_schema(kResourcesFile);
    auto legacy = embedded_schema(kLegacyFile);
    if (!resources || !legacy)
      return Error::internal("the FHIR rule files are not embedded in this binary");
    return load_fhir_rules(*resources, *legacy);
  }();
  return rules;
}

}  // namespace ehr::detail
