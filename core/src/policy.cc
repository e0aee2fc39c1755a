// Policy parsing and the pure decision function (ehr/access.h).
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <fmt/format.h>

#include "ehr/access.h"
#include "ehr/validate.h"
#include "schemas.h"
#include "yaml_adapter.h"

namespace ehr {

namespace {

using detail::YamlNode;

constexpr Action kActions[] = {Action::kRead,    Action::kSearch, Action::kCreate, Action::kUpdate,
                               Action::kRetract, Action::kPurge,  Action::kExport, Action::kImport,
                               Action::kAuditRead, Action::kAdmin, Action::kMerge};

// The objects of the policy that are not FHIR resource types.
constexpr std::string_view kPolicyObjects[] = {"User", "Key", "Policy", "CareTeam", "AuditEvent", "Database"};

std::uint32_t bit(Action a) { return 1u << static_cast<int>(a); }

}  // namespace

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kRead: return "read";
    case Action::kSearch: return "search";
    case Action::kCreate: return "create";
    case Action::kUpdate: return "update";
    case Action::kRetract: return "retract";
    case Action::kPurge: return "purge";
    case Action::kExport: return "export";
    case Action::kImport: return "import";
    case Action::kAuditRead: return "audit-read";
    case Action::kAdmin: return "admin";
    case Action::kMerge: return "merge";
  }
  return "unknown";
}

std::optional<Action> parse_action(std::string_view name) {
  for (Action a : kActions)
    if (action_name(a) == name) return a;
  return std::nullopt;
}

std::string action_names(std::string_view separator, std::string_view last_separator) {
  std::string out;
  for (size_t i = 0; i < std::size(kActions); ++i) {
    if (i > 0) out += i + 1 == std::size(kActions) && !last_separator.empty() ? last_separator : separator;
    out += action_name(kActions[i]);
  }
  return out;
}

const std::vector<Action>& all_actions() {
  static const std::vector<Action> v(std::begin(kActions), std::end(kActions));
  return v;
}

struct Policy::Data {
  struct Rule {
    bool deny = false;
    std::uint32_t actions = 0;
    bool all_types = true;
    std::set<std::string, std::less<>> types;
    bool care_team = false;
    std::set<std::string, std::less<>> codes;   // empty = any
    std::vector<std::string> fields;            // empty = all
    std::set<std::string, std::less<>> labels;  // deny only: label names; empty = any
    int line = 0;
    int index = 0;  // 1-based within the role's allow or deny list
  };
  struct Role {
    std::string name;
    std::string description;
    std::set<std::string, std::less<>> clearances;
    bool emergency = false;
    bool joins_care_team = false;
    std::vector<Rule> allow;
    std::vector<Rule> deny;
  };
  int emergency_minutes = 60;
  bool export_requires_encryption = false;
  std::map<std::string, std::set<std::string>, std::less<>> labels;  // name -> codes
  std::map<std::string, std::string, std::less<>> label_of_code;
  std::vector<Role> roles;

  const Role* role(std::string_view name) const {
    for (const auto& r : roles)
      if (r.name == name) return &r;
    return nullptr;
  }
};

namespace {

using Data = Policy::Data;

class PolicyParser {
 public:
  explicit PolicyParser(std::string_view source) : source_(source) {}

  // A node without a place (the root of an empty file) is named by the
  // file alone, not a line 0.
  Error error(const YamlNode& at, const std::string& what) const {
    if (at.line <= 0) return Error::config(fmt::format("{}: {}", source_, what));
    return Error::config(fmt::format("{}:{}:{}: {}", source_, at.line, at.column, what));
  }

  Result<std::string> scalar(const YamlNode& n, std::string_view what) const {
    if (!n.is_scalar()) return error(n, fmt::format("{} must be a single value", what));
    return n.scalar;
  }

  Result<std::vector<const YamlNode*>> list(const YamlNode& n, std::string_view what) const {
    std::vector<const YamlNode*> out;
    if (n.is_scalar()) {
      out.push_back(&n);
      return out;
    }
    if (!n.is_sequence()) return error(n, fmt::format("{} must be a list", what));
    for (const auto& item : n.items) {
      if (!item.is_scalar()) return error(item, fmt::format("each of {} must be a single value", what));
      out.push_back(&item);
    }
    return out;
  }

