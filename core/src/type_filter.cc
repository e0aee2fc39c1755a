// Type filters (ehr/type_filter.h): the supported parameters per type, the
// parser (URL decoding, values, tokens, dates as ranges), the canonical form
// and matching against a resource.
//
// Sections: the parameter table; text (decoding, escapes, encoding); dates;
// parsing; matching; the set.
#include "ehr/type_filter.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "ehr/validate.h"
#include "instant.h"

namespace ehr {

namespace {

// Sorts `items` (values, or filters) by their canonical form, keeping one of
// each: the first of equal ones.
template <typename T>
void sort_unique_by_canonical(std::vector<T>& items) {
  std::stable_sort(items.begin(), items.end(), [](const T& a, const T& b) { return a.canonical < b.canonical; });
  items.erase(std::unique(items.begin(), items.end(), [](const T& a, const T& b) { return a.canonical == b.canonical; }),
              items.end());
}

// --- the parameter table ---------------------------------------------------------

// What kind of element a parameter reads.
enum class Kind {
  kCode,     // a code string, or an array of them (AllergyIntolerance.category)
  kConcept,  // a CodeableConcept, or an array of them
  kDate,     // a date, dateTime or instant string
  kPeriod,   // a Period (start, end)
};

struct Element {
  std::string_view key;
  Kind kind;
};

struct ParamSpec {
  std::string_view name;                  // status, code, date, category
  std::string_view shows;                 // the element, as documented: "effective[x]"
  std::vector<Element> elements;          // every one present is searched
  std::vector<std::string_view> aliases;  // R4's own names for the same search
};

bool is_token(std::string_view name) { return name != "date"; }

// R4 types whose status element is a plain code (R4 4.0.1). Condition and
// AllergyIntolerance (clinicalStatus) and Goal (lifecycleStatus) are set
// apart below.
// clang-format off
constexpr std::string_view kStatusTypes[] = {
    "Account", "ActivityDefinition", "Appointment", "BiologicallyDerivedProduct", "CapabilityStatement",
    "CarePlan", "CareTeam", "CatalogEntry", "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse",
    "ClinicalImpression", "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition",
    "Composition", "ConceptMap", "Consent", "Contract", "Coverage", "CoverageEligibilityRequest",
    "CoverageEligibilityResponse", "DetectedIssue", "Device", "DeviceRequest", "DeviceUseStatement",
    "DiagnosticReport", "DocumentManifest", "DocumentReference", "EffectEvidenceSynthesis", "Encounter",
    "Endpoint", "EnrollmentRequest", "EnrollmentResponse", "EpisodeOfCare", "EventDefinition", "Evidence",
    "EvidenceVariable", "ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag",
    "GraphDefinition", "GuidanceResponse", "ImagingStudy", "Immunization", "ImmunizationEvaluation",
    "ImplementationGuide", "InsurancePlan", "Invoice", "Library", "List", "Location", "Measure",
    "MeasureReport", "Media", "Medication", "MedicationAdministration", "MedicationDispense",
    "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MessageDefinition", "NamingSystem",
    "NutritionOrder", "Observation", "OperationDefinition", "PaymentNotice", "PaymentReconciliation",
    "PlanDefinition", "Procedure", "Questionnaire", "QuestionnaireResponse", "RequestGroup",
    "ResearchDefinition", "ResearchElementDefinition", "ResearchStudy", "ResearchSubject", "RiskAssessment",
    "RiskEvidenceSynthesis", "SearchParameter", "ServiceRequest", "Slot", "Specimen", "StructureDefinition",
    "StructureMap", "Subscription", "Substance", "SupplyDelivery", "SupplyRequest", "Task",
    "TerminologyCapabilities", "TestReport", "TestScript", "ValueSet", "VerificationResult",
    "VisionPrescription"};
// clang-format on

ParamSpec concept_param(std::string_view name, std::string_view key,
                        std::vector<std::string_view> aliases = {}) {
  return {name, key, {{key, Kind::kConcept}}, std::move(aliases)};
}

// A choice element name[x] as dateTime and Period (and instant where R4 has it).
ParamSpec date_choice(std::string_view prefix_shows, std::string_view date_time,
                      std::string_view period, std::vector<std::string_view> aliases = {},
                      std::string_view instant = {}) {
  ParamSpec p{"date",
              prefix_shows,
              {{date_time, Kind::kDate}, {period, Kind::kPeriod}},
              std::move(aliases)};
  if (!instant.empty()) p.elements.push_back({instant, Kind::kDate});
  return p;
}

ParamSpec date_element(std::string_view key, Kind kind, std::vector<std::string_view> aliases = {},
                       std::string_view shows = {}) {
  return {"date", shows.empty() ? key : shows, {{key, kind}}, std::move(aliases)};
}

using Table = std::map<std::string, std::vector<ParamSpec>, std::less<>>;

const Table& table() {
  static const Table t = [] {
    Table t;
    for (std::string_view type : kStatusTypes)
      t[std::string(type)].push_back({"status", "status", {{"status", Kind::kCode}}, {}});
    t["Condition"].push_back(concept_param("status", "clinicalStatus", {"clinical-status"}));
    t["AllergyIntolerance"].push_back(
        concept_param("status", "clinicalStatus", {"clinical-status"}));
    t["Goal"].push_back(
        {"status", "lifecycleStatus", {{"lifecycleStatus", Kind::kCode}}, {"lifecycle-status"}});

    for (std::string_view type : {"Observation", "Condition", "Procedure", "AllergyIntolerance",
                                  "DiagnosticReport", "ServiceRequest", "Medication"})
      t[std::string(type)].push_back(concept_param("code", "code"));
    for (std::string_view type : {"MedicationRequest", "MedicationStatement",
                                  "MedicationAdministration", "MedicationDispense"})
      t[std::string(type)].push_back(concept_param("code", "medicationCodeableConcept"));
    t["Immunization"].push_back(concept_param("code", "vaccineCode", {"vaccine-code"}));
    t["Encounter"].push_back(concept_param("code", "type", {"type"}));
    t["DocumentReference"].push_back(concept_param("code", "type", {"type"}));

    t["Observation"].push_back(date_choice("effective[x]", "effectiveDateTime", "effectivePeriod",
                                           {}, "effectiveInstant"));
    t["DiagnosticReport"].push_back(
        date_choice("effective[x]", "effectiveDateTime", "effectivePeriod"));
    t["MedicationStatement"].push_back(
        date_choice("effective[x]", "effectiveDateTime", "effectivePeriod", {"effective"}));
    t["MedicationAdministration"].push_back(
        date_choice("effective[x]", "effectiveDateTime", "effectivePeriod", {"effective-time"}));
    t["Condition"].push_back(
        date_choice("onset[x]", "onsetDateTime", "onsetPeriod", {"onset-date"}));
    t["Procedure"].push_back(date_choice("performed[x]", "performedDateTime", "performedPeriod"));
    t["ServiceRequest"].push_back(
        date_choice("occurrence[x]", "occurrenceDateTime", "occurrencePeriod", {"occurrence"}));
    t["Immunization"].push_back(
        date_element("occurrenceDateTime", Kind::kDate, {}, "occurrence[x]"));
    t["MedicationRequest"].push_back(date_element("authoredOn", Kind::kDate, {"authoredon"}));
    t["MedicationDispense"].push_back(
        date_element("whenHandedOver", Kind::kDate, {"whenhandedover"}));
    t["AllergyIntolerance"].push_back(date_element("recordedDate", Kind::kDate));
    t["DocumentReference"].push_back(date_element("date", Kind::kDate));
    t["Composition"].push_back(date_element("date", Kind::kDate));
    t["Consent"].push_back(date_element("dateTime", Kind::kDate));
    for (std::string_view type : {"Encounter", "CarePlan", "CareTeam", "EpisodeOfCare"})
      t[std::string(type)].push_back(date_element("period", Kind::kPeriod));

    for (std::string_view type :
         {"Observation", "Condition", "DiagnosticReport", "CarePlan", "CareTeam",
          "DocumentReference", "ServiceRequest", "Procedure", "MedicationRequest",
          "MedicationStatement", "MedicationAdministration", "MedicationDispense", "Composition",
          "Goal"})
      t[std::string(type)].push_back(concept_param("category", "category"));
    t["AllergyIntolerance"].push_back({"category", "category", {{"category", Kind::kCode}}, {}});

    for (auto& [type, specs] : t)
      std::sort(specs.begin(), specs.end(),
                [](const ParamSpec& a, const ParamSpec& b) { return a.name < b.name; });
    return t;
  }();
  return t;
}

const std::vector<ParamSpec>* specs_of(std::string_view type) {
  auto it = table().find(type);
  return it == table().end() ? nullptr : &it->second;
}

const ParamSpec* find_spec(std::string_view type, std::string_view name) {
  const auto* specs = specs_of(type);
  if (specs == nullptr) return nullptr;
  for (const auto& s : *specs) {
    if (s.name == name) return &s;
    for (auto alias : s.aliases)
      if (alias == name) return &s;
  }
  return nullptr;
}

std::string supported_list(std::string_view type) {
  const auto* specs = specs_of(type);
  std::string out;
  if (specs != nullptr)
    for (const auto& s : *specs) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

// --- text --------------------------------------------------------------------------

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding: %XX and '+' (a space).
std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Splits at every `sep` not escaped by a backslash; the escapes stay.
std::vector<std::string> split_unescaped(std::string_view s, char sep) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out.back() += s[i];
      out.back() += s[++i];
    } else if (s[i] == sep) {
      out.emplace_back();
    } else {
      out.back() += s[i];
    }
  }
  return out;
}

