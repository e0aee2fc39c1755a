// FHIR R4 resource validation (ehr/validate.h): applies the rules of
// schemas/fhir/resources.yaml (loaded by fhir_rules.cc) and the invariants
// that need code.
//
// Sections:
//   syntax       id, date/dateTime/instant and reference syntax
//   invariants   the C++ invariants, table kInvariants, named from the YAML
//   Validator    the walk: one resource at a time, nested resources in turn
//   public API

#include "ehr/validate.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <span>

#include <fmt/format.h>

#include "fhir_rules.h"
#include "instant.h"
#include "resource_index.h"

namespace ehr {

namespace {

using detail::BindingRule;
using detail::CheckDigitRule;
using detail::DateKind;
using detail::ElementPath;
using detail::FhirRules;
using detail::ResourceRules;

constexpr std::string_view kConditionClinical =
    "http://terminology.hl7.org/CodeSystem/condition-clinical";
constexpr std::string_view kConditionVerStatus =
    "http://terminology.hl7.org/CodeSystem/condition-ver-status";
constexpr std::string_view kConditionCategory =
    "http://terminology.hl7.org/CodeSystem/condition-category";
constexpr std::string_view kAllergyVerification =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
constexpr std::string_view kConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope";
constexpr std::string_view kObservationValue = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

// --- syntax -----------------------------------------------------------------

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// FHIR id: [A-Za-z0-9\-\.]{1,64}
bool id_syntax_ok(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  return true;
}

// Reads exactly `n` digits at `pos` as a number.
std::optional<int> digits_at(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// R4 date, dateTime and instant: YYYY[-MM[-DD[Thh:mm:ss[.f+](Z|(+|-)hh:mm)]]],
// a year from 0001, real calendar days, seconds to 60 (leap second), zones to
// 14:00. A time needs a zone; an instant needs everything down to the zone.
bool date_syntax_ok(std::string_view s, DateKind kind) {
  if (kind == DateKind::kTime) {
    // R4 time: hh:mm:ss[.f+], hours to 23, seconds to 60.
    auto hour = digits_at(s, 0, 2), minute = digits_at(s, 3, 2), second = digits_at(s, 6, 2);
    if (s.size() < 8 || !hour || !minute || !second || s[2] != ':' || s[5] != ':' || *hour > 23 || *minute > 59 ||
        *second > 60)
      return false;
    if (s.size() == 8) return true;
    return s[8] == '.' && s.size() > 9 && std::all_of(s.begin() + 9, s.end(), [](char c) { return is_digit(c); });
  }
  auto year = digits_at(s, 0, 4);
  if (!year || *year == 0) return false;
  if (s.size() == 4) return kind != DateKind::kInstant;
  if (s[4] != '-') return false;
  auto month = digits_at(s, 5, 2);
  if (!month || *month < 1 || *month > 12) return false;
  if (s.size() == 7) return kind != DateKind::kInstant;
  if (s[7] != '-') return false;
  auto day = digits_at(s, 8, 2);
  if (!day || *day < 1 || *day > detail::days_in_month(*year, *month)) return false;
  if (s.size() == 10) return kind != DateKind::kInstant;
  if (kind == DateKind::kDate || s[10] != 'T') return false;
  auto hour = digits_at(s, 11, 2);
  auto minute = digits_at(s, 14, 2);
  auto second = digits_at(s, 17, 2);
  if (!hour || !minute || !second || s[13] != ':' || s[16] != ':' || *hour > 23 || *minute > 59 ||
      *second > 60)
    return false;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  if (pos < s.size() && s[pos] == 'Z') return pos + 1 == s.size();
  if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-') || s.size() != pos + 6) return false;
  auto zh = digits_at(s, pos + 1, 2);
  auto zm = digits_at(s, pos + 4, 2);
  if (!zh || !zm || s[pos + 3] != ':' || *zm > 59) return false;
  return *zh < 14 || (*zh == 14 && *zm == 0);
}

bool uuid_ok(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  }
  return true;
}

// urn:oid: [0-2](\.(0|[1-9][0-9]*))+
bool oid_ok(std::string_view s) {
  if (s.size() < 3 || s[0] < '0' || s[0] > '2') return false;
  size_t i = 1;
  int arcs = 0;
  while (i < s.size()) {
    if (s[i] != '.' || i + 1 >= s.size() || !is_digit(s[i + 1])) return false;
    size_t start = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (s[start] == '0' && i - start > 1) return false;
    ++arcs;
  }
  return arcs > 0;
}

bool has_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

// Returns why `ref` is not a valid Reference.reference, or nullopt when it is.
// The reason never quotes the reference: a conditional one carries
// identifier values (an MRN, an SSN), and messages end up in logs.
std::optional<std::string> reference_problem(std::string_view ref, const FhirRules& rules) {
  if (has_space(ref)) return "the reference contains white space";
  if (ref.starts_with("#")) {
    if (ref.size() == 1 || id_syntax_ok(ref.substr(1))) return std::nullopt;
    return "the reference is not a valid contained reference";
  }
  if (ref.starts_with("urn:uuid:")) {
    if (uuid_ok(ref.substr(9))) return std::nullopt;
    return "the reference is not a valid urn:uuid (lower-case 8-4-4-4-12 hex digits)";
  }
  if (ref.starts_with("urn:oid:")) {
    if (oid_ok(ref.substr(8))) return std::nullopt;
    return "the reference is not a valid urn:oid";
  }
  if (ref.starts_with("http://") || ref.starts_with("https://")) {
    if (ref.size() > ref.find("//") + 2) return std::nullopt;
    return "the reference is not a valid absolute URL";
  }
  size_t question = ref.find('?');
  size_t slash = ref.find('/');
  auto known = [&](std::string_view type) { return rules.resource_types.contains(type); };
  if (question != std::string_view::npos && question < slash) {
    std::string_view type = ref.substr(0, question);
    if (!known(type)) return "the reference names an unknown resource type";
    if (question + 1 == ref.size()) return "the reference has an empty search";
    return std::nullopt;
  }
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t next = ref.find('/', start);
    parts.push_back(ref.substr(start, next == std::string_view::npos ? next : next - start));
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  if (parts.size() != 2 && !(parts.size() == 4 && parts[2] == "_history"))
    return "the reference is not a relative (Type/id), absolute, urn:uuid:, urn:oid:, #contained or "
           "conditional (Type?search) reference";
  if (!known(parts[0])) return "the reference names an unknown resource type";
  if (!id_syntax_ok(parts[1])) return "the reference has an invalid id";
  if (parts.size() == 4 && !id_syntax_ok(parts[3])) return "the reference has an invalid version id";
  return std::nullopt;
}

// --- narrative --------------------------------------------------------------

// What R4's txt-1 allows in Narrative.div: the basic formatting elements of
// HTML 4.0 chapters 7 to 11 (not 9.4, ins and del) and 15 (font styles and
// hr, not the deprecated font, basefont and center), <a>, <img> and image
// maps, with their attributes and inline style. No head, body, script, style
// element, form, frame, iframe, object, base or link, and no event handler
// (onclick...). Both lists are sorted (binary search).
constexpr std::string_view kNarrativeElements[] = {
    "a",      "abbr",   "acronym", "address", "area",  "b",     "bdo",   "big",   "blockquote", "br",
    "caption", "cite",  "code",    "col",     "colgroup", "dd", "dfn",   "div",   "dl",    "dt",
    "em",     "h1",     "h2",      "h3",      "h4",    "h5",    "h6",    "hr",    "i",     "img",
    "kbd",    "li",     "map",     "ol",      "p",     "pre",   "q",     "s",     "samp",  "small",
    "span",   "strike", "strong",  "sub",     "sup",   "table", "tbody", "td",    "tfoot", "th",
    "thead",  "tr",     "tt",      "u",       "ul",    "var"};
constexpr std::string_view kNarrativeAttributes[] = {
    "abbr",    "accesskey", "align",   "alt",      "axis",   "bgcolor", "border",  "cellpadding", "cellspacing",
    "char",    "charoff",   "charset", "cite",     "class",  "clear",   "colspan", "compact",     "coords",
    "dir",     "frame",     "headers", "height",   "href",   "hreflang", "hspace", "id",          "ismap",
    "lang",    "longdesc",  "name",    "nohref",   "noshade", "nowrap", "rel",     "rev",         "rowspan",
    "rules",   "scope",     "shape",   "size",     "span",   "src",     "start",   "style",       "summary",
    "tabindex", "title",    "type",    "usemap",   "valign", "value",   "vspace",  "width",       "xml:lang",
    "xmlns"};
constexpr std::string_view kXhtmlNamespace = "http://www.w3.org/1999/xhtml";

bool xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool xml_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' || c == '_' || c == '.';
}

// An element or attribute name as a message may show it: HTML's own names
// that narratives may not use (script, iframe, onclick...) are markup; any
// other might be text of the record, so it is not quoted.
std::string markup_name(std::string_view name, std::string_view what) {
  static constexpr std::string_view kHtml[] = {
      "applet", "base",  "basefont", "body",     "button", "center", "del",      "embed",    "fieldset",
      "font",   "form",  "frame",    "frameset", "head",   "html",   "iframe",   "input",    "ins",
      "label",  "link",  "meta",     "noscript", "object", "option", "param",    "script",   "select",
      "style",  "svg",   "target",   "textarea", "title",  "action", "formaction", "srcset", "background"};
  bool handler = name.size() > 2 && name.size() <= 24 && name.starts_with("on") &&
                 std::all_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  if (handler || std::find(std::begin(kHtml), std::end(kHtml), name) != std::end(kHtml))
    return fmt::format("{} {}", what, name);
  return fmt::format("an {} that is not basic HTML formatting", what);
}

// Reads the entity reference at s[i] ('&'): &name;, &#n; or &#xh;. Returns
// its length (0 when malformed) and, for a numeric one, its code point.
size_t entity_at(std::string_view s, size_t i, long& code) {
  code = -1;
  size_t j = i + 1;
  if (j < s.size() && s[j] == '#') {
    bool hex = j + 1 < s.size() && s[j + 1] == 'x';
    j += hex ? 2 : 1;
    size_t start = j;
    long v = 0;
    while (j < s.size() && j - start < 8 && (hex ? std::isxdigit(static_cast<unsigned char>(s[j])) : is_digit(s[j]))) {
      v = v * (hex ? 16 : 10) + (is_digit(s[j]) ? s[j] - '0' : (std::tolower(static_cast<unsigned char>(s[j])) - 'a' + 10));
      ++j;
    }
    if (j == start || j >= s.size() || s[j] != ';') return 0;
    code = v;
    return j + 1 - i;
  }
  size_t start = j;
  while (j < s.size() && j - start < 32 && std::isalnum(static_cast<unsigned char>(s[j]))) ++j;
  if (j == start || !std::isalpha(static_cast<unsigned char>(s[start])) || j >= s.size() || s[j] != ';') return 0;
  return j + 1 - i;
}

// Whether URL attribute value `v` runs a script when followed: a
// javascript: or vbscript: URL (data: too for a link), however its scheme is
// spelt (entities, white space, case).
bool script_url(std::string_view v, bool link) {
  std::string plain;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '&') {
      long code = -1;
      size_t n = entity_at(v, i, code);
      if (n > 0) {
        std::string_view name = v.substr(i + 1, n - 2);
        c = code >= 0 ? static_cast<char>(code < 128 ? code : '?') : name == "colon" ? ':' : name == "amp" ? '&' : ' ';
        i += n - 1;
      }
    }
    if (static_cast<unsigned char>(c) <= 0x20) continue;  // browsers skip these in a scheme
    plain += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return plain.starts_with("javascript:") || plain.starts_with("vbscript:") || (link && plain.starts_with("data:"));
}