  Status check_keys(const YamlNode& map, std::initializer_list<std::string_view> allowed,
                    std::string_view where) const {
    for (const auto& [k, v] : map.entries)
      if (std::find(allowed.begin(), allowed.end(), k.scalar) == allowed.end()) {
        std::string names;
        for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
        return error(k, fmt::format("unknown key '{}' in {} (known: {})", k.scalar, where, names));
      }
    return {};
  }

  Result<bool> boolean(const YamlNode& n, std::string_view what) const {
    auto s = scalar(n, what);
    if (!s.ok()) return s.error();
    if (*s == "true") return true;
    if (*s == "false") return false;
    return error(n, fmt::format("{} must be true or false, not '{}'", what, *s));
  }

  Result<Data> parse(const YamlNode& root) {
    if (root.kind == YamlNode::Kind::kNull && root.line <= 0)
      return error(root, "the file is empty; a policy is a map with schema, version, roles");
    if (!root.is_map()) return error(root, "a policy is a map with schema, version, roles");
    EHR_TRY(check_keys(root, {"schema", "version", "settings", "labels", "groups", "roles"}, "the policy"));
    const YamlNode* schema = root.get("schema");
    if (schema == nullptr || !schema->is_scalar() || schema->scalar != "ehr-policy")
      return error(schema ? *schema : root, "schema must be ehr-policy");
    const YamlNode* version = root.get("version");
    if (version == nullptr || !version->is_scalar() || version->scalar != "1")
      return error(version ? *version : root, "version must be 1 (the policy format this ehr reads)");
    Data d;
    if (const YamlNode* s = root.get("settings")) {
      if (!s->is_map()) return error(*s, "settings must be a map");
      EHR_TRY(check_keys(*s, {"emergency_minutes", "export_requires_encryption"}, "settings"));
      if (const YamlNode* m = s->get("export_requires_encryption")) {
        auto v = scalar(*m, "export_requires_encryption");
        if (!v.ok()) return v.error();
        if (*v != "true" && *v != "false")
          return error(*m, "export_requires_encryption must be true or false");
        d.export_requires_encryption = *v == "true";
      }
      if (const YamlNode* m = s->get("emergency_minutes")) {
        auto v = scalar(*m, "emergency_minutes");
        if (!v.ok()) return v.error();
        int n = 0;
        bool digits = !v->empty() && v->size() <= 5 &&
                      std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits) n = std::stoi(*v);
        if (!digits || n < 1 || n > 1440)
          return error(*m, "emergency_minutes must be a whole number of minutes from 1 to 1440");
        d.emergency_minutes = n;
      }
    }
    if (const YamlNode* labels = root.get("labels")) {
      if (!labels->is_map()) return error(*labels, "labels must map names to lists of codes");
      for (const auto& [k, v] : labels->entries) {
        auto codes = list(v, "a label's codes");
        if (!codes.ok()) return codes.error();
        auto& set = d.labels[k.scalar];
        for (const YamlNode* c : *codes) {
          if (auto it = d.label_of_code.find(c->scalar); it != d.label_of_code.end())
            return error(*c, fmt::format("code {} is already label {}", c->scalar, it->second));
          d.label_of_code[c->scalar] = k.scalar;
          set.insert(c->scalar);
        }
      }
    }
    if (const YamlNode* groups = root.get("groups")) {
      if (!groups->is_map()) return error(*groups, "groups must map names to lists of types");
      for (const auto& [k, v] : groups->entries) {
        auto types = list(v, "a group's types");
        if (!types.ok()) return types.error();
        auto& set = groups_[k.scalar];
        for (const YamlNode* t : *types) {
          if (t->scalar == "*" || (!t->scalar.empty() && t->scalar[0] == '@'))
            return error(*t, "a group lists resource types only (no \"*\" or @group)");
          EHR_TRY(check_type(*t));
          set.insert(t->scalar);
        }
      }
    }
    const YamlNode* roles = root.get("roles");
    if (roles == nullptr || !roles->is_map() || roles->entries.empty())
      return error(roles ? *roles : root, "roles must map role names to their rules");
    for (const auto& [k, v] : roles->entries) {
      auto role = parse_role(k, v, d);
      if (!role.ok()) return role.error();
      d.roles.push_back(std::move(*role));
    }
    return d;
  }

 private:
  Status check_type(const YamlNode& t) const {
    const std::string& s = t.scalar;
    if (s == "*" || is_r4_resource_type(s)) return {};
    for (auto o : kPolicyObjects)
      if (s == o) return {};
    return error(t, fmt::format("'{}' is not a FHIR R4 resource type nor one of User, Key, Policy, "
                                "CareTeam, AuditEvent, Database", s));
  }