// Drops the search escapes: "\," "\|" "\$" "\\" (a backslash before any
// other character stays as it is).
std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() &&
        (s[i + 1] == ',' || s[i + 1] == '|' || s[i + 1] == '$' || s[i + 1] == '\\'))
      ++i;
    out += s[i];
  }
  return out;
}

// The canonical text of a token part: search-escaped, then the characters
// that would change the meaning of a query (or of a job's stored filters:
// ';' and ' ') %-encoded.
std::string encode(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\\' || c == ',' || c == '|' || c == '$') {
      out += '\\';
      out += c;
    } else if (c == '%' || c == '&' || c == '=' || c == '+' || c == ' ' || c == ';' || c == '#' ||
               c == '?' || c == '\'' || u < 0x20 || u == 0x7f) {
      out += fmt::format("%{:02X}", u);
    } else {
      out += c;
    }
  }
  return out;
}

// --- dates -------------------------------------------------------------------------

constexpr std::int64_t kMicros = 1000000;
constexpr std::int64_t kMinusInfinity = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kPlusInfinity = std::numeric_limits<std::int64_t>::max();

struct Range {
  std::int64_t low, high;  // [low, high)
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// `n` digits at s[pos], as a number; -1 when they are not all digits.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// A FHIR date, dateTime or instant (a time with minutes at least, and a
// zone), or a search value of those forms, as the range it covers.
std::optional<Range> date_range(std::string_view s) {
  int y = digits(s, 0, 4);
  if (y < 1) return std::nullopt;
  if (s.size() == 4) {
    std::int64_t low = days_from_civil(y, 1, 1) * 86400 * kMicros;
    return Range{low, days_from_civil(y + 1, 1, 1) * 86400 * kMicros};
  }
  if (s[4] != '-') return std::nullopt;
  int m = digits(s, 5, 2);
  if (m < 1 || m > 12) return std::nullopt;
  if (s.size() == 7) {
    std::int64_t low = days_from_civil(y, m, 1) * 86400 * kMicros;
    std::int64_t high =
        (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) * 86400 * kMicros;
    return Range{low, high};
  }
  if (s[7] != '-') return std::nullopt;
  int d = digits(s, 8, 2);
  if (d < 1 || d > detail::days_in_month(y, m)) return std::nullopt;
  std::int64_t day = days_from_civil(y, m, d) * 86400 * kMicros;
  if (s.size() == 10) return Range{day, day + 86400 * kMicros};
  if (s[10] != 'T') return std::nullopt;
  int hh = digits(s, 11, 2);
  if (hh < 0 || hh > 23 || s.size() < 16 || s[13] != ':') return std::nullopt;
  int mm = digits(s, 14, 2);
  if (mm < 0 || mm > 59) return std::nullopt;
  std::int64_t t = day + (hh * 3600 + mm * 60) * kMicros;
  std::int64_t precision = 60 * kMicros;
  std::size_t pos = 16;
  if (pos < s.size() && s[pos] == ':') {
    int ss = digits(s, pos + 1, 2);
    if (ss < 0 || ss > 60) return std::nullopt;
    t += ss * kMicros;
    precision = kMicros;
    pos += 3;
    if (pos < s.size() && s[pos] == '.') {
      std::size_t n = 0;
      std::int64_t frac = 0, scale = kMicros;
      while (pos + 1 + n < s.size() && s[pos + 1 + n] >= '0' && s[pos + 1 + n] <= '9') {
        if (n < 6) {
          scale /= 10;
          frac += (s[pos + 1 + n] - '0') * scale;
        }
        ++n;
      }
      if (n == 0) return std::nullopt;
      t += frac;
      precision = scale;
      pos += 1 + n;
    }
  }
  if (pos >= s.size()) return std::nullopt;  // a time needs a zone
  if (s[pos] == 'Z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = digits(s, pos + 1, 2);
    if (oh < 0 || oh > 14 || pos + 3 >= s.size() || s[pos + 3] != ':') return std::nullopt;
    int om = digits(s, pos + 4, 2);
    if (om < 0 || om > 59) return std::nullopt;
    std::int64_t offset = (oh * 3600 + om * 60) * kMicros;
    t += s[pos] == '+' ? -offset : offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return Range{t, t + precision};
}

// The range of a record's date element, nullopt when absent or malformed.
std::optional<Range> element_range(const Json& v, Kind kind) {
  if (kind == Kind::kDate) return v.is_string() ? date_range(v.text()) : std::nullopt;
  if (!v.is_object()) return std::nullopt;
  const Json* start = v.find("start");
  const Json* end = v.find("end");
  if (start == nullptr && end == nullptr) return std::nullopt;
  Range r{kMinusInfinity, kPlusInfinity};
  if (start != nullptr) {
    auto s = start->is_string() ? date_range(start->text()) : std::nullopt;
    if (!s) return std::nullopt;
    r.low = s->low;
  }
  if (end != nullptr) {
    auto e = end->is_string() ? date_range(end->text()) : std::nullopt;
    if (!e) return std::nullopt;
    r.high = e->high;
  }
  return r;
}

bool date_matches(const TypeFilterValue& v, Range t) {
  bool contained = v.low <= t.low && t.high <= v.high;
  switch (v.prefix) {
    case DatePrefix::kEq:
      return contained;
    case DatePrefix::kNe:
      return !contained;
    case DatePrefix::kGt:
      return t.high > v.high;
    case DatePrefix::kLt:
      return t.low < v.low;
    case DatePrefix::kGe:
      return t.high > v.high || contained;
    case DatePrefix::kLe:
      return t.low < v.low || contained;
    case DatePrefix::kSa:
      return t.low >= v.high;
    case DatePrefix::kEb:
      return t.high <= v.low;
  }
  return false;
}

constexpr std::array<std::pair<std::string_view, DatePrefix>, 8> kPrefixes = {{
    {"eq", DatePrefix::kEq},
    {"ne", DatePrefix::kNe},
    {"lt", DatePrefix::kLt},
    {"le", DatePrefix::kLe},
    {"gt", DatePrefix::kGt},
    {"ge", DatePrefix::kGe},
    {"sa", DatePrefix::kSa},
    {"eb", DatePrefix::kEb},
}};

// --- parsing -----------------------------------------------------------------------

// A value of `spec` on `type`, or the reason it is malformed.
Result<TypeFilterValue> parse_value(std::string_view type, const ParamSpec& spec,
                                    std::string_view raw) {
  TypeFilterValue v;
  if (!is_token(spec.name)) {
    std::string text = unescape(raw);
    std::string_view date = text;
    std::string_view prefix;
    if (date.size() >= 2 && !(date[0] >= '0' && date[0] <= '9')) {
      std::string_view p = date.substr(0, 2);
      auto it = std::find_if(kPrefixes.begin(), kPrefixes.end(),
                             [&](const auto& e) { return e.first == p; });
      if (p == "ap")
        return Error::invalid_argument(fmt::format(
            "{}: the prefix ap (approximately) is not supported (eq, ne, lt, le, gt, ge, sa, eb)",
            text));
      if (it == kPrefixes.end())
        return Error::invalid_argument(
            fmt::format("{} is not a date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss] with "
                        "Z or +hh:mm, after an "
                        "optional prefix eq, ne, lt, le, gt, ge, sa or eb)",
                        text));
      v.prefix = it->second;
      if (v.prefix != DatePrefix::kEq) prefix = p;
      date.remove_prefix(2);
    }
    auto r = date_range(date);
    if (!r) {
      bool space = date.find(' ') != std::string_view::npos;
      return Error::invalid_argument(fmt::format(
          "{} is not a date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss] with Z or "
          "+hh:mm){}",
          date, space ? "; a '+' in a filter is a space: write a +hh:mm offset as %2B" : ""));
    }
    v.low = r->low;
    v.high = r->high;
    v.canonical = std::string(prefix) + encode(date);
    return v;
  }
  auto parts = split_unescaped(raw, '|');
  if (parts.size() > 2)
    return Error::invalid_argument(
        fmt::format("{} has more than one '|' (escape a literal one as \\|)", raw));
  if (parts.size() == 2) {
    v.has_system = true;
    v.system = unescape(parts[0]);
    v.code = unescape(parts[1]);
    if (v.system.empty() && v.code.empty())
      return Error::invalid_argument("'|' alone names neither a system nor a code");
  } else {
    v.code = unescape(parts[0]);
  }
  bool plain_code = spec.elements.front().kind == Kind::kCode;
  if (plain_code && v.has_system && !v.system.empty())
    return Error::invalid_argument(
        fmt::format("{} of {} is a plain code, without a system: give the code alone ({})",
                    spec.shows, type, v.code.empty() ? "CODE" : v.code));
  v.canonical = v.has_system ? encode(v.system) + "|" + encode(v.code) : encode(v.code);
  return v;
}

constexpr std::string_view kForbidden[] = {"_sort", "_include", "_revinclude", "_elements"};

}  // namespace

Result<TypeFilter> parse_type_filter(std::string_view text, bool lenient,
                                     std::vector<std::string>* warnings) {
  const std::string prefix = fmt::format("--type-filter '{}'", text);
  auto q = text.find('?');
  if (q == std::string_view::npos || q == 0)
    return Error::invalid_argument(prefix + ": not Type?param=value[&param=value...]");
  TypeFilter f;
  f.text = std::string(text);
  f.type = std::string(text.substr(0, q));
  if (!is_r4_resource_type(f.type))
    return Error::invalid_argument(
        fmt::format("{}: {} is not a FHIR R4 resource type", prefix, f.type));
  std::string_view query = text.substr(q + 1);
  std::vector<std::string_view> segments;
  for (std::size_t start = 0; start <= query.size();) {
    std::size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    if (amp > start) segments.push_back(query.substr(start, amp - start));
    start = amp + 1;
  }
  if (segments.empty()) return Error::invalid_argument(prefix + ": no parameter after '?'");

  for (std::string_view segment : segments) {
    auto eq = segment.find('=');
    auto name = url_decode(segment.substr(0, eq == std::string_view::npos ? segment.size() : eq));
    std::string base = name ? name->substr(0, name->find_first_of(":.")) : "";
    if (name &&
        std::find(std::begin(kForbidden), std::end(kForbidden), base) != std::end(kForbidden))
      return Error::invalid_argument(
          fmt::format("{}: {} is not allowed in a type filter (Bulk Data forbids _sort, _include, "
                      "_revinclude and "
                      "_elements there)",
                      prefix, base));
    // Everything below is what --lenient may ignore.
    auto problem = [&]() -> std::optional<std::string> {
      if (!name) return fmt::format("{}: a bad %-escape in the name", segment);
      if (name->empty()) return fmt::format("{}: no parameter name", segment);
      if (name->find(':') != std::string::npos)
        return fmt::format("{}: modifiers are not supported", *name);
      const ParamSpec* spec = find_spec(f.type, *name);
      if (spec == nullptr) {
        std::string supported = supported_list(f.type);
        std::string hint =
            *name == "_lastUpdated" ? "; --since and --until select by last change" : "";
        if (supported.empty())
          return fmt::format("{}: {} supports no type filter parameter{}", *name, f.type, hint);
        return fmt::format("{}: not a supported parameter for {} (it supports {}){}", *name, f.type,
                           supported, hint);
      }
      if (eq == std::string_view::npos)
        return fmt::format("{}: no value (write {}=VALUE)", *name, *name);
      auto value = url_decode(segment.substr(eq + 1));
      if (!value) return fmt::format("{}: a bad %-escape in the value", segment);
      if (value->empty()) return fmt::format("{}: no value", segment);
      TypeFilterParam param;
      param.name = std::string(spec->name);
      for (const auto& raw : split_unescaped(*value, ',')) {
        if (raw.empty()) return fmt::format("{}: an empty value", segment);
        auto v = parse_value(f.type, *spec, raw);
        if (!v.ok()) return fmt::format("{}: {}", segment, v.error().message());
        param.values.push_back(std::move(*v));
      }
      sort_unique_by_canonical(param.values);
      f.params.push_back(std::move(param));
      return std::nullopt;
    }();
    if (problem) {
      if (!lenient) return Error::invalid_argument(fmt::format("{}: {}", prefix, *problem));
      warnings->push_back(fmt::format("{}: ignoring {}", prefix, *problem));
    }
  }

  auto param_text = [](const TypeFilterParam& p) {
    std::string out = p.name + "=";
    for (std::size_t i = 0; i < p.values.size(); ++i)
      out += (i == 0 ? "" : ",") + p.values[i].canonical;
    return out;
  };
  std::sort(f.params.begin(), f.params.end(),
            [&](const auto& a, const auto& b) { return param_text(a) < param_text(b); });
  f.params.erase(
      std::unique(f.params.begin(), f.params.end(),
                  [&](const auto& a, const auto& b) { return param_text(a) == param_text(b); }),
      f.params.end());
  f.canonical = f.type + "?";
  for (std::size_t i = 0; i < f.params.size(); ++i)
    f.canonical += (i == 0 ? "" : "&") + param_text(f.params[i]);
  return f;
}

// --- matching ----------------------------------------------------------------------

namespace {

bool coding_matches(const TypeFilterValue& v, const Json& coding) {
  if (!coding.is_object()) return false;
  const Json* code = coding.find("code");
  const Json* system = coding.find("system");
  std::string_view c =
      code != nullptr && code->is_string() ? std::string_view(code->text()) : std::string_view();
  std::string_view s = system != nullptr && system->is_string() ? std::string_view(system->text())
                                                                : std::string_view();
  if (!v.has_system) return code != nullptr && c == v.code;
  if (v.system.empty()) return system == nullptr && code != nullptr && c == v.code;
  if (system == nullptr || s != v.system) return false;
  return v.code.empty() || (code != nullptr && c == v.code);
}

bool concept_matches(const TypeFilterValue& v, const Json& cc) {
  if (!cc.is_object()) return false;
  const Json* codings = cc.find("coding");
  if (codings == nullptr || !codings->is_array()) return false;
  for (const auto& coding : codings->items())
    if (coding_matches(v, coding)) return true;
  return false;
}

bool code_matches(const TypeFilterValue& v, const Json& value) {
  if (!value.is_string()) return false;
  return (!v.has_system || v.system.empty()) && value.text() == v.code;
}

// Whether one value of `element` (a single value or an array of them) matches.
bool element_matches(const TypeFilterValue& v, const Element& element, const Json& value) {
  if (value.is_array()) {
    for (const auto& item : value.items())
      if (element_matches(v, element, item)) return true;
    return false;
  }
  switch (element.kind) {
    case Kind::kCode:
      return code_matches(v, value);
    case Kind::kConcept:
      return concept_matches(v, value);
    case Kind::kDate:
    case Kind::kPeriod: {
      auto r = element_range(value, element.kind);
      return r && date_matches(v, *r);
    }
  }
  return false;
}

}  // namespace

bool TypeFilter::matches(const Json& resource) const {
  for (const auto& param : params) {
    const ParamSpec* spec = find_spec(type, param.name);
    bool any = false;
    for (const auto& element : spec->elements) {
      const Json* value = resource.find(element.key);
      if (value == nullptr) continue;
      for (const auto& v : param.values)
        if (element_matches(v, element, *value)) {
          any = true;
          break;
        }
      if (any) break;
    }
    if (!any) return false;
  }
  return true;
}

// --- the set -----------------------------------------------------------------------

Result<TypeFilterSet> TypeFilterSet::parse(const std::vector<std::string>& texts, bool lenient,
                                           std::vector<std::string>* warnings) {
  TypeFilterSet set;
  for (const auto& text : texts) {
    auto f = parse_type_filter(text, lenient, warnings);
    if (!f.ok()) return f.error();
    set.filters_.push_back(std::move(*f));
  }
  sort_unique_by_canonical(set.filters_);
  for (std::size_t i = 0; i < set.filters_.size(); ++i)
    set.by_type_[set.filters_[i].type].push_back(i);
  return set;
}

std::vector<std::string> TypeFilterSet::types() const {
  std::vector<std::string> out;
  for (const auto& [type, indexes] : by_type_) out.push_back(type);
  return out;
}

bool TypeFilterSet::filters(std::string_view type) const {
  return by_type_.find(type) != by_type_.end();
}

bool TypeFilterSet::matches(std::string_view type, const Json& resource) const {
  auto it = by_type_.find(type);
  if (it == by_type_.end()) return true;
  for (std::size_t i : it->second)
    if (filters_[i].matches(resource)) return true;
  return false;
}

std::string TypeFilterSet::canonical() const {
  std::string out;
  for (const auto& f : filters_) out += (out.empty() ? "" : " ") + f.canonical;
  return out;
}

Status TypeFilterSet::check_types(const std::vector<std::string>& types) const {
  if (types.empty()) return {};
  for (const auto& f : filters_) {
    if (std::binary_search(types.begin(), types.end(), f.type)) continue;
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ",") + t;
    return Error::invalid_argument(
        fmt::format("--type-filter '{}': {} is not one of the exported types (--type {})", f.text,
                    f.type, list));
  }
  return {};
}

std::vector<TypeFilterParamsOfType> type_filter_params() {
  std::vector<TypeFilterParamsOfType> out;
  for (const auto& [type, specs] : table()) {
    TypeFilterParamsOfType t{type, {}};
    for (const auto& s : specs) t.params.push_back(fmt::format("{} ({})", s.name, s.shows));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace ehr
