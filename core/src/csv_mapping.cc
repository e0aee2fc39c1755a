// CSV to FHIR mappings (csv_mapping.h): parsing the YAML into a compiled
// template, binding it to a header, and turning rows into resources.
//
// Sections: the compiled form; parsing; FHIR date syntax; evaluation;
// binding and rows; the embedded Synthea mappings.

#include "csv_mapping.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "crypto_sodium.h"
#include "ehr/validate.h"
#include "schemas.h"
#include "yaml_adapter.h"

namespace ehr::detail {

// --- the compiled form ---------------------------------------------------------

namespace {

enum class FilterKind {
  kMap, kOr, kPresent, kDecimal, kInteger, kBoolean, kDate, kDateTime, kInstant,
  kLower, kUpper, kTrim, kSctid,
};

struct Filter {
  FilterKind kind;
  std::string arg;  // map name, or the text of or:/present:
};

struct Piece {
  bool literal = true;
  std::string text;  // literal text
  int slot = -1;     // placeholder: the column slot
  std::vector<Filter> filters;
};

struct Scalar {
  std::vector<Piece> pieces;
  std::optional<Json> constant;  // set when there is no placeholder
  Json::Kind typed = Json::Kind::kString;
};

enum class CondOp { kPresent, kAbsent, kEq, kNe, kMatch, kNoMatch };

struct Cond {
  int slot = -1;
  CondOp op = CondOp::kPresent;
  std::string value;
  std::shared_ptr<std::regex> re;
};

struct TNode {
  enum class Kind { kScalar, kObject, kArray, kValue } kind = Kind::kScalar;
  Scalar scalar;
  std::vector<std::pair<std::string, TNode>> members;  // kObject
  std::vector<TNode> items;                            // kArray; kValue holds one
  std::vector<std::vector<Cond>> conds;                // all must hold; each: any of

};

struct IdSpec {
  bool hash = false;
  std::vector<int> slots;  // hash
  Scalar text;             // template
};

struct Output {
  IdSpec id;
  bool has_id = false;
  TNode resource;
  std::string type;
};

}  // namespace

struct MappingData {
  std::string name;
  std::string table;
  std::string source;
  std::vector<std::string> required;
  std::vector<int> required_slots;
  std::vector<std::string> slots;                              // column names
  std::map<std::string, std::vector<std::string>> aliases;     // column -> other names
  std::vector<std::string> nulls{""};
  std::map<std::string, std::map<std::string, std::string>> maps;
  std::vector<Output> outputs;

  int slot_of(const std::string& column) {
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i] == column) return static_cast<int>(i);
    slots.push_back(column);
    return static_cast<int>(slots.size() - 1);
  }
};

// --- parsing ---------------------------------------------------------------------

namespace {

class MappingParser {
 public:
  MappingParser(MappingData& d) : d_(d) {}

  // A node without a place (the root of an empty file): the file alone.
  Error fail(const YamlNode& at, std::string_view what) const {
    if (at.line <= 0) return Error::config(fmt::format("{}: {}", d_.source, what));
    return Error::config(fmt::format("{}:{}:{}: {}", d_.source, at.line, at.column, what));
  }

  Result<Filter> parse_filter(const YamlNode& at, std::string_view text) {
    std::string name(text);
    std::string arg;
    if (auto colon = text.find(':'); colon != std::string_view::npos) {
      name = std::string(text.substr(0, colon));
      arg = std::string(text.substr(colon + 1));
    }
    static const std::map<std::string, std::pair<FilterKind, bool>> kFilters = {
        {"map", {FilterKind::kMap, true}},        {"or", {FilterKind::kOr, true}},
        {"present", {FilterKind::kPresent, true}}, {"decimal", {FilterKind::kDecimal, false}},
        {"integer", {FilterKind::kInteger, false}}, {"boolean", {FilterKind::kBoolean, false}},
        {"date", {FilterKind::kDate, false}},      {"datetime", {FilterKind::kDateTime, false}},
        {"instant", {FilterKind::kInstant, false}}, {"lower", {FilterKind::kLower, false}},
        {"upper", {FilterKind::kUpper, false}},    {"trim", {FilterKind::kTrim, false}},
        {"sctid", {FilterKind::kSctid, false}},
    };
    auto it = kFilters.find(name);
    if (it == kFilters.end())
      return fail(at, fmt::format("unknown filter \"{}\" (known: map, or, present, decimal, integer, "
                                  "boolean, date, datetime, instant, lower, upper, trim, sctid)",
                                  name));
    if (it->second.second && arg.empty() && it->second.first == FilterKind::kMap)
      return fail(at, "the map filter needs a map name (map:NAME)");
    if (!it->second.second && !arg.empty())
      return fail(at, fmt::format("the {} filter takes no argument", name));
    if (it->second.first == FilterKind::kMap && !maps_known_.count(arg))
      return fail(at, fmt::format("no map \"{}\" in this mapping's maps", arg));
    return Filter{it->second.first, arg};
  }