  static bool is_name(const std::string& s) {
    return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
  }

  Result<Data::Role> parse_role(const YamlNode& key, const YamlNode& v, const Data& d) {
    Data::Role role;
    role.name = key.scalar;
    if (!is_name(role.name))
      return error(key, fmt::format("role name '{}' must be 1-32 of a-z, 0-9, '-', '_'", role.name));
    if (!v.is_map()) return error(v, fmt::format("role {} must be a map", role.name));
    EHR_TRY(check_keys(v, {"description", "clearances", "emergency", "joins_care_team", "allow", "deny"},
                       "role " + role.name));
    if (const YamlNode* n = v.get("description")) {
      auto s = scalar(*n, "description");
      if (!s.ok()) return s.error();
      role.description = *s;
    }
    if (const YamlNode* n = v.get("clearances")) {
      auto items = list(*n, "clearances");
      if (!items.ok()) return items.error();
      for (const YamlNode* c : *items) {
        if (d.labels.find(c->scalar) == d.labels.end())
          return error(*c, fmt::format("unknown label '{}' (define it under labels)", c->scalar));
        role.clearances.insert(c->scalar);
      }
    }
    if (const YamlNode* n = v.get("emergency")) {
      auto b = boolean(*n, "emergency");
      if (!b.ok()) return b.error();
      role.emergency = *b;
    }
    if (const YamlNode* n = v.get("joins_care_team")) {
      auto b = boolean(*n, "joins_care_team");
      if (!b.ok()) return b.error();
      role.joins_care_team = *b;
    }
    for (bool deny : {false, true}) {
      const YamlNode* rules = v.get(deny ? "deny" : "allow");
      if (rules == nullptr) continue;
      if (!rules->is_sequence()) return error(*rules, "allow and deny must be lists of rules");
      for (const auto& r : rules->items) {
        auto rule = parse_rule(r, deny, d);
        if (!rule.ok()) return rule.error();
        auto& dest = deny ? role.deny : role.allow;
        rule->index = static_cast<int>(dest.size()) + 1;
        dest.push_back(std::move(*rule));
      }
    }
    if (role.allow.empty() && role.deny.empty())
      return error(key, fmt::format("role {} has no allow or deny rules", role.name));
    return role;
  }

  Result<Data::Rule> parse_rule(const YamlNode& r, bool deny, const Data& d) {
    Data::Rule rule;
    rule.deny = deny;
    rule.line = r.line;
    if (!r.is_map()) return error(r, "a rule is a map with actions (and types, scope, ...)");
    EHR_TRY(check_keys(r, {"actions", "types", "scope", "codes", "fields", "labels"}, "a rule"));
    const YamlNode* actions = r.get("actions");
    if (actions == nullptr) return error(r, "a rule needs actions");
    auto items = list(*actions, "actions");
    if (!items.ok()) return items.error();
    for (const YamlNode* a : *items) {
      auto act = parse_action(a->scalar);
      if (!act)
        return error(*a, fmt::format("unknown action '{}' ({})", a->scalar, action_names(", ")));
      rule.actions |= bit(*act);
    }
    if (rule.actions == 0) return error(*actions, "a rule needs at least one action");
    if (const YamlNode* types = r.get("types")) {
      auto ts = list(*types, "types");
      if (!ts.ok()) return ts.error();
      rule.all_types = false;
      for (const YamlNode* t : *ts) {
        if (t->scalar == "*") {
          rule.all_types = true;
        } else if (!t->scalar.empty() && t->scalar[0] == '@') {
          auto g = groups_.find(t->scalar.substr(1));
          if (g == groups_.end())
            return error(*t, fmt::format("unknown group '{}' (define it under groups)", t->scalar.substr(1)));
          rule.types.insert(g->second.begin(), g->second.end());
        } else {
          EHR_TRY(check_type(*t));
          rule.types.insert(t->scalar);
        }
      }
    }
    if (const YamlNode* scope = r.get("scope")) {
      if (deny) return error(*scope, "scope belongs on allow rules (a deny applies everywhere)");
      auto s = scalar(*scope, "scope");
      if (!s.ok()) return s.error();
      if (*s == "care-team") rule.care_team = true;
      else if (*s != "any") return error(*scope, fmt::format("scope must be any or care-team, not '{}'", *s));
    }
    if (const YamlNode* codes = r.get("codes")) {
      auto cs = list(*codes, "codes");
      if (!cs.ok()) return cs.error();
      for (const YamlNode* c : *cs) {
        auto bar = c->scalar.find('|');
        if (bar == std::string::npos || bar == 0 || bar + 1 == c->scalar.size())
          return error(*c, fmt::format("code '{}' must be SYSTEM|CODE", c->scalar));
        rule.codes.insert(c->scalar);
      }
    }
    if (const YamlNode* fields = r.get("fields")) {
      if (deny) return error(*fields, "fields belong on allow rules (a deny withholds the whole record)");
      auto fs = list(*fields, "fields");
      if (!fs.ok()) return fs.error();
      for (const YamlNode* f : *fs) rule.fields.push_back(f->scalar);
      if (rule.fields.empty()) return error(*fields, "fields must name at least one element");
    }
    if (const YamlNode* labels = r.get("labels")) {
      if (!deny) return error(*labels, "labels belong on deny rules; allow rules use the role's clearances");
      auto ls = list(*labels, "labels");
      if (!ls.ok()) return ls.error();
      for (const YamlNode* l : *ls) {
        if (d.labels.find(l->scalar) == d.labels.end())
          return error(*l, fmt::format("unknown label '{}' (define it under labels)", l->scalar));
        rule.labels.insert(l->scalar);
      }
    }
    return rule;
  }

