// Loading the decision-support data (ehr/care.h): the rule files, the drug
// class map and the lab reference ranges of schemas/care/, with a directory
// of site files laid over them; dates and periods.
//
// Sections: dates and periods; code sets; YAML readers; the three file
// schemas; CareRules::load/parse/select.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "ehr/builders.h"
#include "ehr/care.h"
#include "schemas.h"
#include "yaml_adapter.h"
#include "instant.h"

namespace ehr {

// --- dates and periods -------------------------------------------------------

namespace {

// Days since 1970-01-01 (H. Hinnant's days_from_civil).
long days_from_civil(const CivilDate& d) {
  int y = d.year - (d.month <= 2 ? 1 : 0);
  long era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = static_cast<unsigned>(y - era * 400);
  unsigned mp = static_cast<unsigned>(d.month > 2 ? d.month - 3 : d.month + 9);
  unsigned doy = (153 * mp + 2) / 5 + static_cast<unsigned>(d.day) - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

CivilDate civil_from_days(long z) {
  z += 719468;
  long era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long y = static_cast<long>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int>(y + (m <= 2 ? 1 : 0)), static_cast<int>(m), static_cast<int>(d)};
}

CivilDate add_months(const CivilDate& d, int months) {
  int total = d.year * 12 + (d.month - 1) + months;
  CivilDate out{total / 12, total % 12 + 1, d.day};
  out.day = std::min(out.day, detail::days_in_month(out.year, out.month));
  return out;
}

}  // namespace

std::optional<CivilDate> parse_civil_date(std::string_view t) {
  if (t.size() < 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  if (t.size() > 10 && t[10] != 'T') return std::nullopt;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (t[static_cast<size_t>(i)] < '0' || t[static_cast<size_t>(i)] > '9') return std::nullopt;
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; ++i) v = v * 10 + (t[at + i] - '0');
    return v;
  };
  CivilDate d{num(0, 4), num(5, 2), num(8, 2)};
  if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > detail::days_in_month(d.year, d.month))
    return std::nullopt;
  return d;
}

std::optional<CivilDate> partial_date_start(std::string_view t) {
  // parse_civil_date checks the digits and the month.
  if (t.size() == 4) return parse_civil_date(std::string(t) + "-01-01");
  if (t.size() == 7) return parse_civil_date(std::string(t) + "-01");
  return std::nullopt;
}

std::string format_civil_date(const CivilDate& d) {
  return fmt::format("{:04}-{:02}-{:02}", d.year, d.month, d.day);
}

int age_in_years(const CivilDate& b, const CivilDate& on) {
  int years = on.year - b.year;
  if (std::make_pair(on.month, on.day) < std::make_pair(b.month, b.day)) --years;
  return years;
}

int age_in_months(const CivilDate& b, const CivilDate& on) {
  int months = (on.year - b.year) * 12 + (on.month - b.month);
  if (on.day < b.day) --months;
  return months;
}

Result<CarePeriod> parse_care_period(std::string_view text) {
  CarePeriod p;
  p.text = std::string(text);
  if (text == "ever") {
    p.unit = CarePeriod::Unit::kEver;
    return p;
  }
  if (text == "season") {
    p.unit = CarePeriod::Unit::kSeason;
    return p;
  }
  auto bad = [&] {
    return Error::invalid_argument(
        fmt::format("bad period {} (expected N followed by d, w, m or y; ever; season)", text));
  };
  if (text.size() < 2 || text.size() > 6) return bad();
  int n = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return bad();
    n = n * 10 + (text[i] - '0');
  }
  switch (text.back()) {
    case 'd': p.unit = CarePeriod::Unit::kDays; break;
    case 'w': p.unit = CarePeriod::Unit::kWeeks; break;
    case 'm': p.unit = CarePeriod::Unit::kMonths; break;
    case 'y': p.unit = CarePeriod::Unit::kYears; break;
    default: return bad();
  }
  p.count = n;
  return p;
}

