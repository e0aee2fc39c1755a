// Resource summaries (ehr/summary.h).
#include "ehr/summary.h"

#include "resource_index.h"

namespace ehr {

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

std::string codeable_text(const Json* cc) {
  cc = first(cc);
  if (cc == nullptr) return "";
  std::string t = text(cc->find("text"));
  if (!t.empty()) return t;
  const Json* coding = first(cc->find("coding"));
  if (coding == nullptr) return "";
  std::string d = text(coding->find("display"));
  return d.empty() ? text(coding->find("code")) : d;
}

constexpr const char* kCodeKeys[] = {"code", "vaccineCode", "medicationCodeableConcept", "type"};

const Json* main_coding(const Json& r) {
  for (const char* key : kCodeKeys) {
    const Json* cc = first(r.find(key));
    const Json* coding = first(cc != nullptr ? cc->find("coding") : nullptr);
    if (coding != nullptr) return coding;
  }
  return nullptr;
}

// A Quantity's value with its comparator, a modifier: ">500", "<0.01".
std::string quantity_value(const Json* q) {
  std::string v = text(q->find("value"));
  return v.empty() ? v : text(q->find("comparator")) + v;
}

void quantity(const Json* q, RecordSummary& s) {
  s.value = quantity_value(q);
  s.unit = text(q->find("unit"));
  if (s.unit.empty()) s.unit = text(q->find("code"));
}

void value_of(const Json& r, RecordSummary& s) {
  if (const Json* q = r.find("valueQuantity")) return quantity(q, s);
  if (const Json* c = r.find("valueCodeableConcept")) {
    s.value = codeable_text(c);
    return;
  }
  for (const char* key : {"valueString", "valueBoolean", "valueInteger", "valueDateTime"})
    if (const Json* v = r.find(key)) {
      s.value = text(v);
      return;
    }
  if (const Json* comps = r.find("component"); comps != nullptr && comps->is_array()) {
    std::string out;
    for (const auto& c : comps->items()) {
      std::string v = c.find("valueQuantity") ? quantity_value(c.find("valueQuantity")) : "";
      if (!v.empty()) out += (out.empty() ? "" : "/") + v;
    }
    if (!out.empty()) {
      const Json* q = comps->items().front().find("valueQuantity");
      s.value = out;
      s.unit = q ? text(q->find("unit")) : "";
      return;
    }
  }
  if (const Json* d = first(r.find("dosage")); d != nullptr) {
    s.value = text(d->find("text"));
    return;
  }
  if (const Json* d = first(r.find("dosageInstruction")); d != nullptr) {
    s.value = text(d->find("text"));
    return;
  }
  if (const Json* crit = r.find("criticality")) s.value = "criticality " + text(crit);
}

// The date a record is sorted by is the one shown (QA finding dates 04: a
// dispensing's whenHandedOver was neither).
std::string date_of(const Json& r) { return clinical_date_text(r); }

// [+-]?digits[.digits][(e|E)[+-]digits]: safe in a spreadsheet as it is.
bool plain_number(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

}  // namespace

std::string spreadsheet_safe(std::string_view value) {
  std::string v;
  if (!value.empty()) {
    char c = value.front();
    bool formula = c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
    if (formula && !plain_number(value)) v = "'";
  }
  v.append(value);
  return v;
}

std::string record_display(const Json& r) {
  for (const char* key : kCodeKeys) {
    std::string t = codeable_text(r.find(key));
    if (!t.empty()) return t;
  }
  if (const Json* names = first(r.find("name")); names != nullptr) {
    if (names->is_string()) return names->text();
    std::string given;
    if (const Json* g = names->find("given"); g != nullptr && g->is_array())
      for (const auto& x : g->items()) given += (given.empty() ? "" : " ") + text(&x);
    std::string family = text(names->find("family"));
    std::string full = given + (given.empty() || family.empty() ? "" : " ") + family;
    if (!full.empty()) return full;
    return text(names->find("text"));
  }
  return text(r.find("description"));
}

std::string record_status(const Json& r) {
  std::string s = text(r.find("status"));
  if (!s.empty()) return s;
  std::string clinical = codeable_text(r.find("clinicalStatus"));
  std::string verification = codeable_text(r.find("verificationStatus"));
  if (verification == "entered-in-error") return verification;
  return clinical;
}

RecordSummary summarize_record(const Json& r) {
  RecordSummary s;
  s.date = date_of(r);
  if (const Json* coding = main_coding(r)) {
    s.code_system = text(coding->find("system"));
    s.code = text(coding->find("code"));
  }
  s.display = record_display(r);
  value_of(r, s);
  s.status = record_status(r);
  return s;
}

}  // namespace ehr
