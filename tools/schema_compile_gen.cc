// schema_compile_gen SCHEMAS OUT: compiles what every ehr session needs of
// schemas/ into OUT, a C++ file defining
//   ehr::detail::compiled_resource_types()  the resource_types list of
//       fhir/resources.yaml, sorted (behind ehr::is_r4_resource_type);
//   ehr::detail::compiled_yaml(path)        the parsed tree of policy/default.yaml
//       (behind Policy::builtin);
//   ehr::detail::compiled_element_defs()    the element table of fhir/elements.txt
//       (the validator's unknown-element rule), sorted by name, each element
//       naming the index of the definition it holds.
// Run by the build (CMakeLists.txt), never installed.
//
// Why: every session loads the built-in access policy and checks its type
// names. Parsing the policy and the FHIR rule file with yaml-cpp for that
// cost about half of the CPU of a short command such as `ehr patient find`
// (scripts/bench lookup). Both are read here with the same parser
// (yaml_adapter), so the result is the same; tests compare them with what
// the parser reads from the embedded files at run time.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cpp_literal.h"
#include "yaml_adapter.h"

namespace {

using ehr::detail::YamlNode;

int fail(const std::string& what) {
  std::fprintf(stderr, "schema_compile_gen: %s\n", what.c_str());
  return 1;
}

bool read(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  text = ss.str();
  return true;
}

// C++ that builds `n` with the helpers of the generated file.
std::string tree(const YamlNode& n, int indent) {
  std::string pos = std::to_string(n.line) + ", " + std::to_string(n.column);
  std::string pad(static_cast<size_t>(indent), ' ');
  switch (n.kind) {
    case YamlNode::Kind::kNull: return "null_node(" + pos + ")";
    case YamlNode::Kind::kScalar:
      // With its length: a scalar may hold a NUL byte.
      return "scalar(" + cpp_literal(n.scalar) + ", " + std::to_string(n.scalar.size()) + ", " + pos + ")";
    case YamlNode::Kind::kSequence: {
      std::string out = "sequence(" + pos + ", {";
      for (const YamlNode& item : n.items) out += "\n" + pad + "  " + tree(item, indent + 2) + ",";
      return out + "})";
    }
    case YamlNode::Kind::kMap: {
      std::string out = "map(" + pos + ", {";
      for (const auto& [k, v] : n.entries)
        out += "\n" + pad + "  {" + tree(k, indent + 2) + ", " + tree(v, indent + 2) + "},";
      return out + "})";
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: schema_compile_gen SCHEMAS OUT");
  const std::string dir = argv[1], out_path = argv[2];

  // fhir/resources.yaml: resource_types.
  const std::string rules_path = dir + "/fhir/resources.yaml";
  std::string text;
  if (!read(rules_path, text)) return fail(rules_path + ": cannot read");
  auto rules = ehr::detail::parse_yaml(text);
  if (!rules.ok()) return fail(rules_path + ": " + rules.error().message());
  const YamlNode* list = rules->get("resource_types");
  if (list == nullptr || !list->is_sequence() || list->items.empty())
    return fail(rules_path + ": no list of resource_types");
  std::vector<std::string> names;
  for (const YamlNode& n : list->items) {
    if (!n.is_scalar() || n.scalar.empty()) return fail(rules_path + ": a resource type is not a name");
    for (char c : n.scalar)
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
        return fail(rules_path + ": resource type \"" + n.scalar + "\" is not letters only");
    names.push_back(n.scalar);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  // fhir/elements.txt: "Name element element:Target ..." per line.
  const std::string elements_path = dir + "/fhir/elements.txt";
  if (!read(elements_path, text)) return fail(elements_path + ": cannot read");
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> defs;
  std::map<std::pair<std::string, std::string>, std::string> choice_of;  // (def, variant) -> "value[x]"
  {
    std::istringstream lines(text);
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream words(line);
      std::string name, word;
      words >> name;
      if (name[0] == '=') {  // "=Name base[x]:variant,variant ..."
        while (words >> word) {
          size_t colon = word.find(':');
          if (colon == std::string::npos)
            return fail(elements_path + ":" + std::to_string(number) + ": a choice group without variants");
          std::istringstream variants(word.substr(colon + 1));
          std::string v;
          while (std::getline(variants, v, ',')) choice_of[{name.substr(1), v}] = word.substr(0, colon);
        }
        continue;
      }
      std::vector<std::pair<std::string, std::string>> elements;
      while (words >> word) {
        size_t colon = word.find(':');
        // "name[]" repeats: kept as the name's suffix until written out.
        // "name@kind": a date-typed primitive, its target "@kind".
        size_t at = colon == std::string::npos ? word.find('@') : std::string::npos;
        if (at != std::string::npos)
          elements.emplace_back(word.substr(0, at), word.substr(at));
        else
          elements.emplace_back(word.substr(0, colon), colon == std::string::npos ? "" : word.substr(colon + 1));
      }
      if (name.empty() || elements.empty())
        return fail(elements_path + ":" + std::to_string(number) + ": a definition without elements");
      std::sort(elements.begin(), elements.end());
      defs.emplace_back(name, std::move(elements));
    }
  }
  std::sort(defs.begin(), defs.end());
  auto def_index = [&](const std::string& name) -> int {
    auto it = std::lower_bound(defs.begin(), defs.end(), name,
                               [](const auto& d, const std::string& n) { return d.first < n; });
    return it != defs.end() && it->first == name ? static_cast<int>(it - defs.begin()) : -3;
  };
  std::string element_tables;
  std::string def_table;
  for (size_t i = 0; i < defs.size(); ++i) {
    element_tables += "constexpr FhirElement kE" + std::to_string(i) + "[] = {";
    std::vector<std::tuple<std::string, int, bool>> sorted;
    for (const auto& [element, target] : defs[i].second) {
      // FhirElement's kPrimitive, kAnyResource, kDate, kDateTime, kInstant, kTime
      int t = target.empty()          ? -1
              : target == "*"         ? -2
              : target == "@date"     ? -4
              : target == "@dateTime" ? -5
              : target == "@instant"  ? -6
              : target == "@time"     ? -7
              : target[0] == '@'      ? -3
                                      : def_index(target);
      if (t == -3) return fail(elements_path + ": " + defs[i].first + "." + element + ": unknown " + target);
      bool array = element.size() > 2 && element.ends_with("[]");
      sorted.emplace_back(array ? element.substr(0, element.size() - 2) : element, t, array);
    }
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [element, t, array] : sorted) {
      auto choice = choice_of.find({defs[i].first, element});
      element_tables += "{" + cpp_literal(element) + ", " + std::to_string(t) + (array ? ", true, " : ", false, ") +
                        cpp_literal(choice == choice_of.end() ? std::string() : choice->second) + "}, ";
    }
    element_tables += "};\n";
    def_table += "      {" + cpp_literal(defs[i].first) + ", kE" + std::to_string(i) + "},\n";
  }

  // policy/default.yaml: the tree.
  const std::string policy_path = dir + "/policy/default.yaml";
  if (!read(policy_path, text)) return fail(policy_path + ": cannot read");
  auto policy = ehr::detail::parse_yaml(text);
  if (!policy.ok()) return fail(policy_path + ": " + policy.error().message());

  std::string body =
      "// Generated by tools/schema_compile_gen.cc from schemas/. Do not edit.\n"
      "#include <cstddef>\n#include <initializer_list>\n#include <span>\n#include <string_view>\n#include <utility>\n\n"
      "#include \"fhir_rules.h\"\n#include \"yaml_adapter.h\"\n\nnamespace ehr::detail {\n\nnamespace {\n\n"
      "// Builders of the compiled trees (not every tree uses every one).\n"
      "YamlNode node(YamlNode::Kind kind, int line, int column) {\n"
      "  YamlNode n;\n  n.kind = kind;\n  n.line = line;\n  n.column = column;\n  return n;\n}\n\n"
      "[[maybe_unused]] YamlNode null_node(int line, int column) { return node(YamlNode::Kind::kNull, line, column); }\n\n"
      "[[maybe_unused]] YamlNode scalar(const char* s, std::size_t size, int line, int column) {\n"
      "  YamlNode n = node(YamlNode::Kind::kScalar, line, column);\n  n.scalar.assign(s, size);\n  return n;\n}\n\n"
      "[[maybe_unused]] YamlNode sequence(int line, int column, std::initializer_list<YamlNode> items) {\n"
      "  YamlNode n = node(YamlNode::Kind::kSequence, line, column);\n  n.items = items;\n  return n;\n}\n\n"
      "[[maybe_unused]] YamlNode map(int line, int column, std::initializer_list<std::pair<YamlNode, YamlNode>> entries) {\n"
      "  YamlNode n = node(YamlNode::Kind::kMap, line, column);\n  n.entries = entries;\n  return n;\n}\n\n"
      + element_tables +
      "\n}  // namespace\n\n"
      "std::span<const FhirElementDef> compiled_element_defs() {\n"
      "  static constexpr FhirElementDef kDefs[] = {\n" + def_table +
      "  };\n  return kDefs;\n}\n\n"
      "std::span<const std::string_view> compiled_resource_types() {\n"
      "  static constexpr std::string_view kTypes[] = {\n";
  for (const std::string& n : names) body += "      " + cpp_literal(n) + ",\n";
  body +=
      "  };\n  return kTypes;\n}\n\n"
      "const YamlNode* compiled_yaml(std::string_view path) {\n"
      "  if (path == \"policy/default.yaml\") {\n"
      "    static const YamlNode kPolicy = " + tree(*policy, 4) + ";\n"
      "    return &kPolicy;\n  }\n  return nullptr;\n}\n\n}  // namespace ehr::detail\n";

  // Written only when changed, so an unchanged schema rebuilds nothing.
  std::ifstream old(out_path, std::ios::binary);
  std::stringstream old_text;
  if (old) old_text << old.rdbuf();
  if (old && old_text.str() == body) return 0;
  old.close();
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out << body;
  out.close();
  if (!out) return fail(out_path + ": cannot write");
  return 0;
}