CivilDate add_days(const CivilDate& d, int days) { return civil_from_days(days_from_civil(d) + days); }

CivilDate add_period(const CivilDate& d, const CarePeriod& p) {
  switch (p.unit) {
    case CarePeriod::Unit::kDays: return add_days(d, p.count);
    case CarePeriod::Unit::kWeeks: return add_days(d, 7 * p.count);
    case CarePeriod::Unit::kMonths: return add_months(d, p.count);
    case CarePeriod::Unit::kYears: return add_months(d, 12 * p.count);
    default: return d;
  }
}

CivilDate subtract_period(const CivilDate& d, const CarePeriod& p) {
  switch (p.unit) {
    case CarePeriod::Unit::kDays: return add_days(d, -p.count);
    case CarePeriod::Unit::kWeeks: return add_days(d, -7 * p.count);
    case CarePeriod::Unit::kMonths: return add_months(d, -p.count);
    case CarePeriod::Unit::kYears: return add_months(d, -12 * p.count);
    default: return d;
  }
}

// --- code sets -------------------------------------------------------------

bool CareCodeSet::matches(const std::string& system_uri, const std::string& code) const {
  if (system_uri != system) return false;
  if (std::find(codes.begin(), codes.end(), code) != codes.end()) return true;
  for (const auto& p : prefixes)
    if (code.compare(0, p.size(), p) == 0) return true;
  return false;
}

const DrugClass* DrugClassMap::class_of(const Drug& d) const {
  for (const auto& c : classes)
    for (const auto& prefix : c.atc)
      if (d.atc.compare(0, prefix.size(), prefix) == 0) return &c;
  return nullptr;
}