  std::string source_;
  std::map<std::string, std::set<std::string>, std::less<>> groups_;
};

bool matches(const Data::Rule& r, const AccessFacts& f, const std::vector<std::string>& label_names) {
  if ((r.actions & bit(f.action)) == 0) return false;
  if (!r.all_types && r.types.find(f.type) == r.types.end()) return false;
  if (!r.codes.empty() && r.codes.find(f.code) == r.codes.end()) return false;
  if (!r.labels.empty()) {
    bool any = false;
    for (const auto& l : label_names) any = any || r.labels.count(l) > 0;
    if (!any) return false;
  }
  return true;
}

std::string rule_name(const Data::Role& role, const Data::Rule& r) {
  return fmt::format("{} {} {} (line {})", role.name, r.deny ? "deny" : "allow", r.index, r.line);
}

}  // namespace

Policy::Policy(std::shared_ptr<const Data> d) : d_(std::move(d)) {}
Policy::Policy(const Policy&) = default;
Policy& Policy::operator=(const Policy&) = default;
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;
Policy::~Policy() = default;

Result<Policy> Policy::parse(std::string_view text, std::string_view source) {
  auto root = detail::parse_yaml(text);
  if (!root.ok()) {
    // "line L, column C: what" -> "SOURCE:L:C: what", as every other policy error.
    const std::string& m = root.error().message();
    int line = 0, column = 0, used = 0;
    if (std::sscanf(m.c_str(), "line %d, column %d: %n", &line, &column, &used) == 2 && used > 0)
      return Error::config(fmt::format("{}:{}:{}: {}", source, line, column, m.substr(used)));
    return Error::config(fmt::format("{}: {}", source, m));
  }
  PolicyParser p(source);
  auto d = p.parse(*root);
  if (!d.ok()) return d.error();
  return Policy(std::make_shared<const Data>(std::move(*d)));
}

std::string_view Policy::builtin_text() {
  auto text = detail::embedded_schema("policy/default.yaml");
  return text ? *text : std::string_view();
}

const Policy& Policy::builtin() {
  static const Policy p = [] {
    // The tree the build compiled from the embedded text
    // (tools/schema_compile_gen.cc), so that no session parses YAML for the
    // built-in policy; the tests compare it with what parse() reads.
    const detail::YamlNode* tree = detail::compiled_yaml("policy/default.yaml");
    // The build embeds a file its tests parse; a failure here is a bug.
    if (tree == nullptr) std::abort();
    auto d = PolicyParser("schemas/policy/default.yaml").parse(*tree);
    if (!d.ok()) std::abort();
    return Policy(std::make_shared<const Data>(std::move(*d)));
  }();
  return p;
}

std::vector<std::string> Policy::label_names(const std::vector<std::string>& codes) const {
  std::vector<std::string> out;
  for (const auto& c : codes)
    if (auto it = d_->label_of_code.find(c); it != d_->label_of_code.end() &&
                                             std::find(out.begin(), out.end(), it->second) == out.end())
      out.push_back(it->second);
  return out;
}

