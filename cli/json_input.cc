// --json FILE|- (json_input.h).
#include "json_input.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace ehr::cli {

Result<Json> read_json_input(Context& ctx, const std::string& path) {
  std::string text;
  std::string name = path == "-" ? "<stdin>" : path;
  if (path == "-") {
    std::stringstream ss;
    ss << ctx.io().in.rdbuf();
    text = ss.str();
  } else {
    std::ifstream f(path, std::ios::binary);
    if (!f) return Error::no_input(fmt::format("cannot read {}", path));
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  auto doc = parse_json(text);
  if (!doc.ok()) return doc.error().with_context(name);
  return doc;
}

}  // namespace ehr::cli
