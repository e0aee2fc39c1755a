// Lookup columns and tokens of a resource (resource_index.h).
#include "resource_index.h"

#include <cctype>

#include "ehr/matching.h"
#include "ehr/records.h"
#include "instant.h"
#include "words.h"

namespace ehr {

namespace {

const Json* path(const Json& j, std::initializer_list<std::string_view> keys) {
  const Json* cur = &j;
  for (auto k : keys) {
    if (cur->is_array()) {
      if (cur->items().empty()) return nullptr;
      cur = &cur->items().front();
    }
    cur = cur->find(k);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}


bool is_digit_or_letter(unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80; }

void collect_references(const Json& j, std::vector<std::pair<std::string, std::string>>& out,
                        int depth) {
  if (depth > 64) return;
  if (j.is_object()) {
    for (const auto& [k, v] : j.members()) {
      if (k == "reference" && v.is_string()) {
        std::string type, id;
        if (parse_reference(v.text(), type, id)) out.emplace_back(type, id);
      } else if (k != "contained") {
        collect_references(v, out, depth + 1);
      }
    }
  } else if (j.is_array()) {
    for (const auto& item : j.items()) collect_references(item, out, depth + 1);
  }
}

// The element names whose untyped logical reference is taken to name a
// patient: the Patient compartment's subject-like links.
bool is_patient_slot(std::string_view key) {
  return key == "subject" || key == "patient" || key == "beneficiary" || key == "for" ||
         key == "individual";
}

// Collects the patients `j` (the value of element `key`) references, at any
// depth, contained resources included: literal references to a Patient into
// `ids` (distinct), logical ones (see index_resource) into `keys`.
void collect_patient_links(const Json& j, std::string_view key, std::vector<std::string>& ids,
                           std::vector<std::pair<std::string, std::string>>& keys, int depth) {
  if (depth > 64) return;
  if (j.is_object()) {
    const Json* ref = j.find("reference");
    const Json* ident = j.find("identifier");
    if (ref != nullptr && ref->is_string()) {
      std::string type, id;
      if (parse_reference(ref->text(), type, id) && type == "Patient" &&
          std::find(ids.begin(), ids.end(), id) == ids.end())
        ids.push_back(id);
    } else if (ident != nullptr && ident->is_object()) {
      std::string type = text_of(j.find("type"));
      std::string value = text_of(ident->find("value"));
      if (!value.empty() && (type == "Patient" || (type.empty() && is_patient_slot(key))))
        keys.emplace_back(text_of(ident->find("system")), value);
    }
    for (const auto& [k, v] : j.members())
      if (k != "reference") collect_patient_links(v, k, ids, keys, depth + 1);
  } else if (j.is_array()) {
    for (const auto& item : j.items()) collect_patient_links(item, key, ids, keys, depth + 1);
  }
}

void add_tokens(const std::string& text, std::vector<std::string>& out) {
  std::string folded = fold_name(text);
  std::string cur;
  for (char ch : folded) {
    if (is_digit_or_letter(static_cast<unsigned char>(ch))) {
      cur += ch;
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
}

}  // namespace

bool parse_reference(std::string_view ref, std::string& type, std::string& id) {
  if (ref.empty() || ref[0] == '#' || ref.rfind("urn:", 0) == 0) return false;
  if (ref.find('?') != std::string_view::npos) return false;
  if (ref.find("://") != std::string_view::npos) return false;
  auto hist = ref.find("/_history/");
  if (hist != std::string_view::npos) ref = ref.substr(0, hist);
  auto slash = ref.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == ref.size()) return false;
  auto prev = ref.rfind('/', slash - 1);
  std::string_view t = ref.substr(prev == std::string_view::npos ? 0 : prev + 1,
                                  slash - (prev == std::string_view::npos ? 0 : prev + 1));
  if (t.empty() || !std::isupper(static_cast<unsigned char>(t[0]))) return false;
  type = std::string(t);
  id = std::string(ref.substr(slash + 1));
  return true;
}

std::string text_of(const Json* j) { return j != nullptr && j->is_string() ? j->text() : std::string(); }

std::string concept_text(const Json* codeable) {
  if (codeable == nullptr) return "";
  if (codeable->is_array()) codeable = codeable->items().empty() ? nullptr : &codeable->items().front();
  if (codeable == nullptr) return "";
  std::string text = text_of(codeable->find("text"));
  if (!text.empty()) return text;
  const Json* coding = codeable->find("coding");
  if (coding != nullptr && coding->is_array() && !coding->items().empty()) {
    const Json& c = coding->items().front();
    std::string display = text_of(c.find("display"));
    return display.empty() ? text_of(c.find("code")) : display;
  }
  return "";
}

std::string clinical_date_key(std::string_view value) {
  if (value.find('T') == std::string_view::npos) return std::string(value);
  std::string utc = detail::normalised_instant(value);
  return utc.empty() ? std::string(value) : utc;
}

std::pair<std::string, std::string> clinical_date_span(std::string_view key) {
  std::string k(key);
  auto digits = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i)
      if (i >= k.size() || k[i] < '0' || k[i] > '9') return false;
    return true;
  };
  if (k.size() == 10 && digits(0, 4) && k[4] == '-' && digits(5, 2) && k[7] == '-' && digits(8, 2))
    return {k + "T00:00:00.000Z", k + "T23:59:59.999Z"};
  if (k.size() == 7 && digits(0, 4) && k[4] == '-' && digits(5, 2))
    return {k + "-01T00:00:00.000Z", k + "-31T23:59:59.999Z"};  // as text, "-31" bounds every month
  if (k.size() == 4 && digits(0, 4)) return {k + "-01-01T00:00:00.000Z", k + "-12-31T23:59:59.999Z"};
  return {k, k};
}

std::string clinical_date_text(const Json& r) {
  static const std::initializer_list<std::string_view> kDates[] = {
      {"effectiveDateTime"}, {"effectivePeriod", "start"}, {"effectiveInstant"},
      {"onsetDateTime"},     {"onsetPeriod", "start"},      {"occurrenceDateTime"},
      {"performedDateTime"}, {"performedPeriod", "start"},  {"authoredOn"},
      {"recordedDate"},      {"period", "start"},           {"issued"},
      {"dateAsserted"},      {"date"},                      {"created"},
      {"recorded"},          {"birthDate"},
      // Migration 16: the dates of types that had none above (QA finding
      // dates 04: a dispensing was undated, ordered by id and dropped by
      // every --since).
      {"whenHandedOver"},    {"whenPrepared"},              {"started"},
      {"authored"},          {"createdDateTime"},           {"collection", "collectedDateTime"},
      {"sent"},              {"dateTime"},                  {"timingDateTime"},
      {"recordedOn"},        {"identifiedDateTime"},        {"startDate"},
      {"occurrencePeriod", "start"}};
  for (const auto& keys : kDates)
    if (std::string d = text_of(path(r, keys)); !d.empty()) return d;
  return "";
}

IndexEntry index_resource(const Json& r) {
  IndexEntry e;
  std::string type = text_of(r.find("resourceType"));
  if (type == "Patient") {
    // A Patient is its own (its links to other patients make it no one else's).
    e.patient = text_of(r.find("id"));
    e.patients.push_back(e.patient);
  } else {
    for (const auto& [k, v] : r.members())
      if (k != "resourceType" && k != "id" && k != "meta" && k != "text")
        collect_patient_links(v, k, e.patients, e.patient_keys, 0);
    e.patient = patient_of_links(e.patients, !e.patient_keys.empty());
  }
  e.status = text_of(r.find("status"));
  if (e.status.empty()) e.status = text_of(path(r, {"clinicalStatus", "coding", "code"}));
  for (const char* key : {"code", "vaccineCode", "medicationCodeableConcept", "type"}) {
    const Json* c = r.find(key);
    if (c == nullptr) continue;
    const Json* coding = path(*c, {"coding"});
    if (coding == nullptr || !coding->is_array() || coding->items().empty()) continue;
    e.code_system = text_of(coding->items().front().find("system"));
    e.code = text_of(coding->items().front().find("code"));
    break;
  }
  if (std::string d = clinical_date_text(r); !d.empty()) e.clinical_date = clinical_date_key(d);
  // The record's labels and those of its contained resources: a contained
  // Medication labelled substance-use makes the record that holds it one
  // to withhold (QA access sweep: the top level's alone were read).
  auto add_labels = [&](const Json& res) {
    const Json* meta = path(res, {"meta"});
    const Json* labels = meta != nullptr ? meta->find("security") : nullptr;
    if (labels == nullptr || !labels->is_array()) return;
    for (const auto& l : labels->items()) {
      std::string code = text_of(l.find("code"));
      if (code.empty() || detail::has_word(e.security, code)) continue;
      e.security += (e.security.empty() ? "" : " ") + code;
    }
  };
  add_labels(r);
  if (const Json* contained = r.find("contained"); contained != nullptr && contained->is_array())
    for (const auto& c : contained->items())
      if (c.is_object()) add_labels(c);
  if (const Json* ids = r.find("identifier"); ids != nullptr && ids->is_array())
    for (const auto& i : ids->items()) {
      std::string value = text_of(i.find("value"));
      if (!value.empty()) e.identifiers.emplace_back(text_of(i.find("system")), value);
    }
  collect_references(r, e.references, 0);
  if (type == "Patient" || type == "Practitioner" || type == "RelatedPerson") {
    if (const Json* names = r.find("name"); names != nullptr && names->is_array())
      for (const auto& n : names->items()) {
        add_tokens(text_of(n.find("family")), e.name_tokens);
        add_tokens(text_of(n.find("text")), e.name_tokens);
        if (const Json* given = n.find("given"); given != nullptr && given->is_array())
          for (const auto& g : given->items()) add_tokens(text_of(&g), e.name_tokens);
      }
    std::sort(e.name_tokens.begin(), e.name_tokens.end());
    e.name_tokens.erase(std::unique(e.name_tokens.begin(), e.name_tokens.end()),
                        e.name_tokens.end());
  }
  if (type == "Patient") {
    e.sort_name = patient_sort_name(r);
    // A merged source (inactive, replaced-by) is nobody's candidate.
    MatchFeatures features = match_features(r);
    if (!features.retired) e.match_keys = blocking_keys(features);
  }
  return e;
}

std::string patient_of_links(const std::vector<std::string>& patients, bool unresolved) {
  if (patients.size() > 1 || (unresolved && !patients.empty())) return std::string(kSeveralPatients);
  if (unresolved) return std::string(kUnknownPatient);
  return patients.empty() ? std::string() : patients.front();
}

std::string patient_sort_name(const Json& patient) {
  const Json* names = patient.find("name");
  std::string family, given;
  if (names != nullptr && names->is_array() && !names->items().empty()) {
    family = fold_name(text_of(names->items().front().find("family")));
    if (const Json* g = names->items().front().find("given"); g != nullptr && g->is_array() && !g->items().empty())
      given = fold_name(text_of(&g->items().front()));
  }
  return family + '\x01' + given;
}

std::string fold_name(std::string_view s) {
  // U+00C0..U+00FF, then U+0100..U+017F: the plain Latin letters they carry.
  static const char* kLatin1[64] = {
      "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
      "D", "N", "O", "O", "O", "O", "O", "\xc3\x97", "O", "U", "U", "U", "U", "Y", "TH", "ss",
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
      "d", "n", "o", "o", "o", "o", "o", "\xc3\xb7", "o", "u", "u", "u", "u", "y", "th", "y"};
  static const char kExtA[] =
      "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoOo"
      "OoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";
  static_assert(sizeof kExtA - 1 == 128);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(std::tolower(c));
      ++i;
      continue;
    }
    size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    uint32_t cp = n == 1 ? c : (c & (0x7F >> n));
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp >= 0xC0 && cp <= 0xFF) {
      for (const char* p = kLatin1[cp - 0xC0]; *p; ++p)
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(*p)));
    } else if (cp >= 0x100 && cp <= 0x17F) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(kExtA[cp - 0x100])));
    } else if (cp >= 0x300 && cp <= 0x36F) {
      // combining diacritical marks: dropped
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace ehr
