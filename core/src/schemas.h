// Read access to the files of schemas/, embedded in the binary at build time
// by cmake/embed.cmake. Paths are relative to schemas/ ("config.yaml").

#ifndef EHR_CORE_SCHEMAS_H_
#define EHR_CORE_SCHEMAS_H_

#include <optional>
#include <string_view>
#include <vector>

namespace ehr::detail {

// All embedded paths, sorted.
std::vector<std::string_view> embedded_schema_paths();
// The content of `path`, or nullopt when no such file was embedded.
std::optional<std::string_view> embedded_schema(std::string_view path);

struct YamlNode;

// The tree parse_yaml reads from embedded_schema(path), as the build parsed
// and compiled it (tools/schema_compile_gen.cc), for the files every session
// needs: policy/default.yaml. nullptr for any other path.
const YamlNode* compiled_yaml(std::string_view path);

}  // namespace ehr::detail

#endif  // EHR_CORE_SCHEMAS_H_