// Why the Narrative.div string `s` breaks txt-1, or nullopt. `content` says
// whether it holds anything but white space: text, a character reference or
// an image (txt-2). A small XML reader of ehr's own: one <div> in the XHTML
// namespace, tags that nest and close, quoted attributes, entity references,
// comments; the element and attribute names of kNarrativeElements and
// kNarrativeAttributes; no script URL and no script in a style attribute.
// Never quotes the narrative's text.
std::optional<std::string> narrative_problem(std::string_view s, bool& content) {
  content = false;
  const std::string malformed = "the narrative is not well-formed XHTML";
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size() && xml_space(s[i])) ++i;
  };
  std::vector<std::string_view> open;
  bool root_seen = false;
  skip_space();
  if (!s.substr(i).starts_with("<div"))
    return "the narrative must be one XHTML <div> element (<div xmlns=\"http://www.w3.org/1999/xhtml\">)";
  while (i < s.size()) {
    if (root_seen && open.empty()) {
      skip_space();
      if (i < s.size()) return "the narrative has content after its <div> element";
      break;
    }
    char c = s[i];
    if (c == '&') {
      long code = -1;
      size_t n = entity_at(s, i, code);
      if (n == 0) return malformed + " (a bare '&'; write &amp;)";
      if (code != 9 && code != 10 && code != 13 && code != 32) content = true;
      i += n;
      continue;
    }
    if (c != '<') {
      if (!xml_space(c)) content = true;
      ++i;
      continue;
    }
    if (s.substr(i).starts_with("<!--")) {
      size_t end = s.find("-->", i + 4);
      if (end == std::string_view::npos) return malformed + " (a comment is not closed)";
      i = end + 3;
      continue;
    }
    bool closing = i + 1 < s.size() && s[i + 1] == '/';
    size_t j = i + (closing ? 2 : 1);
    size_t name_start = j;
    while (j < s.size() && xml_name_char(s[j])) ++j;
    std::string_view name = s.substr(name_start, j - name_start);
    if (name.empty()) return malformed + " (a '<' that starts no tag; write &lt;)";
    i = j;
    if (closing) {
      skip_space();
      if (i >= s.size() || s[i] != '>') return malformed + " (an end tag is not closed)";
      ++i;
      if (open.empty() || open.back() != name) return malformed + " (an end tag does not match its start tag)";
      open.pop_back();
      continue;
    }
    if (!std::binary_search(std::begin(kNarrativeElements), std::end(kNarrativeElements), name))
      return fmt::format(
          "the narrative holds {}: FHIR R4 narratives allow only basic HTML formatting (no scripts, styles, "
          "forms, frames or objects)",
          markup_name(name, "element"));
    bool has_xmlns = false, empty_element = false;
    std::vector<std::string_view> attributes;
    for (;;) {
      size_t before = i;
      skip_space();
      if (i >= s.size()) return malformed + " (a tag is not closed)";
      if (s[i] == '>') {
        ++i;
        break;
      }
      if (s[i] == '/') {
        if (i + 1 >= s.size() || s[i + 1] != '>') return malformed + " (a '/' inside a tag)";
        i += 2;
        empty_element = true;
        break;
      }
      size_t a = i;
      while (i < s.size() && xml_name_char(s[i])) ++i;
      std::string_view attr = s.substr(a, i - a);
      if (attr.empty() || a == before) return malformed + " (an attribute is not name=\"value\")";
      skip_space();
      if (i >= s.size() || s[i] != '=') return malformed + " (an attribute is not name=\"value\")";
      ++i;
      skip_space();
      if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return malformed + " (an attribute value is not quoted)";
      size_t end = s.find(s[i], i + 1);
      if (end == std::string_view::npos) return malformed + " (an attribute value is not closed)";
      std::string_view value = s.substr(i + 1, end - i - 1);
      i = end + 1;
      if (value.find('<') != std::string_view::npos) return malformed + " (a '<' in an attribute value)";
      for (size_t k = value.find('&'); k != std::string_view::npos; k = value.find('&', k + 1)) {
        long code = -1;
        if (entity_at(value, k, code) == 0) return malformed + " (a bare '&'; write &amp;)";
      }
      if (std::find(attributes.begin(), attributes.end(), attr) != attributes.end())
        return malformed + " (an attribute given twice)";
      attributes.push_back(attr);
      if (!std::binary_search(std::begin(kNarrativeAttributes), std::end(kNarrativeAttributes), attr))
        return fmt::format(
            "the narrative holds {}: FHIR R4 narratives allow only basic HTML formatting attributes (no event "
            "handlers)",
            markup_name(attr, "attribute"));
      if (attr == "xmlns") {
        if (value != kXhtmlNamespace)
          return "the narrative is not in the XHTML namespace (xmlns=\"http://www.w3.org/1999/xhtml\")";
        has_xmlns = true;
      }
      if ((attr == "href" || attr == "src" || attr == "longdesc" || attr == "usemap" || attr == "cite") &&
          script_url(value, attr != "src"))
        return "the narrative holds a script URL (javascript:): FHIR R4 narratives may not run scripts";
      if (attr == "style") {
        std::string lower;
        for (char ch : value)
          if (!xml_space(ch) && ch != '\\') lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (lower.find("expression(") != std::string::npos || lower.find("javascript:") != std::string::npos ||
            lower.find("&#") != std::string::npos)
          return "the narrative holds a script in a style attribute: FHIR R4 narratives may not run scripts";
      }
    }
    if (!root_seen) {
      if (!has_xmlns)
        return "the narrative is not in the XHTML namespace (xmlns=\"http://www.w3.org/1999/xhtml\")";
      root_seen = true;
    }
    if (name == "img") content = true;
    if (!empty_element) open.push_back(name);
  }
  if (!open.empty()) return malformed + " (an element is not closed)";
  return std::nullopt;
}

