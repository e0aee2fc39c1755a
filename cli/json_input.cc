// --json FILE|- (json_input.h).
#include "json_input.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace ehr::cli {

Result<std::string> read_text_input(Context& ctx, const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << ctx.io().in.rdbuf();
  } else {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      return Error::no_input(fmt::format("cannot read {}: it is a directory", path));
    std::ifstream f(path, std::ios::binary);
    if (!f) return Error::no_input(fmt::format("cannot read {}", path));
    ss << f.rdbuf();
  }
  return ss.str();
}

Result<Json> read_json_input(Context& ctx, const std::string& path) {
  std::string name = path == "-" ? "<stdin>" : path;
  auto text = read_text_input(ctx, path);
  if (!text.ok()) return text.error();
  auto doc = parse_json(*text);
  if (!doc.ok()) return doc.error().with_context(name);
  return doc;
}

}  // namespace ehr::cli