namespace {

using detail::YamlNode;

std::string system_uri(const std::string& alias) {
  if (alias == "atc") return "http://www.whocc.no/atc";
  return code_system_uri(alias);
}

// "system|code" with an alias system, as the data files write codes.
std::string qualified_code(const std::string& text) {
  auto bar = text.find('|');
  if (bar == std::string::npos) return text;
  return system_uri(text.substr(0, bar)) + "|" + text.substr(bar + 1);
}

// --- YAML readers ------------------------------------------------------------

// Reads one file's YAML tree, turning every problem into kConfig
// "FILE:LINE:COLUMN: what".
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  // A node without a place (the root of an empty file): the file alone.
  Error at(const YamlNode& n, const std::string& what) const {
    if (n.line <= 0) return Error::config(fmt::format("{}: {}", file_, what));
    return Error::config(fmt::format("{}:{}:{}: {}", file_, n.line, n.column, what));
  }
  // Fails on a key of `map` outside `known`.
  Status keys(const YamlNode& map, std::initializer_list<std::string_view> known,
              const std::string& where) const {
    if (!map.is_map()) return at(map, fmt::format("{} must be a map", where));
    for (const auto& [k, v] : map.entries)
      if (std::find(known.begin(), known.end(), k.scalar) == known.end())
        return at(k, fmt::format("unknown key {} in {}", k.scalar, where));
    return {};
  }
  Result<std::string> text(const YamlNode& map, std::string_view key, bool required) const {
    const YamlNode* v = map.get(key);
    if (v == nullptr) {
      if (required) return at(map, fmt::format("missing key {}", key));
      return std::string();
    }
    if (!v->is_scalar()) return at(*v, fmt::format("{} must be a scalar", key));
    return v->scalar;
  }
  Result<std::vector<std::string>> list(const YamlNode& map, std::string_view key) const {
    std::vector<std::string> out;
    const YamlNode* v = map.get(key);
    if (v == nullptr) return out;
    if (!v->is_sequence()) return at(*v, fmt::format("{} must be a list", key));
    for (const auto& item : v->items) {
      if (!item.is_scalar()) return at(item, fmt::format("{} items must be scalars", key));
      out.push_back(item.scalar);
    }
    return out;
  }
  Result<std::optional<CarePeriod>> period(const YamlNode& map, std::string_view key) const {
    const YamlNode* v = map.get(key);
    if (v == nullptr) return std::optional<CarePeriod>();
    if (!v->is_scalar()) return at(*v, fmt::format("{} must be a period", key));
    auto p = parse_care_period(v->scalar);
    if (!p.ok()) return at(*v, p.error().message());
    return std::optional<CarePeriod>(*p);
  }
  Result<double> number(const YamlNode& n, std::string_view what) const {
    if (!n.is_scalar()) return at(n, fmt::format("{} must be a number", what));
    const char* s = n.scalar.c_str();
    char* end = nullptr;
    double v = std::strtod(s, &end);
    if (n.scalar.empty() || end == nullptr || *end != '\0' || !std::isfinite(v))
      return at(n, fmt::format("{} must be a number, not {}", what, n.scalar));
    return v;
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

Result<CareCodeSet> read_code_set(const Reader& r, const YamlNode& n) {
  EHR_TRY(r.keys(n, {"system", "types", "codes"}, "a code list"));
  CareCodeSet out;
  auto system = r.text(n, "system", true);
  if (!system.ok()) return system.error();
  out.system = system_uri(*system);
  auto types = r.list(n, "types");
  if (!types.ok()) return types.error();
  out.types = *types;
  auto codes = r.list(n, "codes");
  if (!codes.ok()) return codes.error();
  if (codes->empty()) return r.at(n, "a code list needs codes");
  for (const auto& c : *codes) {
    if (!c.empty() && c.back() == '*') out.prefixes.push_back(c.substr(0, c.size() - 1));
    else out.codes.push_back(c);
  }
  return out;
}

Result<std::vector<CareCodeSet>> read_code_sets(const Reader& r, const YamlNode& map, std::string_view key) {
  std::vector<CareCodeSet> out;
  const YamlNode* v = map.get(key);
  if (v == nullptr) return out;
  if (!v->is_sequence()) return r.at(*v, fmt::format("{} must be a list of code lists", key));
  for (const auto& item : v->items) {
    auto set = read_code_set(r, item);
    if (!set.ok()) return set.error();
    out.push_back(std::move(*set));
  }
  return out;
}

// The header every care file carries: source, version, effective.
struct Header {
  std::string version, source, effective;
};

Result<Header> read_header(const Reader& r, const YamlNode& doc) {
  Header h;
  auto v = r.text(doc, "version", true);
  if (!v.ok()) return v.error();
  auto s = r.text(doc, "source", true);
  if (!s.ok()) return s.error();
  auto e = r.text(doc, "effective", true);
  if (!e.ok()) return e.error();
  if (!parse_civil_date(*e) || e->size() != 10)
    return r.at(*doc.get("effective"), fmt::format("effective must be a date YYYY-MM-DD, not {}", *e));
  h.version = *v;
  h.source = *s;
  h.effective = *e;
  return h;
}

// --- the three file schemas -----------------------------------------------------

Result<CareRule> read_rule(const Reader& r, const YamlNode& doc) {
  EHR_TRY(r.keys(doc, {"schema", "id", "version", "default", "title", "source", "url", "effective",
                       "population", "bands", "satisfied_by", "tighten", "season_start", "first_season"},
                 "a care rule"));
  CareRule rule;
  rule.file = r.file();
  auto h = read_header(r, doc);
  if (!h.ok()) return h.error();
  rule.version = h->version;
  rule.source = h->source;
  rule.effective = h->effective;
  for (auto [key, dst] : {std::pair{"id", &rule.id}, {"title", &rule.title}, {"url", &rule.url}}) {
    auto v = r.text(doc, key, std::string_view(key) != "url");
    if (!v.ok()) return v.error();
    *dst = *v;
  }
  if (rule.id.empty() || rule.id.find_first_of("@ \t") != std::string::npos)
    return r.at(*doc.get("id"), "id must be a word without '@' or blanks");
  auto def = r.text(doc, "default", false);
  if (!def.ok()) return def.error();
  if (!def->empty() && *def != "true" && *def != "false")
    return r.at(*doc.get("default"), "default must be true or false");
  rule.is_default = *def != "false";
  if (const YamlNode* pop = doc.get("population")) {
    EHR_TRY(r.keys(*pop, {"sex", "conditions", "exclude"}, "population"));
    auto sex = r.text(*pop, "sex", false);
    if (!sex.ok()) return sex.error();
    if (!sex->empty()) {
      if (*sex != "any" && *sex != "female" && *sex != "male")
        return r.at(*pop->get("sex"), fmt::format("sex must be any, female or male, not {}", *sex));
      rule.sex = *sex;
    }
    auto conds = read_code_sets(r, *pop, "conditions");
    if (!conds.ok()) return conds.error();
    rule.conditions = std::move(*conds);
    auto excl = read_code_sets(r, *pop, "exclude");
    if (!excl.ok()) return excl.error();
    rule.exclusions = std::move(*excl);
  }
  const YamlNode* bands = doc.get("bands");
  if (bands == nullptr || !bands->is_sequence() || bands->items.empty())
    return r.at(bands ? *bands : doc, "a rule needs bands: a list of age bands");
  for (const auto& b : bands->items) {
    EHR_TRY(r.keys(b, {"min_age", "max_age", "result", "within", "note"}, "an age band"));
    CareBand band;
    auto mn = r.period(b, "min_age");
    if (!mn.ok()) return mn.error();
    auto mx = r.period(b, "max_age");
    if (!mx.ok()) return mx.error();
    auto w = r.period(b, "within");
    if (!w.ok()) return w.error();
    for (const auto* p : {&*mn, &*mx})
      if (p->has_value() && (**p).unit != CarePeriod::Unit::kMonths && (**p).unit != CarePeriod::Unit::kYears)
        return r.at(b, "ages are in months (6m) or years (45y)");
    band.min_age = *mn;
    band.max_age = *mx;
    band.within = *w;
    auto res = r.text(b, "result", true);
    if (!res.ok()) return res.error();
    if (*res != "due" && *res != "consider")
      return r.at(*b.get("result"), fmt::format("result must be due or consider, not {}", *res));
    band.result = *res;
    auto note = r.text(b, "note", false);
    if (!note.ok()) return note.error();
    band.note = *note;
    rule.bands.push_back(std::move(band));
  }
  const YamlNode* opts = doc.get("satisfied_by");
  if (opts == nullptr || !opts->is_sequence() || opts->items.empty())
    return r.at(opts ? *opts : doc, "a rule needs satisfied_by: a list of options");
  bool season = false;
  for (const auto& o : opts->items) {
    EHR_TRY(r.keys(o, {"name", "within", "codes", "min_age_at", "negative_only"}, "an option of satisfied_by"));
    CareOption opt;
    auto name = r.text(o, "name", true);
    if (!name.ok()) return name.error();
    opt.name = *name;
    auto w = r.period(o, "within");
    if (!w.ok()) return w.error();
    if (!w->has_value()) return r.at(o, "an option needs within: a period, ever or season");
    opt.within = **w;
    season = season || opt.within.unit == CarePeriod::Unit::kSeason;
    auto age = r.period(o, "min_age_at");
    if (!age.ok()) return age.error();
    opt.min_age_at = *age;
    auto codes = read_code_sets(r, o, "codes");
    if (!codes.ok()) return codes.error();
    if (codes->empty()) return r.at(o, "an option needs codes");
    opt.codes = std::move(*codes);
    auto neg = r.text(o, "negative_only", false);
    if (!neg.ok()) return neg.error();
    if (!neg->empty() && *neg != "true" && *neg != "false")
      return r.at(*o.get("negative_only"), "negative_only must be true or false");
    opt.negative_only = *neg == "true";
    rule.satisfied_by.push_back(std::move(opt));
  }
  auto ss = r.text(doc, "season_start", false);
  if (!ss.ok()) return ss.error();
  if (season || !ss->empty()) {
    if (!parse_civil_date("2000-" + *ss) || ss->size() != 5)
      return r.at(ss->empty() ? doc : *doc.get("season_start"),
                  "an option within season needs season_start: MM-DD");
    rule.season_start = *ss;
  }
  if (const YamlNode* t = doc.get("tighten")) {
    EHR_TRY(r.keys(*t, {"within", "value_at_least", "medications", "medications_within"}, "tighten"));
    CareTighten tighten;
    auto w = r.period(*t, "within");
    if (!w.ok()) return w.error();
    if (!w->has_value()) return r.at(*t, "tighten needs within");
    tighten.within = **w;
    if (const YamlNode* v = t->get("value_at_least")) {
      auto n = r.number(*v, "value_at_least");
      if (!n.ok()) return n.error();
      tighten.value_at_least = *n;
    }
    auto meds = read_code_sets(r, *t, "medications");
    if (!meds.ok()) return meds.error();
    tighten.medications = std::move(*meds);
    auto mw = r.period(*t, "medications_within");
    if (!mw.ok()) return mw.error();
    tighten.medications_within = *mw;
    if (!tighten.medications.empty() && !tighten.medications_within)
      return r.at(*t, "tighten medications need medications_within");
    rule.tighten = std::move(tighten);
  }
  if (const YamlNode* f = doc.get("first_season")) {
    EHR_TRY(r.keys(*f, {"max_age", "doses", "min_days_apart"}, "first_season"));
    if (rule.season_start.empty()) return r.at(*f, "first_season needs season_start");
    CareFirstSeason fs;
    auto mx = r.period(*f, "max_age");
    if (!mx.ok()) return mx.error();
    if (!mx->has_value()) return r.at(*f, "first_season needs max_age");
    fs.max_age = **mx;
    for (auto [key, dst] : {std::pair{"doses", &fs.doses}, {"min_days_apart", &fs.min_days_apart}}) {
      if (const YamlNode* v = f->get(key)) {
        auto n = r.number(*v, key);
        if (!n.ok()) return n.error();
        if (*n < 1 || *n != std::floor(*n)) return r.at(*v, fmt::format("{} must be a positive whole number", key));
        *dst = static_cast<int>(*n);
      }
    }
    rule.first_season = fs;
  }
  return rule;
}

Result<DrugClassMap> read_drugs(const Reader& r, const YamlNode& doc) {
  EHR_TRY(r.keys(doc, {"schema", "version", "source", "effective", "classes", "drugs"}, "the drug class map"));
  DrugClassMap m;
  m.file = r.file();
  auto h = read_header(r, doc);
  if (!h.ok()) return h.error();
  m.version = h->version;
  m.source = h->source;
  m.effective = h->effective;
  auto lower_all = [](std::vector<std::string> v) {
    for (auto& s : v)
      for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  };
  if (const YamlNode* cs = doc.get("classes")) {
    if (!cs->is_sequence()) return r.at(*cs, "classes must be a list");
    for (const auto& c : cs->items) {
      EHR_TRY(r.keys(c, {"name", "atc", "family", "codes", "names"}, "a drug class"));
      DrugClass dc;
      auto name = r.text(c, "name", true);
      if (!name.ok()) return name.error();
      dc.name = *name;
      auto atc = r.list(c, "atc");
      if (!atc.ok()) return atc.error();
      if (atc->empty()) return r.at(c, "a drug class needs atc prefixes");
      dc.atc = *atc;
      auto fam = r.text(c, "family", false);
      if (!fam.ok()) return fam.error();
      dc.family = *fam;
      auto codes = r.list(c, "codes");
      if (!codes.ok()) return codes.error();
      for (const auto& code : *codes) dc.codes.push_back(qualified_code(code));
      auto names = r.list(c, "names");
      if (!names.ok()) return names.error();
      dc.names = lower_all(*names);
      m.classes.push_back(std::move(dc));
    }
  }
  if (const YamlNode* ds = doc.get("drugs")) {
    if (!ds->is_sequence()) return r.at(*ds, "drugs must be a list");
    for (const auto& d : ds->items) {
      EHR_TRY(r.keys(d, {"name", "atc", "codes", "names", "side_chain", "raised_with"}, "a drug"));
      Drug drug;
      auto name = r.text(d, "name", true);
      if (!name.ok()) return name.error();
      drug.name = *name;
      auto atc = r.text(d, "atc", true);
      if (!atc.ok()) return atc.error();
      drug.atc = *atc;
      auto codes = r.list(d, "codes");
      if (!codes.ok()) return codes.error();
      for (const auto& code : *codes) drug.codes.push_back(qualified_code(code));
      drug.codes.push_back(system_uri("atc") + "|" + drug.atc);
      auto names = r.list(d, "names");
      if (!names.ok()) return names.error();
      drug.names = lower_all(*names);
      auto sc = r.text(d, "side_chain", false);
      if (!sc.ok()) return sc.error();
      drug.side_chain = *sc;
      auto raised = r.list(d, "raised_with");
      if (!raised.ok()) return raised.error();
      drug.raised_with = *raised;
      m.drugs.push_back(std::move(drug));
    }
  }
  for (const auto& d : m.drugs)
    for (const auto& c : d.raised_with)
      if (std::none_of(m.classes.begin(), m.classes.end(), [&](const DrugClass& x) { return x.name == c; }))
        return Error::config(fmt::format("{}: drug {} names unknown class {} in raised_with", r.file(), d.name, c));
  return m;
}

Result<std::optional<LabBound>> read_bound(const Reader& r, const YamlNode& row, std::string_view key,
                                           bool default_inclusive) {
  const YamlNode* v = row.get(key);
  if (v == nullptr) return std::optional<LabBound>();
  LabBound b;
  b.inclusive = default_inclusive;
  if (v->is_map()) {
    EHR_TRY(r.keys(*v, {"value", "inclusive"}, std::string(key)));
    const YamlNode* val = v->get("value");
    if (val == nullptr) return r.at(*v, fmt::format("{} needs value", key));
    auto n = r.number(*val, key);
    if (!n.ok()) return n.error();
    b.value = *n;
    if (const YamlNode* inc = v->get("inclusive")) {
      if (!inc->is_scalar() || (inc->scalar != "true" && inc->scalar != "false"))
        return r.at(*inc, "inclusive must be true or false");
      b.inclusive = inc->scalar == "true";
    } else if (key.rfind("critical", 0) == 0) {
      return r.at(*v, fmt::format("{} must say whether it is inclusive", key));
    }
  } else {
    if (key.rfind("critical", 0) == 0)
      return r.at(*v, fmt::format("{} must be {{value: V, inclusive: true|false}}", key));
    auto n = r.number(*v, key);
    if (!n.ok()) return n.error();
    b.value = *n;
  }
  return std::optional<LabBound>(b);
}

Result<LabRanges> read_labs(const Reader& r, const YamlNode& doc) {
  EHR_TRY(r.keys(doc, {"schema", "version", "source", "effective", "ranges"}, "the lab ranges"));
  LabRanges out;
  out.file = r.file();
  auto h = read_header(r, doc);
  if (!h.ok()) return h.error();
  out.version = h->version;
  out.source = h->source;
  out.effective = h->effective;
  const YamlNode* rows = doc.get("ranges");
  if (rows == nullptr || !rows->is_sequence()) return r.at(rows ? *rows : doc, "ranges must be a list");
  for (const auto& row : rows->items) {
    EHR_TRY(r.keys(row, {"loinc", "test", "unit", "sex", "min_age", "max_age", "low", "high", "critical_low",
                         "critical_high"},
                   "a range"));
    LabRange lr;
    for (auto [key, dst] : {std::pair{"loinc", &lr.loinc}, {"test", &lr.test}, {"unit", &lr.unit}}) {
      auto v = r.text(row, key, true);
      if (!v.ok()) return v.error();
      *dst = *v;
    }
    auto sex = r.text(row, "sex", false);
    if (!sex.ok()) return sex.error();
    if (!sex->empty()) {
      if (*sex != "any" && *sex != "female" && *sex != "male")
        return r.at(*row.get("sex"), "sex must be any, female or male");
      lr.sex = *sex;
    }
    auto mn = r.period(row, "min_age");
    if (!mn.ok()) return mn.error();
    lr.min_age = *mn;
    auto mx = r.period(row, "max_age");
    if (!mx.ok()) return mx.error();
    lr.max_age = *mx;
    for (auto [key, dst] : {std::pair{"low", &lr.low}, {"high", &lr.high}, {"critical_low", &lr.critical_low},
                            {"critical_high", &lr.critical_high}}) {
      auto b = read_bound(r, row, key, true);
      if (!b.ok()) return b.error();
      *dst = *b;
    }
    if (!lr.low && !lr.high && !lr.critical_low && !lr.critical_high)
      return r.at(row, "a range needs at least one bound");
    if (lr.low && lr.high && lr.low->value > lr.high->value)
      return r.at(row, fmt::format("low {} is above high {}", lr.low->value, lr.high->value));
    out.rows.push_back(std::move(lr));
  }
  return out;
}

std::string known_list(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

Result<CareRules> CareRules::parse(const std::vector<std::pair<std::string, std::string>>& files) {
  CareRules out;
  bool have_drugs = false, have_labs = false;
  for (const auto& [name, text] : files) {
    Reader r(name);
    auto doc = detail::parse_yaml(text);
    if (!doc.ok()) return Error::config(fmt::format("{}: {}", name, doc.error().message()));
    if (!doc->is_map()) return Error::config(fmt::format("{}: not a YAML map", name));
    auto schema = r.text(*doc, "schema", true);
    if (!schema.ok()) return schema.error();
    if (*schema == "ehr-care-rule") {
      auto rule = read_rule(r, *doc);
      if (!rule.ok()) return rule.error();
      out.rules.push_back(std::move(*rule));
    } else if (*schema == "ehr-care-drug-classes") {
      if (have_drugs) return Error::config(fmt::format("{}: a second drug class map", name));
      auto m = read_drugs(r, *doc);
      if (!m.ok()) return m.error();
      out.drugs = std::move(*m);
      have_drugs = true;
    } else if (*schema == "ehr-care-lab-ranges") {
      if (have_labs) return Error::config(fmt::format("{}: a second lab range table", name));
      auto l = read_labs(r, *doc);
      if (!l.ok()) return l.error();
      out.labs = std::move(*l);
      have_labs = true;
    } else {
      return r.at(*doc->get("schema"),
                  fmt::format("unknown schema {} (expected ehr-care-rule, ehr-care-drug-classes or "
                              "ehr-care-lab-ranges)",
                              *schema));
    }
  }
  std::map<std::string, int> defaults;
  std::set<std::string> seen;
  for (const auto& rule : out.rules) {
    if (!seen.insert(rule.name()).second)
      return Error::config(fmt::format("{}: rule {} version {} is defined twice", rule.file, rule.id, rule.version));
    defaults[rule.id] += rule.is_default ? 1 : 0;
  }
  for (const auto& [id, n] : defaults) {
    if (n == 0) return Error::config(fmt::format("rule {} has no default version", id));
    if (n > 1) return Error::config(fmt::format("rule {} has {} default versions", id, n));
  }
  return out;
}

Result<CareRules> CareRules::load(const std::string& override_dir) {
  std::map<std::string, std::pair<std::string, std::string>> by_name;  // file name -> (shown name, text)
  for (auto path : detail::embedded_schema_paths()) {
    if (path.rfind("care/", 0) != 0) continue;
    by_name[std::string(path.substr(5))] = {std::string(path), std::string(*detail::embedded_schema(path))};
  }
  if (!override_dir.empty()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(override_dir, ec))
      return Error::no_input(fmt::format("care rules directory {} does not exist", override_dir));
    // The error_code overloads throughout: increment(ec), not ++ (which throws).
    for (fs::directory_iterator it(override_dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::directory_entry& e = *it;
      if (e.path().extension() != ".yaml") continue;
      std::ifstream f(e.path(), std::ios::binary);
      if (!f) return Error::no_input(fmt::format("cannot read {}", e.path().string()));
      std::stringstream ss;
      ss << f.rdbuf();
      by_name[e.path().filename().string()] = {e.path().string(), ss.str()};
    }
    if (ec) return Error::no_input(fmt::format("cannot read care rules directory {}: {}", override_dir, ec.message()));
  }
  std::vector<std::pair<std::string, std::string>> files;
  for (auto& [name, v] : by_name) files.push_back(std::move(v));
  return parse(files);
}

Result<std::vector<const CareRule*>> CareRules::select(const std::vector<std::string>& names) const {
  std::vector<const CareRule*> out;
  if (names.empty()) {
    for (const auto& r : rules)
      if (r.is_default) out.push_back(&r);
    return out;
  }
  std::set<std::string> ids;
  for (const auto& r : rules) ids.insert(r.id);
  for (const auto& n : names) {
    auto at = n.find('@');
    std::string id = n.substr(0, at);
    if (!ids.count(id)) return Error::invalid_argument(fmt::format("unknown care rule {} (known: {})", id, known_list(ids)));
    const CareRule* found = nullptr;
    std::set<std::string> versions;
    for (const auto& r : rules) {
      if (r.id != id) continue;
      versions.insert(r.version);
      if (at == std::string::npos ? r.is_default : r.version == n.substr(at + 1)) found = &r;
    }
    if (found == nullptr)
      return Error::invalid_argument(
          fmt::format("rule {} has no version {} (known: {})", id, n.substr(at + 1), known_list(versions)));
    if (std::find(out.begin(), out.end(), found) == out.end()) out.push_back(found);
  }
  return out;
}

Result<CareRules::Selection> CareRules::select_on(const std::vector<std::string>& names,
                                                  const CivilDate& as_of) const {
  std::vector<std::string> wanted = names;
  if (wanted.empty()) {
    std::set<std::string> ids;
    for (const auto& r : rules) ids.insert(r.id);
    wanted.assign(ids.begin(), ids.end());
  }
  const std::string day = format_civil_date(as_of);  // YYYY-MM-DD: compares as text
  Selection out;
  auto keep = [&out](const CareRule* r) {
    if (std::find(out.rules.begin(), out.rules.end(), r) == out.rules.end()) out.rules.push_back(r);
  };
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    auto named = select({wanted[i]});  // checks the name, resolves "id@version"
    if (!named.ok()) return named.error();
    if (wanted[i].find('@') != std::string::npos) {
      keep(named->front());
      continue;
    }
    const std::string& id = wanted[i];
    const CareRule* best = nullptr;
    for (const auto& r : rules) {
      if (r.id != id || r.effective > day) continue;
      if (best == nullptr || (r.is_default && !best->is_default) ||
          (r.is_default == best->is_default && r.effective > best->effective))
        best = &r;
    }
    if (best == nullptr) {
      const CareRule* first = nullptr;  // the version that takes effect first
      for (const auto& r : rules)
        if (r.id == id && (first == nullptr || r.effective < first->effective)) first = &r;
      std::string why = fmt::format("no version in effect on {} ({} is effective from {})", day,
                                    first->version, first->effective);
      // Named, it must not pass silently: an empty list would read as "nobody is due".
      if (!names.empty())
        return Error::invalid_argument(fmt::format("rule {} has {}; name a version ({}) to evaluate it anyway", id,
                                                   why, first->name()));
      out.not_in_effect.push_back(id + ": " + why);
      continue;
    }
    keep(best);
  }
  return out;
}

}  // namespace ehr
