// The only door to yaml-cpp: parses YAML text into ehr's own position-carrying
// tree, so that configuration, policy, mapping and rule loaders can name the
// line of every bad value without touching yaml-cpp themselves.

#ifndef EHR_CORE_YAML_ADAPTER_H_
#define EHR_CORE_YAML_ADAPTER_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ehr/status.h"

namespace ehr::detail {

struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;  // kScalar only
  bool plain = false;  // kScalar written without quotes (so `true` or `12` may be typed)
  int line = 0;        // 1-based; 0 when unknown
  int column = 0;      // 1-based
  std::vector<YamlNode> items;                          // kSequence
  std::vector<std::pair<YamlNode, YamlNode>> entries;   // kMap, in file order

  bool is_map() const { return kind == Kind::kMap; }
  bool is_sequence() const { return kind == Kind::kSequence; }
  bool is_scalar() const { return kind == Kind::kScalar; }
  // The value of map key `key`, or nullptr.
  const YamlNode* get(std::string_view key) const;
};

// Parses one YAML document. An empty document gives a kNull node. Errors are
// kInvalidData with "line L, column C: <what>" (syntax errors, duplicate map
// keys, non-scalar map keys, anchors/aliases of unsupported shape).
Result<YamlNode> parse_yaml(std::string_view text);

}  // namespace ehr::detail

#endif  // EHR_CORE_YAML_ADAPTER_H_