  // A template string into pieces.
  Result<Scalar> parse_template(const YamlNode& at) {
    Scalar out;
    const std::string& s = at.scalar;
    std::string lit;
    for (size_t i = 0; i < s.size();) {
      if (s.compare(i, 2, "{{") == 0) {
        lit += '{';
        i += 2;
        continue;
      }
      if (s.compare(i, 2, "}}") == 0) {
        lit += '}';
        i += 2;
        continue;
      }
      if (s[i] != '{') {
        lit += s[i++];
        continue;
      }
      size_t close = s.find('}', i);
      if (close == std::string::npos) return fail(at, "a placeholder { is never closed");
      std::string inner = s.substr(i + 1, close - i - 1);
      i = close + 1;
      if (!lit.empty()) out.pieces.push_back(Piece{true, std::move(lit), -1, {}}), lit.clear();
      Piece p;
      p.literal = false;
      size_t bar = inner.find('|');
      std::string column = inner.substr(0, bar);
      if (column.empty()) return fail(at, "a placeholder names no column");
      p.slot = d_.slot_of(column);
      while (bar != std::string::npos) {
        size_t next = inner.find('|', bar + 1);
        auto f = parse_filter(at, std::string_view(inner).substr(bar + 1, next == std::string::npos
                                                                            ? std::string::npos
                                                                            : next - bar - 1));
        if (!f.ok()) return f.error();
        p.filters.push_back(std::move(*f));
        bar = next;
      }
      out.pieces.push_back(std::move(p));
    }
    if (!lit.empty()) out.pieces.push_back(Piece{true, std::move(lit), -1, {}});
    bool placeholder = std::any_of(out.pieces.begin(), out.pieces.end(),
                                   [](const Piece& p) { return !p.literal; });
    if (!placeholder) {
      std::string text;
      for (const auto& p : out.pieces) text += p.text;
      if (at.plain && (text == "true" || text == "false")) {
        out.constant = Json::boolean(text == "true");
      } else if (auto n = Json::number_from_text(text); at.plain && !text.empty() && n.ok()) {
        out.constant = std::move(*n);
      } else {
        out.constant = Json::string(std::move(text));
      }
      return out;
    }
    // A lone placeholder ending in a typed filter gives a typed JSON value.
    if (out.pieces.size() == 1)
      for (const auto& f : out.pieces[0].filters) {
        if (f.kind == FilterKind::kDecimal || f.kind == FilterKind::kInteger) out.typed = Json::Kind::kNumber;
        if (f.kind == FilterKind::kBoolean) out.typed = Json::Kind::kBool;
      }
    return out;
  }

  // "A || B || C": any of them.
  Result<std::vector<Cond>> parse_any(const YamlNode& at) {
    if (!at.is_scalar() || at.scalar.empty()) return fail(at, "$if needs a condition");
    std::vector<Cond> out;
    std::string s = at.scalar;
    for (size_t from = 0;;) {
      size_t bar = s.find(" || ", from);
      auto c = parse_cond(at, s.substr(from, bar == std::string::npos ? std::string::npos : bar - from));
      if (!c.ok()) return c.error();
      out.push_back(std::move(*c));
      if (bar == std::string::npos) break;
      from = bar + 4;
    }
    return out;
  }