Decision Policy::decide(const AccessFacts& f) const {
  std::vector<std::string> labels = label_names(f.labels);
  Decision d;
  // An explicit deny of any role wins.
  for (const auto& role_name : f.roles) {
    const Data::Role* role = d_->role(role_name);
    if (role == nullptr) continue;
    for (const auto& r : role->deny)
      if (matches(r, f, labels)) {
        d.rule = rule_name(*role, r);
        d.explicit_deny = true;
        d.reason = fmt::format("role {} is explicitly denied {} on {}", role->name,
                               action_name(f.action), f.type);
        return d;
      }
  }
  // Then the allows: those without emergency before those needing it; the
  // fields of several filtered allows add up, and one unfiltered allow wins.
  struct Candidate {
    const Data::Role* role;
    const Data::Rule* rule;
    bool emergency;
  };
  std::vector<Candidate> candidates;
  std::string why_not;
  for (const auto& role_name : f.roles) {
    const Data::Role* role = d_->role(role_name);
    if (role == nullptr) {
      if (why_not.empty()) why_not = fmt::format("role {} is not in the policy", role_name);
      continue;
    }
    for (const auto& r : role->allow) {
      if (!matches(r, f, labels)) continue;
      std::string missing;
      for (const auto& l : labels)
        if (role->clearances.count(l) == 0) missing += (missing.empty() ? "" : ", ") + l;
      if (!missing.empty()) {
        why_not = fmt::format("role {} is not cleared for records labelled {}", role->name, missing);
        continue;
      }
      bool needs_emergency = r.care_team && f.has_patient && !f.on_care_team;
      // Break-the-glass reads; it never writes (nor joins the user to the care team).
      bool glass = role->emergency && (f.action == Action::kRead || f.action == Action::kSearch);
      if (needs_emergency && !(f.emergency && glass)) {
        if (glass) d.emergency_would_allow = true;
        if (why_not.find("cleared") == std::string::npos)
          why_not = fmt::format("role {}: not on the patient's care team", role->name);
        continue;
      }
      candidates.push_back({role, &r, needs_emergency});
    }
  }
  bool any_plain = std::any_of(candidates.begin(), candidates.end(),
                               [](const Candidate& c) { return !c.emergency; });
  const Data::Role* best_role = nullptr;
  const Data::Rule* best_rule = nullptr;
  bool best_emergency = false;
  std::set<std::string> fields;
  bool unfiltered = false;
  for (const auto& c : candidates) {
    if (c.emergency && any_plain) continue;
    // The rule named is the first that decided, or the first unfiltered one.
    if (best_rule == nullptr || (c.rule->fields.empty() && !best_rule->fields.empty())) {
      best_role = c.role;
      best_rule = c.rule;
      best_emergency = c.emergency;
    }
    if (c.rule->fields.empty()) unfiltered = true;
    fields.insert(c.rule->fields.begin(), c.rule->fields.end());
  }
  if (best_rule == nullptr) {
    d.rule = "default deny";
    d.reason = why_not.empty()
                   ? fmt::format("no role of the user allows {} on {}", action_name(f.action), f.type)
                   : why_not;
    return d;
  }
  d.allowed = true;
  d.emergency_would_allow = false;
  d.emergency = best_emergency;
  d.rule = rule_name(*best_role, *best_rule);
  d.reason = best_emergency ? fmt::format("role {}: break-the-glass access outside the care team", best_role->name)
                            : fmt::format("role {} allows {} on {}", best_role->name,
                                          action_name(f.action), f.type);
  if (!unfiltered) d.fields.assign(fields.begin(), fields.end());
  return d;
}

std::vector<std::string> Policy::role_names() const {
  std::vector<std::string> out;
  for (const auto& r : d_->roles) out.push_back(r.name);
  return out;
}

bool Policy::has_role(std::string_view role) const { return d_->role(role) != nullptr; }

std::string Policy::role_description(std::string_view role) const {
  const Data::Role* r = d_->role(role);
  return r ? r->description : std::string();
}

bool Policy::joins_care_team(const std::vector<std::string>& roles) const {
  for (const auto& name : roles)
    if (const Data::Role* r = d_->role(name); r != nullptr && r->joins_care_team) return true;
  return false;
}

bool Policy::scopes_to_care_team(const std::vector<std::string>& roles) const {
  for (const auto& name : roles)
    if (const Data::Role* r = d_->role(name); r != nullptr)
      for (const auto& rule : r->allow)
        if (rule.care_team) return true;
  return false;
}

int Policy::emergency_minutes() const { return d_->emergency_minutes; }
bool Policy::export_requires_encryption() const { return d_->export_requires_encryption; }

}  // namespace ehr
