// The only file that includes yaml-cpp (see yaml_adapter.h). yaml-cpp throws;
// every exception stops here and becomes an Error with a line and column.

#include "yaml_adapter.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace ehr::detail {

const YamlNode* YamlNode::get(std::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (const auto& e : entries)
    if (e.first.kind == Kind::kScalar && e.first.scalar == key) return &e.second;
  return nullptr;
}

namespace {

Error at(const YAML::Mark& mark, std::string_view what) {
  return Error::invalid_data(fmt::format("line {}, column {}: {}", mark.line + 1,
                                         mark.column + 1, what));
}

Result<YamlNode> convert(const YAML::Node& node, int depth) {
  if (depth > 64) return at(node.Mark(), "nesting too deep");
  YamlNode out;
  out.line = node.Mark().line + 1;
  out.column = node.Mark().column + 1;
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out.kind = YamlNode::Kind::kNull;
      return out;
    case YAML::NodeType::Scalar:
      out.kind = YamlNode::Kind::kScalar;
      out.scalar = node.Scalar();
      out.plain = node.Tag() == "?";
      return out;
    case YAML::NodeType::Sequence:
      out.kind = YamlNode::Kind::kSequence;
      for (const auto& item : node) {
        auto c = convert(item, depth + 1);
        if (!c.ok()) return c.error();
        out.items.push_back(std::move(*c));
      }
      return out;
    case YAML::NodeType::Map:
      out.kind = YamlNode::Kind::kMap;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return at(kv.first.Mark(), "map keys must be plain text");
        auto k = convert(kv.first, depth + 1);
        if (!k.ok()) return k.error();
        if (out.get(k->scalar) != nullptr)
          return at(kv.first.Mark(), fmt::format("duplicate key \"{}\"", k->scalar));
        auto v = convert(kv.second, depth + 1);
        if (!v.ok()) return v.error();
        out.entries.emplace_back(std::move(*k), std::move(*v));
      }
      return out;
  }
  return Error::internal("unknown YAML node type");
}

}  // namespace

Result<YamlNode> parse_yaml(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return convert(root, 0);
  } catch (const YAML::Exception& e) {
    return at(e.mark, e.msg);
  } catch (const std::exception& e) {
    return Error::invalid_data(fmt::format("cannot parse YAML: {}", e.what()));
  }
}

}  // namespace ehr::detail