  Result<Cond> parse_cond(const YamlNode& at, std::string s) {
    if (s.empty()) return fail(at, "$if needs a condition");
    Cond c;
    auto trim = [](std::string t) {
      while (!t.empty() && t.front() == ' ') t.erase(t.begin());
      while (!t.empty() && t.back() == ' ') t.pop_back();
      return t;
    };
    struct Op {
      const char* text;
      CondOp op;
    };
    for (Op op : {Op{" !~ ", CondOp::kNoMatch}, Op{" ~ ", CondOp::kMatch}, Op{" == ", CondOp::kEq},
                  Op{" != ", CondOp::kNe}}) {
      size_t at_op = s.find(op.text);
      if (at_op == std::string::npos) continue;
      c.slot = d_.slot_of(trim(s.substr(0, at_op)));
      c.op = op.op;
      c.value = trim(s.substr(at_op + std::string_view(op.text).size()));
      if (c.op == CondOp::kMatch || c.op == CondOp::kNoMatch) {
        try {
          c.re = std::make_shared<std::regex>(c.value, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error&) {
          return fail(at, "invalid regular expression");
        }
      }
      return c;
    }
    if (s[0] == '!') {
      c.slot = d_.slot_of(trim(s.substr(1)));
      c.op = CondOp::kAbsent;
    } else {
      c.slot = d_.slot_of(trim(s));
      c.op = CondOp::kPresent;
    }
    return c;
  }

  Result<TNode> parse_node(const YamlNode& at, int depth) {
    if (depth > 32) return fail(at, "template nested too deep");
    TNode n;
    switch (at.kind) {
      case YamlNode::Kind::kNull:
        return fail(at, "an empty value in a template (leave the element out instead)");
      case YamlNode::Kind::kScalar: {
        auto sc = parse_template(at);
        if (!sc.ok()) return sc.error();
        n.kind = TNode::Kind::kScalar;
        n.scalar = std::move(*sc);
        return n;
      }
      case YamlNode::Kind::kSequence:
        n.kind = TNode::Kind::kArray;
        for (const auto& item : at.items) {
          auto c = parse_node(item, depth + 1);
          if (!c.ok()) return c.error();
          n.items.push_back(std::move(*c));
        }
        return n;
      case YamlNode::Kind::kMap:
        break;
    }
    n.kind = TNode::Kind::kObject;
    for (const auto& [k, v] : at.entries) {
      if (k.scalar == "$if") {
        if (v.is_sequence()) {
          for (const auto& item : v.items) {
            auto c = parse_any(item);
            if (!c.ok()) return c.error();
            n.conds.push_back(std::move(*c));
          }
        } else {
          auto c = parse_any(v);
          if (!c.ok()) return c.error();
          n.conds.push_back(std::move(*c));
        }
        continue;
      }
      if (k.scalar == "$value") {
        auto c = parse_node(v, depth + 1);
        if (!c.ok()) return c.error();
        n.kind = TNode::Kind::kValue;
        n.items.push_back(std::move(*c));
        continue;
      }
      if (!k.scalar.empty() && k.scalar[0] == '$')
        return fail(k, fmt::format("unknown template key \"{}\" (known: $if, $value)", k.scalar));
      auto c = parse_node(v, depth + 1);
      if (!c.ok()) return c.error();
      n.members.emplace_back(k.scalar, std::move(*c));
    }
    if (n.kind == TNode::Kind::kValue && !n.members.empty())
      return fail(at, "$value stands for the whole node: no other keys beside it");
    return n;
  }

  Result<std::vector<std::string>> names(const YamlNode& at, std::string_view what) {
    std::vector<std::string> out;
    if (!at.is_sequence()) return fail(at, fmt::format("{} must be a list of column names", what));
    for (const auto& item : at.items) {
      if (!item.is_scalar() || item.scalar.empty())
        return fail(item, fmt::format("{} must be a list of column names", what));
      out.push_back(item.scalar);
    }
    return out;
  }

  Status parse(const YamlNode& root) {
    if (root.kind == YamlNode::Kind::kNull && root.line <= 0)
      return fail(root, "the file is empty; a mapping is a YAML map (name, required, resources, ...)");
    if (!root.is_map()) return fail(root, "a mapping is a YAML map (name, required, resources, ...)");
    static const std::vector<std::string> kKeys = {"schema", "version", "name", "table", "description",
                                                   "required", "aliases", "nulls", "maps", "resources"};
    for (const auto& [k, v] : root.entries)
      if (std::find(kKeys.begin(), kKeys.end(), k.scalar) == kKeys.end())
        return fail(k, fmt::format("unknown key \"{}\" (known: schema, version, name, table, "
                                   "description, required, aliases, nulls, maps, resources)",
                                   k.scalar));
    if (const YamlNode* n = root.get("schema"); n != nullptr && (!n->is_scalar() || n->scalar != "ehr-csv-mapping"))
      return fail(*n, "schema must be ehr-csv-mapping");
    if (const YamlNode* n = root.get("version"); n != nullptr && (!n->is_scalar() || n->scalar != "1"))
      return fail(*n, "unsupported version (this ehr reads version 1)");
    if (const YamlNode* n = root.get("name")) {
      if (!n->is_scalar() || n->scalar.empty()) return fail(*n, "name must be text");
      d_.name = n->scalar;
    }
    if (const YamlNode* n = root.get("table")) {
      if (!n->is_scalar()) return fail(*n, "table must be text");
      d_.table = n->scalar;
    }
    if (const YamlNode* n = root.get("nulls")) {
      auto v = names_or_empty(*n);
      if (!v.ok()) return v.error();
      d_.nulls = std::move(*v);
    }
    if (const YamlNode* n = root.get("maps")) {
      if (!n->is_map()) return fail(*n, "maps must map names to value tables");
      for (const auto& [k, table] : n->entries) {
        if (!table.is_map()) return fail(table, "a map is a table of value: replacement");
        auto& m = d_.maps[k.scalar];
        for (const auto& [from, to] : table.entries) {
          if (!to.is_scalar()) return fail(to, "a map's replacement must be text");
          m[from.scalar] = to.scalar;
        }
        maps_known_.insert(k.scalar);
      }
    }
    if (const YamlNode* n = root.get("aliases")) {
      if (!n->is_map()) return fail(*n, "aliases must map a column to its other names");
      for (const auto& [k, v] : n->entries) {
        auto list = names(v, "an alias list");
        if (!list.ok()) return list.error();
        d_.aliases[k.scalar] = std::move(*list);
        (void)d_.slot_of(k.scalar);
      }
    }
    if (const YamlNode* n = root.get("required")) {
      auto list = names(*n, "required");
      if (!list.ok()) return list.error();
      d_.required = std::move(*list);
      for (const auto& c : d_.required) d_.required_slots.push_back(d_.slot_of(c));
    }
    const YamlNode* res = root.get("resources");
    if (res == nullptr || !res->is_sequence() || res->items.empty())
      return fail(res != nullptr ? *res : root, "resources must list at least one resource template");
    for (const auto& item : res->items) {
      if (!item.is_map()) return fail(item, "each resources item has id and resource");
      for (const auto& [k, v] : item.entries)
        if (k.scalar != "id" && k.scalar != "resource")
          return fail(k, fmt::format("unknown key \"{}\" (known: id, resource)", k.scalar));
      Output out;
      const YamlNode* r = item.get("resource");
      if (r == nullptr || !r->is_map()) return fail(item, "a resources item needs a resource template");
      const YamlNode* type = r->get("resourceType");
      if (type == nullptr || !type->is_scalar() || type->scalar.empty() ||
          type->scalar.find('{') != std::string::npos)
        return fail(*r, "the resource template needs a fixed resourceType");
      out.type = type->scalar;
      if (r->get("id") != nullptr) return fail(*r->get("id"), "give the id beside the resource (id:), not in it");
      auto node = parse_node(*r, 0);
      if (!node.ok()) return node.error();
      out.resource = std::move(*node);
      if (const YamlNode* id = item.get("id")) {
        out.has_id = true;
        if (id->is_map()) {
          const YamlNode* h = id->get("hash");
          if (h == nullptr || id->entries.size() != 1) return fail(*id, "id is a template or {hash: [COLUMNS]}");
          auto list = names(*h, "hash");
          if (!list.ok()) return list.error();
          out.id.hash = true;
          for (const auto& c : *list) out.id.slots.push_back(d_.slot_of(c));
        } else if (id->is_scalar()) {
          auto t = parse_template(*id);
          if (!t.ok()) return t.error();
          out.id.text = std::move(*t);
        } else {
          return fail(*id, "id is a template or {hash: [COLUMNS]}");
        }
      }
      d_.outputs.push_back(std::move(out));
    }
    return {};
  }

 private:
  Result<std::vector<std::string>> names_or_empty(const YamlNode& at) {
    std::vector<std::string> out;
    if (!at.is_sequence()) return fail(at, "nulls must be a list of texts");
    for (const auto& item : at.items) {
      if (item.kind == YamlNode::Kind::kNull) {
        out.emplace_back();
        continue;
      }
      if (!item.is_scalar()) return fail(item, "nulls must be a list of texts");
      out.push_back(item.scalar);
    }
    return out;
  }

  MappingData& d_;
  std::set<std::string> maps_known_;
};

}  // namespace

Result<CsvMapping> CsvMapping::parse(std::string_view yaml, const std::string& source) {
  auto root = parse_yaml(yaml);
  if (!root.ok()) {
    // "line L, column C: what" -> "SOURCE:L:C: what"
    const std::string& m = root.error().message();
    int line = 0, col = 0;
    if (std::sscanf(m.c_str(), "line %d, column %d:", &line, &col) == 2) {
      auto rest = m.find(": ");
      return Error::config(fmt::format("{}:{}:{}: {}", source, line, col, m.substr(rest + 2)));
    }
    return Error::config(fmt::format("{}: {}", source, m));
  }
  auto d = std::make_shared<MappingData>();
  d->source = source;
  MappingParser p(*d);
  EHR_TRY(p.parse(*root));
  if (d->name.empty()) {
    std::string stem = source.substr(source.find_last_of('/') + 1);
    d->name = stem.substr(0, stem.find('.'));
  }
  CsvMapping m;
  m.data_ = std::move(d);
  return m;
}

const std::string& CsvMapping::name() const { return data_->name; }
const std::string& CsvMapping::table() const { return data_->table; }
const std::string& CsvMapping::source() const { return data_->source; }
const std::vector<std::string>& CsvMapping::required() const { return data_->required; }

std::vector<std::string> CsvMapping::resource_types() const {
  std::vector<std::string> out;
  for (const auto& o : data_->outputs) out.push_back(o.type);
  return out;
}

int CsvMapping::columns_known(const std::vector<std::string>& header) const {
  int n = 0;
  for (const auto& h : header) {
    bool known = std::find(data_->slots.begin(), data_->slots.end(), h) != data_->slots.end();
    for (const auto& [col, others] : data_->aliases)
      if (std::find(others.begin(), others.end(), h) != others.end()) known = true;
    if (known) ++n;
  }
  return n;
}

// --- FHIR date syntax ----------------------------------------------------------

namespace {

bool digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return false;
  for (size_t i = at; i < at + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int num(std::string_view s, size_t at, size_t n) {
  int v = 0;
  for (size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// YYYY, YYYY-MM or YYYY-MM-DD with valid month and day; returns its length or 0.
size_t date_part(std::string_view s) {
  if (!digits(s, 0, 4)) return 0;
  if (s.size() == 4 || s[4] != '-') return 4;
  if (!digits(s, 5, 2)) return 0;
  int month = num(s, 5, 2);
  if (month < 1 || month > 12) return 0;
  if (s.size() == 7 || s[7] != '-') return 7;
  if (!digits(s, 8, 2)) return 0;
  int day = num(s, 8, 2);
  int year = num(s, 0, 4);
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day < 1 || day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return 0;
  return 10;
}

// "Thh:mm:ss(.fff)(Z|+hh:mm)" from `at`; `need_zone` whether the zone is required.
bool time_part(std::string_view s, size_t at) {
  if (!digits(s, at, 2) || s.size() < at + 8 || s[at + 2] != ':' || !digits(s, at + 3, 2) ||
      s[at + 5] != ':' || !digits(s, at + 6, 2))
    return false;
  if (num(s, at, 2) > 23 || num(s, at + 3, 2) > 59 || num(s, at + 6, 2) > 60) return false;
  size_t i = at + 8;
  if (i < s.size() && s[i] == '.') {
    size_t j = i + 1;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i + 1) return false;
    i = j;
  }
  if (i == s.size()) return false;  // FHIR: a time needs a zone
  if (s[i] == 'Z') return i + 1 == s.size();
  if ((s[i] == '+' || s[i] == '-') && s.size() == i + 6 && digits(s, i + 1, 2) && s[i + 3] == ':' &&
      digits(s, i + 4, 2))
    return num(s, i + 1, 2) <= 14 && num(s, i + 4, 2) <= 59;
  return false;
}

}  // namespace

// --- evaluation --------------------------------------------------------------------

namespace {

using Cell = std::optional<std::string_view>;

struct RowContext {
  const MappingData& d;
  std::vector<Cell> cells;           // per slot
  std::vector<std::string> scratch;  // owned texts produced by filters
};

Error column_error(const MappingData& d, int slot, std::string_view what) {
  return Error::invalid_data(fmt::format("column {}: {}", d.slots[slot], what));
}

// Applies `f` to `v` (null in, null out, except or:).
Result<Cell> apply(RowContext& ctx, int slot, const Filter& f, Cell v, std::string& owned) {
  if (f.kind == FilterKind::kOr) {
    if (v) return v;
    owned = f.arg;
    return Cell(owned);
  }
  if (!v) return v;
  std::string_view s = *v;
  switch (f.kind) {
    case FilterKind::kPresent:
      owned = f.arg;
      return Cell(owned);
    case FilterKind::kMap: {
      const auto& m = ctx.d.maps.at(f.arg);
      auto it = m.find(std::string(s));
      if (it == m.end()) it = m.find("*");
      if (it == m.end()) {
        std::string known;
        for (const auto& [k, _] : m) known += (known.empty() ? "" : ", ") + k;
        return column_error(ctx.d, slot, fmt::format("a value not in the map {} ({})", f.arg, known));
      }
      if (it->second.empty()) return Cell();  // mapped to "no value"
      return Cell(it->second);
    }
    case FilterKind::kDecimal: {
      if (!Json::number_from_text(s).ok())
        return column_error(ctx.d, slot, "not a decimal number");
      return v;
    }
    case FilterKind::kInteger: {
      size_t i = !s.empty() && s[0] == '-' ? 1 : 0;
      if (i == s.size() || !digits(s, i, s.size() - i) || (s.size() - i > 1 && s[i] == '0') ||
          s.size() - i > 10)
        return column_error(ctx.d, slot, "not an integer");
      return v;
    }
    case FilterKind::kBoolean: {
      std::string low;
      for (char c : s) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (low == "true" || low == "1" || low == "yes" || low == "y" || low == "t") owned = "true";
      else if (low == "false" || low == "0" || low == "no" || low == "n" || low == "f") owned = "false";
      else return column_error(ctx.d, slot, "not a boolean (true/false, yes/no, 1/0)");
      return Cell(owned);
    }
    case FilterKind::kDate: {
      size_t n = date_part(s);
      if (n == 0 || (n < s.size() && s[n] != 'T' && s[n] != ' '))
        return column_error(ctx.d, slot, "not a date (YYYY, YYYY-MM or YYYY-MM-DD)");
      return Cell(s.substr(0, n));
    }
    case FilterKind::kDateTime:
    case FilterKind::kInstant: {
      size_t n = date_part(s);
      bool instant = f.kind == FilterKind::kInstant;
      if (n != 0 && n == s.size() && !instant) return v;
      if (n == 10 && s.size() > 10 && (s[10] == 'T' || s[10] == ' ')) {
        owned = std::string(s);
        owned[10] = 'T';
        if (time_part(owned, 11)) return Cell(owned);
      }
      return column_error(ctx.d, slot,
                          instant ? "not an instant (YYYY-MM-DDThh:mm:ss with a time zone)"
                                  : "not a FHIR dateTime (a date, or a date and time with a time zone)");
    }
    case FilterKind::kLower:
    case FilterKind::kUpper: {
      owned = std::string(s);
      for (char& c : owned)
        c = static_cast<char>(f.kind == FilterKind::kLower ? std::tolower(static_cast<unsigned char>(c))
                                                           : std::toupper(static_cast<unsigned char>(c)));
      return Cell(owned);
    }
    case FilterKind::kTrim: {
      size_t b = s.find_first_not_of(" \t");
      if (b == std::string_view::npos) return Cell();
      size_t e = s.find_last_not_of(" \t");
      return Cell(s.substr(b, e - b + 1));
    }
    case FilterKind::kSctid: {
      auto repaired = repair_rounded_sctid(s);
      if (!repaired) return v;
      owned = std::move(*repaired);
      return Cell(owned);
    }
    case FilterKind::kOr:
      break;
  }
  return v;
}

// The text of a template, or nullopt when a placeholder has no value.
Result<std::optional<std::string>> eval_text(RowContext& ctx, const Scalar& sc) {
  std::string out;
  for (const auto& p : sc.pieces) {
    if (p.literal) {
      out += p.text;
      continue;
    }
    Cell v = ctx.cells[p.slot];
    std::string owned[2];
    int which = 0;
    for (const auto& f : p.filters) {
      auto r = apply(ctx, p.slot, f, v, owned[which]);
      if (!r.ok()) return r.error();
      v = *r;
      which ^= 1;
    }
    if (!v) return std::optional<std::string>();
    out += *v;
  }
  return std::optional<std::string>(std::move(out));
}

Result<std::optional<Json>> eval_scalar(RowContext& ctx, const Scalar& sc) {
  if (sc.constant) return std::optional<Json>(*sc.constant);
  auto t = eval_text(ctx, sc);
  if (!t.ok()) return t.error();
  if (!t->has_value()) return std::optional<Json>();
  switch (sc.typed) {
    case Json::Kind::kNumber:
      return std::optional<Json>(Json::number_literal(std::move(**t)));
    case Json::Kind::kBool:
      return std::optional<Json>(Json::boolean(**t == "true"));
    default:
      return std::optional<Json>(Json::string(std::move(**t)));
  }
}

bool holds(RowContext& ctx, const Cond& c) {
  Cell v = ctx.cells[c.slot];
  switch (c.op) {
    case CondOp::kPresent: return v.has_value();
    case CondOp::kAbsent: return !v.has_value();
    case CondOp::kEq: return v && *v == c.value;
    case CondOp::kNe: return !v || *v != c.value;
    case CondOp::kMatch:
    case CondOp::kNoMatch: {
      bool m = v && std::regex_search(v->begin(), v->end(), *c.re);
      return c.op == CondOp::kMatch ? m : !m;
    }
  }
  return false;
}

Result<std::optional<Json>> eval_node(RowContext& ctx, const TNode& n) {
  for (const auto& any : n.conds)
    if (std::none_of(any.begin(), any.end(), [&](const Cond& c) { return holds(ctx, c); }))
      return std::optional<Json>();
  switch (n.kind) {
    case TNode::Kind::kScalar:
      return eval_scalar(ctx, n.scalar);
    case TNode::Kind::kValue:
      return eval_node(ctx, n.items[0]);
    case TNode::Kind::kArray: {
      Json arr = Json::array();
      for (const auto& item : n.items) {
        auto v = eval_node(ctx, item);
        if (!v.ok()) return v.error();
        if (v->has_value()) arr.push_back(std::move(**v));
      }
      if (arr.size() == 0) return std::optional<Json>();
      return std::optional<Json>(std::move(arr));
    }
    case TNode::Kind::kObject: {
      Json obj = Json::object();
      for (const auto& [k, child] : n.members) {
        auto v = eval_node(ctx, child);
        if (!v.ok()) return v.error();
        if (v->has_value()) obj.members().emplace_back(k, std::move(**v));
      }
      if (obj.size() == 0) return std::optional<Json>();
      return std::optional<Json>(std::move(obj));
    }
  }
  return std::optional<Json>();
}

}  // namespace

// --- binding and rows -----------------------------------------------------------------

Result<BoundMapping> BoundMapping::bind(const CsvMapping& mapping, const std::vector<std::string>& header) {
  const MappingData& d = *mapping.data();
  std::vector<int> columns(d.slots.size(), -1);
  for (size_t s = 0; s < d.slots.size(); ++s) {
    std::vector<std::string> names{d.slots[s]};
    if (auto it = d.aliases.find(d.slots[s]); it != d.aliases.end())
      names.insert(names.end(), it->second.begin(), it->second.end());
    for (const auto& name : names) {
      auto h = std::find(header.begin(), header.end(), name);
      if (h != header.end()) {
        columns[s] = static_cast<int>(h - header.begin());
        break;
      }
    }
  }
  for (size_t i = 0; i < d.required.size(); ++i)
    if (columns[d.required_slots[i]] < 0) {
      std::string all;
      for (const auto& r : d.required) all += (all.empty() ? "" : ", ") + r;
      return Error::invalid_data(fmt::format("missing column {} (the mapping {} needs {})",
                                             d.required[i], d.name, all));
    }
  return BoundMapping(mapping, std::move(columns));
}

Result<std::vector<MappedResource>> BoundMapping::map_row(const std::vector<std::string>& fields) const {
  const MappingData& d = *mapping_.data();
  RowContext ctx{d, {}, {}};
  ctx.cells.resize(columns_.size());
  for (size_t s = 0; s < columns_.size(); ++s) {
    if (columns_[s] < 0) continue;
    const std::string& v = fields[columns_[s]];
    if (std::find(d.nulls.begin(), d.nulls.end(), v) != d.nulls.end()) continue;
    ctx.cells[s] = std::string_view(v);
  }
  for (size_t i = 0; i < d.required.size(); ++i)
    if (!ctx.cells[d.required_slots[i]])
      return column_error(d, d.required_slots[i], "empty, and the mapping requires a value");
  std::vector<MappedResource> out;
  for (size_t o = 0; o < d.outputs.size(); ++o) {
    const Output& spec = d.outputs[o];
    auto r = eval_node(ctx, spec.resource);
    if (!r.ok()) return r.error();
    MappedResource m;
    m.resource = r->has_value() ? std::move(**r) : Json::object();
    if (spec.has_id) {
      if (spec.id.hash) {
        std::string key = d.name + '\x1f' + std::to_string(o);
        for (int slot : spec.id.slots) {
          Cell c = ctx.cells[slot];
          key += fmt::format("\x1f{}:", c ? c->size() : 0);
          if (c) key += *c;
        }
        m.hash_key = std::move(key);
      } else {
        auto id = eval_text(ctx, spec.id.text);
        if (!id.ok()) return id.error();
        if (!id->has_value())
          return Error::invalid_data(fmt::format("the id of {} has no value in this row", spec.type));
        // resourceType first, then id, as FHIR writes them.
        Json with_id = Json::object();
        with_id.set("resourceType", Json::string(spec.type));
        with_id.set("id", Json::string(std::move(**id)));
        for (auto& [k, v] : m.resource.members())
          if (k != "resourceType") with_id.members().emplace_back(std::move(k), std::move(v));
        m.resource = std::move(with_id);
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<std::string> repair_rounded_sctid(std::string_view code) {
  if (code.size() < 16 || code.size() > 19 || code[0] == '0' ||
      !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  if (snomed_sctid_valid(code)) return std::nullopt;
  unsigned long long n = std::stoull(std::string(code));
  if (n <= (1ULL << 53)) return std::nullopt;
  double d = static_cast<double>(n);
  // Neighbours within the rounding step that land on the same double.
  unsigned long long step = 1ULL << 12;  // far wider than a double's spacing below 2^64
  std::optional<std::string> found;
  for (unsigned long long c = n > step ? n - step : 0; c <= n + step; ++c) {
    if (static_cast<double>(c) != d) continue;
    std::string text = std::to_string(c);
    if (!snomed_sctid_valid(text)) continue;
    if (found) return std::nullopt;  // two candidates: cannot tell
    found = std::move(text);
  }
  return found;
}

std::string hashed_id(std::string_view hash_key) {
  auto h = crypto::blake2b_256(crypto::Bytes(reinterpret_cast<const std::uint8_t*>(hash_key.data()),
                                             hash_key.size()));
  std::uint8_t b[16];
  std::copy(h.begin(), h.begin() + 16, b);
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x50);  // name-based (version 5 shape)
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}

// --- the embedded Synthea mappings ---------------------------------------------------

const std::vector<CsvMapping>& synthea_mappings() {
  static const std::vector<CsvMapping> all = [] {
    std::vector<CsvMapping> out;
    for (std::string_view path : embedded_schema_paths()) {
      if (!path.starts_with("mappings/synthea/")) continue;
      auto m = CsvMapping::parse(*embedded_schema(path), "schemas/" + std::string(path));
      if (m.ok()) out.push_back(std::move(*m));
    }
    return out;
  }();
  return all;
}

}  // namespace ehr::detail