// --- JSON helpers -----------------------------------------------------------

std::span<const Json> items_of(const Json* v) {
  if (v == nullptr) return {};
  if (v->is_array()) return v->items();
  return {v, 1};
}

const std::string* string_member(const Json& obj, std::string_view key) {
  const Json* v = obj.find(key);
  return v != nullptr && v->is_string() ? &v->text() : nullptr;
}

// Whether element `name` is present: its value or its primitive extension.
bool present(const Json& obj, std::string_view name) {
  if (!obj.is_object()) return false;
  if (obj.find(name) != nullptr) return true;
  return obj.find(std::string("_").append(name)) != nullptr;
}

// Whether choice element `base`[x] is present (valueQuantity, _valueString...).
bool choice_present(const Json& obj, std::string_view base) {
  if (!obj.is_object()) return false;
  for (const auto& [k, v] : obj.members()) {
    std::string_view key = k;
    if (key.starts_with("_")) key.remove_prefix(1);
    if (key.size() > base.size() && key.starts_with(base) &&
        std::isupper(static_cast<unsigned char>(key[base.size()])))
      return true;
  }
  return false;
}

// Whether CodeableConcept `cc` has a coding (system, code) with code in `codes`.
bool has_coding(const Json* cc, std::string_view system,
                std::initializer_list<std::string_view> codes) {
  if (cc == nullptr || !cc->is_object()) return false;
  for (const Json& c : items_of(cc->find("coding"))) {
    if (!c.is_object()) continue;
    const std::string* s = string_member(c, "system");
    const std::string* code = string_member(c, "code");
    if (s == nullptr || code == nullptr || *s != system) continue;
    for (std::string_view want : codes)
      if (*code == want) return true;
  }
  return false;
}

// Whether Codings `a` and `b` have the same system and code (both present).
bool same_coding(const Json& a, const Json& b) {
  if (!a.is_object() || !b.is_object()) return false;
  const std::string* sa = string_member(a, "system");
  const std::string* ca = string_member(a, "code");
  const std::string* sb = string_member(b, "system");
  const std::string* cb = string_member(b, "code");
  return sa != nullptr && ca != nullptr && sb != nullptr && cb != nullptr && *sa == *sb &&
         *ca == *cb;
}

bool non_empty(const Json* v) {
  return v != nullptr && !v->is_null() && !(v->is_array() && v->items().empty());
}

// --- invariants -------------------------------------------------------------

// Reports one violation of the invariant being checked at `path`.
using Report = std::function<void(const std::string& path)>;
using InvariantFn = void (*)(const Json& res, const std::string& root, const Report& report);

void for_each_item(const Json& res, std::string_view key, const std::string& root,
                   const std::function<void(const Json&, const std::string&)>& fn) {
  const Json* v = res.find(key);
  if (v == nullptr) return;
  if (!v->is_array()) {
    fn(*v, fmt::format("{}.{}", root, key));
    return;
  }
  for (size_t i = 0; i < v->items().size(); ++i)
    fn(v->items()[i], fmt::format("{}.{}[{}]", root, key, i));
}

struct Invariant {
  std::string_view name;
  InvariantFn check;
};

