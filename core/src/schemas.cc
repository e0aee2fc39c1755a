// Lookup over the generated table of embedded schema files (schemas.h).
#include "schemas.h"

#include <cstddef>

namespace ehr::detail {

struct EmbeddedFile {
  const char* path;
  const unsigned char* data;
  std::size_t size;
};
extern const EmbeddedFile kEmbeddedSchemas[];

std::vector<std::string_view> embedded_schema_paths() {
  std::vector<std::string_view> out;
  for (const EmbeddedFile* f = kEmbeddedSchemas; f->path != nullptr; ++f) out.emplace_back(f->path);
  return out;
}

std::optional<std::string_view> embedded_schema(std::string_view path) {
  for (const EmbeddedFile* f = kEmbeddedSchemas; f->path != nullptr; ++f)
    if (path == f->path) return std::string_view(reinterpret_cast<const char*>(f->data), f->size);
  return std::nullopt;
}

}  // namespace ehr::detail