constexpr Invariant kInvariants[] = {
    {"ehr-pat-1",
     [](const Json& res, const std::string& root, const Report& report) {
       if (!non_empty(res.find("identifier")) && !non_empty(res.find("name"))) report(root);
     }},
    {"pat-1",
     [](const Json& res, const std::string& root, const Report& report) {
       for_each_item(res, "contact", root, [&](const Json& c, const std::string& path) {
         if (!present(c, "name") && !present(c, "telecom") && !present(c, "address") &&
             !present(c, "organization"))
           report(path);
       });
     }},
    {"con-3",
     [](const Json& res, const std::string& root, const Report& report) {
       // R4's expression (category.select($this='problem-list-item')) never
       // matches; this is the intent, as R4B wrote it.
       bool problem = false;
       for (const Json& cat : items_of(res.find("category")))
         problem = problem || has_coding(&cat, kConditionCategory, {"problem-list-item"});
       const Json* ver = res.find("verificationStatus");
       if (problem && non_empty(ver) && !has_coding(ver, kConditionVerStatus, {"entered-in-error"}) &&
           !present(res, "clinicalStatus"))
         report(root + ".clinicalStatus");
     }},
    {"con-4",
     [](const Json& res, const std::string& root, const Report& report) {
       if (choice_present(res, "abatement") &&
           !has_coding(res.find("clinicalStatus"), kConditionClinical,
                       {"inactive", "resolved", "remission"}))
         report(root + ".clinicalStatus");
     }},
    {"con-5",
     [](const Json& res, const std::string& root, const Report& report) {
       if (has_coding(res.find("verificationStatus"), kConditionVerStatus, {"entered-in-error"}) &&
           present(res, "clinicalStatus"))
         report(root + ".clinicalStatus");
     }},
    {"ait-1",
     [](const Json& res, const std::string& root, const Report& report) {
       if (!has_coding(res.find("verificationStatus"), kAllergyVerification, {"entered-in-error"}) &&
           !present(res, "clinicalStatus"))
         report(root + ".clinicalStatus");
     }},
    {"ait-2",
     [](const Json& res, const std::string& root, const Report& report) {
       if (has_coding(res.find("verificationStatus"), kAllergyVerification, {"entered-in-error"}) &&
           present(res, "clinicalStatus"))
         report(root + ".clinicalStatus");
     }},
    {"obs-6",
     [](const Json& res, const std::string& root, const Report& report) {
       if (present(res, "dataAbsentReason") && choice_present(res, "value"))
         report(root + ".dataAbsentReason");
     }},
    {"obs-7",
     [](const Json& res, const std::string& root, const Report& report) {
       if (!choice_present(res, "value")) return;
       const Json* code = res.find("code");
       if (code == nullptr || !code->is_object()) return;
       for_each_item(res, "component", root, [&](const Json& comp, const std::string& path) {
         if (!comp.is_object()) return;
         const Json* cc = comp.find("code");
         if (cc == nullptr || !cc->is_object()) return;
         for (const Json& a : items_of(code->find("coding")))
           for (const Json& b : items_of(cc->find("coding")))
             if (same_coding(a, b)) {
               report(path + ".code");
               return;
             }
       });
     }},
    {"cpl-3",
     [](const Json& res, const std::string& root, const Report& report) {
       for_each_item(res, "activity", root, [&](const Json& a, const std::string& path) {
         if (present(a, "reference") && present(a, "detail")) report(path);
       });
     }},
    {"org-1",
     [](const Json& res, const std::string& root, const Report& report) {
       if (!non_empty(res.find("identifier")) && !present(res, "name")) report(root);
     }},
    {"org-2",
     [](const Json& res, const std::string& root, const Report& report) {
       for_each_item(res, "address", root, [&](const Json& a, const std::string& path) {
         const std::string* use = a.is_object() ? string_member(a, "use") : nullptr;
         if (use != nullptr && *use == "home") report(path + ".use");
       });
     }},
    {"org-3",
     [](const Json& res, const std::string& root, const Report& report) {
       for_each_item(res, "telecom", root, [&](const Json& t, const std::string& path) {
         const std::string* use = t.is_object() ? string_member(t, "use") : nullptr;
         if (use != nullptr && *use == "home") report(path + ".use");
       });
     }},
    {"ppc-1",
     [](const Json& res, const std::string& root, const Report& report) {
       if (!non_empty(res.find("policy")) && !present(res, "policyRule")) report(root);
     }},
    // ppc-2..5: R4's expressions name the system 'something'; consentscope is meant.
    {"ppc-2",
     [](const Json& res, const std::string& root, const Report& report) {
       if (has_coding(res.find("scope"), kConsentScope, {"patient-privacy"}) &&
           !present(res, "patient"))
         report(root + ".patient");
     }},
    {"ppc-3",
     [](const Json& res, const std::string& root, const Report& report) {
       if (has_coding(res.find("scope"), kConsentScope, {"research"}) && !present(res, "patient"))
         report(root + ".patient");
     }},
    {"ppc-4",
     [](const Json& res, const std::string& root, const Report& report) {
       if (has_coding(res.find("scope"), kConsentScope, {"adr"}) && !present(res, "patient"))
         report(root + ".patient");
     }},
    {"ppc-5",
     [](const Json& res, const std::string& root, const Report& report) {
       if (has_coding(res.find("scope"), kConsentScope, {"treatment"}) && !present(res, "patient"))
         report(root + ".patient");
     }},
    {"sev-1",
     [](const Json& res, const std::string& root, const Report& report) {
       for_each_item(res, "entity", root, [&](const Json& e, const std::string& path) {
         if (present(e, "name") && present(e, "query")) report(path);
       });
     }},
};

const Invariant* find_invariant(std::string_view name) {
  for (const Invariant& inv : kInvariants)
    if (inv.name == name) return &inv;
  return nullptr;
}

// --- Validator --------------------------------------------------------------

std::string quote_codes(const std::vector<std::string>& codes) {
  std::string out;
  for (const auto& c : codes) {
    if (!out.empty()) out += ", ";
    out += c;
  }
  return out;
}

class Validator {
 public:
  explicit Validator(const FhirRules& rules) : rules_(rules) {}

  // Validates the resource `res` whose path is `path` ("" for the top).
  // `container_ids` is the set of contained ids that "#id" references may
  // name: the container's for a contained resource, else this resource's own.
  void resource(const Json& res, const std::string& path,
                const std::vector<std::string>* container_ids) {
    if (!res.is_object()) {
      add(path, "json-type",
          std::string("a resource must be a JSON object, not ") + kind_name(res), true);
      return;
    }
    // The root of every path: the type when known, else "Resource".
    const std::string* type = string_member(res, "resourceType");
    bool known = type != nullptr && rules_.resource_types.contains(*type);
    std::string root = !path.empty() ? path : known ? *type : "Resource";
    const Json* rt = res.find("resourceType");
    if (rt == nullptr) {
      add(root + ".resourceType", "resource-type", "resourceType is missing", true);
    } else if (!rt->is_string()) {
      add(root + ".resourceType", "resource-type", "resourceType must be a string", true);
    } else if (!known) {
      add(root + ".resourceType", "resource-type",
          fmt::format("unknown resource type \"{}\"", rt->text()), true);
    }

    if (const Json* id = res.find("id")) {
      if (!id->is_string())
        add(root + ".id", "json-type", "id must be a string", true);
      else if (!id->text().empty() && !id_syntax_ok(id->text()))
        add(root + ".id", "id-syntax",
            "id is not 1 to 64 letters, digits, '-' or '.'", true);
    }
    if (const Json* meta = res.find("meta"); meta != nullptr && meta->is_object()) {
      const std::string* vid = string_member(*meta, "versionId");
      if (vid != nullptr && !vid->empty() && !id_syntax_ok(*vid))
        add(root + ".meta.versionId", "id-syntax",
            "versionId is not 1 to 64 letters, digits, '-' or '.'", true);
      security_labels(*meta, root + ".meta");
      // A SUBSETTED copy (what _summary and _elements searches return) lacks
      // elements the full resource has; FHIR's search.html says it must not
      // overwrite a complete one. Only the resource itself: a nested one
      // (contained, in a stored Bundle) replaces nothing.
      if (path.empty()) subsetted(*meta, root + ".meta");
    }

    // "#id" references in this resource resolve against the container's
    // contained resources when it is contained, else against its own.
    std::vector<std::string> own_ids;
    if (container_ids == nullptr) {
      for (const Json& c : items_of(res.find("contained")))
        if (const std::string* cid = c.is_object() ? string_member(c, "id") : nullptr)
          own_ids.push_back(*cid);
      container_ids = &own_ids;
    }

    if (known) {
      auto it = rules_.resources.find(*type);
      if (it != rules_.resources.end()) first_class(res, root, it->second);
    }

    std::string p = root;
    walk_members(res, p, "", container_ids, /*in_resource_root=*/true, known ? def_of(*type) : kNoDef);
  }

  std::vector<ValidationIssue> take() {
    std::stable_partition(issues_.begin(), issues_.end(),
                          [](const ValidationIssue& i) { return i.is_error; });
    return std::move(issues_);
  }

 private:
  void add(std::string path, std::string rule, std::string message, bool is_error) {
    issues_.push_back({std::move(path), std::move(rule), std::move(message), is_error});
  }

  // Whether an error names `path` already (a rule more specific than the
  // walk's, such as a binding's "expected a CodeableConcept object").
  bool reported(const std::string& path) const {
    return std::any_of(issues_.begin(), issues_.end(),
                       [&](const ValidationIssue& i) { return i.is_error && i.path == path; });
  }

  static const char* kind_name(const Json& v) {
    switch (v.kind()) {
      case Json::Kind::kNull: return "null";
      case Json::Kind::kBool: return "a boolean";
      case Json::Kind::kNumber: return "a number";
      case Json::Kind::kString: return "a string";
      case Json::Kind::kArray: return "an array";
      case Json::Kind::kObject: return "an object";
    }
    return "?";
  }

  void security_labels(const Json& meta, const std::string& meta_path) {
    const Json* sec = meta.find("security");
    if (sec == nullptr || !sec->is_array()) return;
    for (size_t i = 0; i < sec->items().size(); ++i) {
      const Json& c = sec->items()[i];
      std::string path = fmt::format("{}.security[{}]", meta_path, i);
      if (!c.is_object()) {
        add(path, "security-label", "a security label must be a Coding object", true);
        continue;
      }
      const std::string* system = string_member(c, "system");
      const std::string* code = string_member(c, "code");
      if (system == nullptr || system->empty()) {
        add(path, "security-label", "a security label needs a system", true);
      }
      if (code == nullptr || code->empty()) {
        add(path, "security-label", "a security label needs a code", true);
        continue;
      }
      const auto& codes = rules_.confidentiality_codes;
      if (system != nullptr && *system == rules_.confidentiality_system &&
          std::find(codes.begin(), codes.end(), *code) == codes.end())
        add(path + ".code", "security-label",
            fmt::format("confidentiality code is not one of {}", quote_codes(codes)),
            true);
    }
  }

  void subsetted(const Json& meta, const std::string& meta_path) {
    const Json* tags = meta.find("tag");
    if (tags == nullptr || !tags->is_array()) return;
    for (size_t i = 0; i < tags->items().size(); ++i) {
      const Json& c = tags->items()[i];
      const std::string* system = c.is_object() ? string_member(c, "system") : nullptr;
      const std::string* code = c.is_object() ? string_member(c, "code") : nullptr;
      if (system != nullptr && *system == kObservationValue && code != nullptr && *code == "SUBSETTED") {
        add(fmt::format("{}.tag[{}]", meta_path, i), "subsetted",
            "an incomplete copy (SUBSETTED): import the full resource", true);
        return;
      }
    }
  }

  // txt-1 and txt-2 on Narrative.div (FHIR R4 narrative.html): errors in R4.
  void narrative_div(const std::string& div, const std::string& path) {
    bool content = false;
    if (auto problem = narrative_problem(div, content))
      add(path, "txt-1", *problem, true);
    else if (!content)
      add(path, "txt-2", "the narrative has no content but white space", true);
  }

  // Calls fn(parent object, parent path) for every object reached by the
  // path `p` minus its last element, starting from `obj`.
  template <typename Fn>
  void parents(const Json& obj, const std::string& path, const ElementPath& p, size_t depth,
               Fn&& fn) {
    if (!obj.is_object()) return;
    if (depth + 1 == p.size()) {
      fn(obj, path);
      return;
    }
    const Json* v = obj.find(p[depth]);
    if (v == nullptr) return;
    if (v->is_array()) {
      for (size_t i = 0; i < v->items().size(); ++i)
        parents(v->items()[i], fmt::format("{}.{}[{}]", path, p[depth], i), p, depth + 1, fn);
    } else {
      parents(*v, path + "." + p[depth], p, depth + 1, fn);
    }
  }

  void first_class(const Json& res, const std::string& root, const ResourceRules& rr) {
    for (const ElementPath& p : rr.required) {
      parents(res, root, p, 0, [&](const Json& parent, const std::string& ppath) {
        const std::string& last = p.back();
        bool ok = last.ends_with("[x]")
                      ? choice_present(parent, std::string_view(last).substr(0, last.size() - 3))
                      : present(parent, last);
        if (!ok) add(ppath + "." + last, "required", "required element is missing", true);
      });
    }
    for (const BindingRule& b : rr.bindings) {
      parents(res, root, b.path, 0, [&](const Json& parent, const std::string& ppath) {
        const Json* v = parent.find(b.path.back());
        if (v == nullptr || v->is_null()) return;  // null: the walk reports it
        std::string path = ppath + "." + b.path.back();
        if (v->is_array()) {
          for (size_t i = 0; i < v->items().size(); ++i)
            if (!v->items()[i].is_null()) binding(b, v->items()[i], fmt::format("{}[{}]", path, i));
        } else {
          binding(b, *v, path);
        }
      });
    }
    for (const auto& [p, kind] : rr.dates) {
      parents(res, root, p, 0, [&](const Json& parent, const std::string& ppath) {
        if (const Json* v = parent.find(p.back()); v != nullptr && v->is_string())
          date(*v, ppath + "." + p.back(), kind);
      });
    }
    for (const std::string& name : rr.invariants) {
      const Invariant* inv = find_invariant(name);
      auto info = rules_.invariants.find(name);
      if (inv == nullptr || info == rules_.invariants.end()) {
        add(root, "internal", fmt::format("the rules name invariant {}, which this ehr does not know", name), true);
        continue;
      }
      inv->check(res, root, [&](const std::string& path) {
        add(path, name, info->second.message, info->second.is_error);
      });
    }
  }

  void binding(const BindingRule& b, const Json& v, const std::string& path) {
    auto allowed = [&](const std::string& code) {
      return std::find(b.codes.begin(), b.codes.end(), code) != b.codes.end();
    };
    auto not_in = [&] { return fmt::format("code is not one of {}", quote_codes(b.codes)); };
    if (b.system.empty()) {
      if (!v.is_string())
        add(path, "json-type", std::string("expected a code string, not ") + kind_name(v), true);
      else if (!v.text().empty() && !allowed(v.text()))
        add(path, "binding", not_in(), true);
      return;
    }
    if (!v.is_object()) {
      add(path, "json-type", std::string("expected a CodeableConcept object, not ") + kind_name(v),
          true);
      return;
    }
    bool found = false, reported = false;
    const Json* codings = v.find("coding");
    if (codings != nullptr && codings->is_array()) {
      for (size_t i = 0; i < codings->items().size(); ++i) {
        const Json& c = codings->items()[i];
        if (!c.is_object()) continue;
        const std::string* system = string_member(c, "system");
        const std::string* code = string_member(c, "code");
        if (system == nullptr || *system != b.system) continue;
        if (code != nullptr && allowed(*code)) {
          found = true;
        } else {
          reported = true;
          add(fmt::format("{}.coding[{}].code", path, i), "binding",
              code != nullptr ? not_in() : std::string("the coding has no code"), true);
        }
      }
    }
    if (!found && !reported)
      add(path, "binding",
          fmt::format("no coding from {} (one of {})", b.system, quote_codes(b.codes)), true);
  }

  void date(const Json& v, const std::string& path, DateKind kind) {
    if (v.text().empty() || date_syntax_ok(v.text(), kind)) return;
    // Checked once: by its R4 type and by a type's `dates:` rule alike.
    for (const auto& i : issues_)
      if (i.rule == "date-syntax" && i.path == path) return;
    static constexpr std::string_view kForms[] = {
        "YYYY, YYYY-MM or YYYY-MM-DD",
        "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]+zz:zz",
        "YYYY-MM-DDThh:mm:ss[.sss]+zz:zz",
        "hh:mm:ss[.sss]",
    };
    add(path, "date-syntax",
        fmt::format("not a valid {} ({})", detail::date_kind_name(kind),
                    kForms[static_cast<int>(kind)]),
        true);
  }

  // The date kind of string member `key` from the global rules, if any.
  std::optional<DateKind> global_date_kind(std::string_view key, std::string_view parent_key) {
    if (auto it = rules_.date_names.find(key); it != rules_.date_names.end()) return it->second;
    for (const auto& [suffix, kind] : rules_.date_suffixes)
      if (key.size() > suffix.size() && key.ends_with(suffix) &&
          std::islower(static_cast<unsigned char>(key[0])))
        return kind;
    if (parent_key == "period" ||
        (parent_key.size() > 6 && parent_key.ends_with("Period") &&
         std::islower(static_cast<unsigned char>(parent_key[0])))) {
      for (const auto& m : rules_.period_members)
        if (key == m) return DateKind::kDateTime;
    }
    return std::nullopt;
  }

  void check_digit(const CheckDigitRule& rule, const std::string& value, const std::string& path,
                   bool in_coding) {
    bool is_error = in_coding ? rule.coding_error : rule.identifier_error;
    auto malformed = [&](std::string_view form) {
      add(path, rule.rule, fmt::format("{} is malformed ({})", rule.label, form),
          is_error);
    };
    auto fails = [&] {
      add(path, rule.rule, fmt::format("{} fails its check digit", rule.label), is_error);
    };
    if (rule.algorithm == "loinc") {
      if (loinc_code_valid(value)) return;
      size_t dash = value.find('-');
      size_t letters = value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
      bool shaped = dash != std::string::npos && dash + 2 == value.size() && letters < dash &&
                    value.find_first_not_of("0123456789", letters) == dash &&
                    is_digit(value.back()) && (letters > 0 || dash <= 7);
      if (shaped)
        fails();
      else
        malformed("digits, '-' and a check digit");
    } else if (rule.algorithm == "snomed") {
      bool numeric = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
      if (!numeric) {
        // A post-coordinated expression ("128045006:{363698007=56459004}") is
        // allowed in Coding.code; ehr does not parse those.
        if (in_coding && value.find_first_of(":={}+|") != std::string::npos) return;
        malformed("6 to 18 digits");
        return;
      }
      if (snomed_sctid_valid(value)) {
        if (in_coding && value[value.size() - 2] != '0')
          add(path, rule.rule,
              fmt::format("{} is not a concept id (partition {})", rule.label,
                          value.substr(value.size() - 3, 2)),
              is_error);
        return;
      }
      // Well formed (length, no leading zero, partition) but a bad check digit?
      std::string other = value;
      bool shaped = false;
      for (char d = '0'; d <= '9' && !shaped; ++d) {
        other.back() = d;
        shaped = snomed_sctid_valid(other);
      }
      if (shaped)
        fails();
      else
        malformed("6 to 18 digits, no leading zero, a known partition id");
    } else if (rule.algorithm == "npi") {
      if (npi_valid(value)) return;
      bool shaped = value.size() == 10 && (value[0] == '1' || value[0] == '2') &&
                    value.find_first_not_of("0123456789") == std::string::npos;
      if (shaped)
        fails();
      else
        malformed("10 digits, the first 1 or 2");
    }
  }

  // Coding-like and Identifier-like objects: check digits by system.
  void codes_in(const Json& obj, const std::string& path) {
    const std::string* system = string_member(obj, "system");
    if (system == nullptr) return;
    const CheckDigitRule* rule = rules_.check_digit_rule(*system);
    if (rule == nullptr) return;
    if (const std::string* code = string_member(obj, "code"); code != nullptr && !code->empty())
      check_digit(*rule, *code, path + ".code", /*in_coding=*/true);
    if (const std::string* value = string_member(obj, "value"); value != nullptr && !value->empty())
      check_digit(*rule, *value, path + ".value", /*in_coding=*/false);
  }

  // The definitions of schemas/fhir/elements.txt: `def` is an index in
  // compiled_element_defs(), kNoDef where the structure is unknown.
  static constexpr int kNoDef = -3;

  static int def_of(std::string_view name) {
    auto defs = detail::compiled_element_defs();
    auto it = std::lower_bound(defs.begin(), defs.end(), name,
                               [](const detail::FhirElementDef& d, std::string_view n) { return d.name < n; });
    return it != defs.end() && it->name == name ? static_cast<int>(it - defs.begin()) : kNoDef;
  }

  static const detail::FhirElement* element_of(int def, std::string_view name) {
    auto elements = detail::compiled_element_defs()[static_cast<size_t>(def)].elements;
    auto it = std::lower_bound(elements.begin(), elements.end(), name,
                               [](const detail::FhirElement& e, std::string_view n) { return e.name < n; });
    return it != elements.end() && it->name == name ? &*it : nullptr;
  }

  // "Condition_Stage" -> "Condition.stage", as the specification names it.
  static std::string def_display(int def) {
    std::string out;
    bool lower = false;
    for (char c : detail::compiled_element_defs()[static_cast<size_t>(def)].name) {
      if (c == '_') {
        out += '.';
        lower = true;
        continue;
      }
      out += lower ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
      lower = false;
    }
    return out;
  }

  // What member `key` of an object of definition `def` holds (a definition,
  // FhirElement::kPrimitive or kAnyResource); kNoDef, after reporting it,
  // for a member the definition does not have. _x is the extension of
  // primitive x, an Element.
  // `repeats` tells whether the member is a JSON array in R4 (that of x
  // for _x); untouched for an unknown member.
  int member_def(int def, const std::string& key, const std::string& path, std::optional<bool>& repeats) {
    if (def < 0) return kNoDef;
    bool extension = key.starts_with('_');
    const detail::FhirElement* e = element_of(def, extension ? std::string_view(key).substr(1) : key);
    if (e != nullptr) repeats = e->repeats;
    if (e != nullptr && !extension) return e->target;
    if (e != nullptr && detail::FhirElement::is_primitive(e->target)) {
      static const int element = def_of("Element");
      return element;
    }
    repeats.reset();
    add(path, "unknown-element", fmt::format("not an element of {} in FHIR R4", def_display(def)), false);
    return kNoDef;
  }

  // A choice element (value[x]) takes one variant at most: valueString and
  // valueBoolean together leave a reader to pick one.
  void one_variant_each(const Json& obj, const std::string& path, int def) {
    std::vector<std::pair<std::string_view, std::string_view>> seen;  // choice, first variant
    for (const auto& [key, v] : obj.members()) {
      const detail::FhirElement* e = element_of(def, key);
      if (e == nullptr || e->choice.empty()) continue;
      auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == e->choice; });
      if (it == seen.end()) {
        seen.emplace_back(e->choice, e->name);
      } else if (it->second != "") {
        add(path + "." + std::string(e->choice), "choice-type",
            fmt::format("only one of {} and {} may be given", it->second, e->name), true);
        it->second = "";  // once per choice
      }
    }
  }

  void walk_members(const Json& obj, std::string& path, std::string_view parent_key,
                    const std::vector<std::string>* ids, bool in_resource_root, int def) {
    codes_in(obj, path);
    if (def >= 0) one_variant_each(obj, path, def);
    static const int period = def_of("Period");
    if (def == period && def >= 0) period_order(obj, path);
    for (const auto& [key, v] : obj.members()) {
      if (in_resource_root && key == "resourceType") continue;
      size_t len = path.size();
      path += '.';
      // A name is part of the path; one that is no name (it may hold
      // anything, even patient data) is not quoted.
      bool name_like = !key.empty() && key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
      path += name_like ? key : std::string("(a member not named like an element)");
      std::optional<bool> repeats;
      int child = member_def(def, key, path, repeats);
      // An element that repeats is a JSON array, one that does not is not.
      if (repeats && !v.is_null() && *repeats != v.is_array()) {
        add(path, "json-type",
            *repeats ? std::string("expected an array (the element repeats), not ") + kind_name(v)
                     : std::string("expected a single value, not an array (the element does not repeat)"),
            true);
        path.resize(len);
        continue;
      }
      if (v.is_null()) {
        add(path, "null-value", "null is not allowed; leave the element out", true);
      } else if (v.is_array()) {
        if (v.items().empty()) add(path, "empty-value", "array has no items", true);
        // Nulls inside an array align a primitive array with its extensions
        // ("given": ["A", null], "_given": [null, {...}]): allowed when the
        // partner array exists.
        bool partner = key.starts_with("_") ? obj.find(std::string_view(key).substr(1)) != nullptr
                                            : obj.find("_" + key) != nullptr;
        for (size_t i = 0; i < v.items().size(); ++i) {
          size_t len2 = path.size();
          path += fmt::format("[{}]", i);
          const Json& item = v.items()[i];
          // FHIR (extensibility.html#modifierExtension) requires a reader to
          // check modifier extensions: one can reverse what the record says
          // (doNotPerform, "result invalid"), and ehr understands none. A
          // warning, not an error: the source cannot be corrected from here,
          // and the record is kept whole so the next reader can act on it.
          if (key == "modifierExtension" && item.is_object())
            add(path, "modifier-extension",
                "a modifier extension ehr does not know: it may change what this record means", false);
          if (item.is_null()) {
            if (!partner) add(path, "null-value", "null is not allowed; leave the element out", true);
          } else {
            value(item, path, key, parent_key, ids, in_resource_root && key == "contained", child);
          }
          path.resize(len2);
        }
      } else {
        value(v, path, key, parent_key, ids, false, child);
        static const int narrative = def_of("Narrative");
        if (def == narrative && key == "div" && v.is_string()) narrative_div(v.text(), path);
      }
      path.resize(len);
    }
  }

  // The JSON type an element's name fixes in R4, where it fixes one: a choice
  // element's type suffix (valueBoolean, multipleBirthInteger, valueDecimal),
  // `active` (boolean in every resource that has it), and the value of a
  // Quantity-like element (valueQuantity.value, referenceRange.low.value).
  enum class Primitive { kNone, kBoolean, kInteger, kUnsignedInt, kPositiveInt, kDecimal };
  static Primitive primitive_of(std::string_view key, std::string_view parent_key) {
    auto suffix = [&](std::string_view name, std::string_view end) {
      return name.size() > end.size() && name.ends_with(end) &&
             std::islower(static_cast<unsigned char>(name[0]));
    };
    if (key == "active" || suffix(key, "Boolean")) return Primitive::kBoolean;
    if (suffix(key, "Integer")) return Primitive::kInteger;
    if (suffix(key, "UnsignedInt")) return Primitive::kUnsignedInt;
    if (suffix(key, "PositiveInt")) return Primitive::kPositiveInt;
    if (suffix(key, "Decimal")) return Primitive::kDecimal;
    if (key == "value" &&
        (parent_key == "low" || parent_key == "high" || suffix(parent_key, "Quantity") ||
         suffix(parent_key, "Age") || suffix(parent_key, "Duration") || suffix(parent_key, "Money")))
      return Primitive::kDecimal;
    return Primitive::kNone;
  }

  void primitive(const Json& v, const std::string& path, Primitive p) {
    if (p == Primitive::kBoolean) {
      if (!v.is_bool()) add(path, "json-type", std::string("expected true or false, not ") + kind_name(v), true);
      return;
    }
    if (!v.is_number()) {
      add(path, "json-type", std::string("expected a number, not ") + kind_name(v), true);
      return;
    }
    if (p == Primitive::kDecimal) return;  // any JSON number is an R4 decimal
    // R4 integer: -?(0|[1-9][0-9]*), 32 bits; the text is the number as written.
    const std::string& t = v.text();
    std::string_view digits = t;
    bool negative = digits.starts_with('-');
    if (negative) digits.remove_prefix(1);
    bool whole = !digits.empty() && digits.size() <= 10 &&
                 digits.find_first_not_of("0123456789") == std::string_view::npos &&
                 (digits[0] != '0' || digits.size() == 1);
    long long n = whole ? std::stoll(std::string(digits)) * (negative ? -1 : 1) : 0;
    long long low = p == Primitive::kPositiveInt ? 1 : p == Primitive::kUnsignedInt ? 0 : -2147483648LL;
    if (!whole || n < low || n > 2147483647LL)
      add(path, "json-type",
          p == Primitive::kPositiveInt   ? "expected a whole number from 1 to 2147483647"
          : p == Primitive::kUnsignedInt ? "expected a whole number from 0 to 2147483647"
                                         : "expected a whole number from -2147483648 to 2147483647",
          true);
  }

  void value(const Json& v, std::string& path, const std::string& key, std::string_view parent_key,
             const std::vector<std::string>* ids, bool contained, int def) {
    if (Primitive p = primitive_of(key, parent_key); p != Primitive::kNone) {
      primitive(v, path, p);
      return;
    }
    if (v.is_object()) {
      if (v.members().empty()) {
        add(path, "empty-value", "object has no members", true);
        return;
      }
      if (def == detail::FhirElement::kAnyResource || (def == kNoDef && v.find("resourceType") != nullptr)) {
        // A nested resource: contained ones share the container's ids.
        resource(v, path, contained ? ids : nullptr);
        return;
      }
      if (detail::FhirElement::is_primitive(def)) {
        add(path, "json-type", "expected a primitive value (string, number or true/false), not an object", true);
        return;
      }
      walk_members(v, path, key, ids, false, def);
      return;
    }
    if ((def >= 0 || def == detail::FhirElement::kAnyResource) && !reported(path)) {
      add(path, "json-type",
          std::string(def >= 0 ? "expected an object (" + def_display(def) + ")" : std::string("expected a resource")) +
              ", not " + kind_name(v),
          true);
      return;
    }
    if (!v.is_string()) return;
    const std::string& s = v.text();
    if (s.empty()) {
      add(path, "empty-value", "value is an empty string", true);
      return;
    }
    // R4 strings: [ \r\n\t\S]+, so no other control character (a NUL
    // would cut the value short in C tools and terminals).
    if (std::any_of(s.begin(), s.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r' && c != '\n';
        }))
      add(path, "string-chars", "the string holds a control character (only tab, CR and LF are allowed)", true);
    if (std::all_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
      add(path, "blank-string", "value is only white space", false);
    if (key == "reference") {
      if (auto problem = reference_problem(s, rules_)) {
        add(path, "reference-syntax", *problem, true);
      } else if (s.size() > 1 && s[0] == '#' &&
                 std::find(ids->begin(), ids->end(), std::string_view(s).substr(1)) == ids->end()) {
        add(path, "reference-contained",
            "the reference names no contained resource", true);
      }
    }
    // A date-typed element by its R4 type (QA finding dates 10: only the
    // element names of the global rules were checked, so "yesterday" passed
    // as Composition.date); an element of no known definition by its name.
    if (auto kind = date_kind_of(def)) date(v, path, *kind);
    else if (def == kNoDef)
      if (auto named = global_date_kind(key, parent_key)) date(v, path, *named);
  }

  // per-1: a Period's start is not after its end. Dates of another
  // precision compare by the span each may stand for (2026 to 2026-03-01
  // holds; 2026-03-02 to 2026-03-01 does not).
  void period_order(const Json& period, const std::string& path) {
    const Json* start = period.find("start");
    const Json* end = period.find("end");
    if (start == nullptr || end == nullptr || !start->is_string() || !end->is_string()) return;
    if (!date_syntax_ok(start->text(), DateKind::kDateTime) || !date_syntax_ok(end->text(), DateKind::kDateTime)) return;
    auto first = clinical_date_span(clinical_date_key(start->text())).first;
    auto last = clinical_date_span(clinical_date_key(end->text())).second;
    if (first > last)
      add(path, "per-1", fmt::format("the period ends ({}) before it starts ({})", end->text(), start->text()), true);
  }

  static std::optional<DateKind> date_kind_of(int def) {
    switch (def) {
      case detail::FhirElement::kDate: return DateKind::kDate;
      case detail::FhirElement::kDateTime: return DateKind::kDateTime;
      case detail::FhirElement::kInstant: return DateKind::kInstant;
      case detail::FhirElement::kTime: return DateKind::kTime;
      default: return std::nullopt;
    }
  }

  const FhirRules& rules_;
  std::vector<ValidationIssue> issues_;
};

}  // namespace

std::vector<ValidationIssue> validate_resource(const Json& resource) {
  const auto& rules = detail::embedded_fhir_rules();
  if (!rules.ok())
    return {{"", "internal", "the FHIR rules failed to load: " + rules.error().message(), true}};
  Validator v(*rules);
  v.resource(resource, "", nullptr);
  return v.take();
}

bool has_errors(const std::vector<ValidationIssue>& issues) {
  return std::any_of(issues.begin(), issues.end(), [](const ValidationIssue& i) { return i.is_error; });
}

std::string warning_message(const ValidationIssue& issue) {
  return issue.rule == "unknown-element" ? issue.message + " (kept)" : issue.message;
}

std::string format_issue(const ValidationIssue& issue) {
  if (issue.path.empty()) return issue.message;
  return issue.path + ": " + issue.message;
}

bool is_first_class_type(std::string_view type) {
  const auto& rules = detail::embedded_fhir_rules();
  return rules.ok() && rules->resources.contains(type);
}

bool is_r4_resource_type(std::string_view type) {
  // The build's copy of the rule file's list (tools/schema_compile_gen.cc):
  // checking a name needs no YAML loaded.
  std::span<const std::string_view> types = detail::compiled_resource_types();
  return std::binary_search(types.begin(), types.end(), type);
}

namespace detail {

// For the tests: every invariant the YAML may name.
std::vector<std::string_view> implemented_invariants_for_testing() {
  std::vector<std::string_view> out;
  for (const Invariant& inv : kInvariants) out.push_back(inv.name);
  return out;
}

}  // namespace detail

}  // namespace ehr
