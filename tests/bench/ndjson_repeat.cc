// ehr_ndjson_repeat: a large Bulk Data export made of copies of a small one,
// for the NDJSON rate of `scripts/bench import`.
//
// Reads every *.ndjson file of SRC (one resource a line) and writes a file of
// the same name to OUT holding K copies of it, K chosen so the total is about
// R resources. Copy c (1..K) of a resource is a distinct record:
//   - its id gets the suffix "-c<c>" (ids of the source are at most 57
//     characters, or it refuses, so the result stays a valid FHIR id);
//   - every "reference" of the form Type/id naming a resource of SRC points
//     to that resource's copy c (references to anything else stay);
//   - its top-level identifier values get the suffix too, so copies do not
//     share business identifiers (ehr links a new record to a stored one by
//     identifier), except values of code systems with check digits (LOINC,
//     SNOMED CT, NPI: a suffix would break the check) and urn:uuid: values,
//     whose last 12 hex digits are XORed with c instead (still a UUID).
// Everything else is kept as parsed and written back compactly in member
// order (ehr's own JSON reader and writer). Output depends only on SRC and R.
//
// Usage: ehr_ndjson_repeat --from SRC --out OUT [--resources R]
//   default R: 1000000. Prints "K copies, N resources" to stdout.
// Exits 0 on success, 64 on a usage error, 1 when reading, parsing or
// writing fails.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"

namespace {

namespace fs = std::filesystem;
using ehr::Json;

[[noreturn]] void die(const std::string& message, int code = 1) {
  std::fprintf(stderr, "ehr_ndjson_repeat: %s\n", message.c_str());
  std::exit(code);
}

struct Source {
  std::string name;
  std::vector<Json> resources;
};

std::string text_of(const Json* j) { return j != nullptr && j->is_string() ? j->text() : ""; }

class Repeater {
 public:
  explicit Repeater(std::set<std::string> ids) : ids_(std::move(ids)) {}

  // Copy `copy` of `r`.
  Json copy_of(const Json& r, int copy) const {
    Json out = r;
    suffix_ = "-c" + std::to_string(copy);
    copy_ = copy;
    if (Json* id = out.find("id"); id != nullptr && id->is_string()) *id = Json::string(id->text() + suffix_);
    if (Json* idents = out.find("identifier"); idents != nullptr && idents->is_array())
      for (Json& ident : idents->items()) rewrite_identifier(ident);
    rewrite_references(out);
    return out;
  }

 private:
  void rewrite_identifier(Json& ident) const {
    if (!ident.is_object()) return;
    Json* value = ident.find("value");
    if (value == nullptr || !value->is_string()) return;
    std::string system = text_of(ident.find("system"));
    if (system == "http://loinc.org" || system == "http://snomed.info/sct" ||
        system == "http://hl7.org/fhir/sid/us-npi")
      return;
    std::string v = value->text();
    if (v.starts_with("urn:uuid:") && v.size() == 9 + 36) {
      std::uint64_t tail = std::strtoull(v.substr(v.size() - 12).c_str(), nullptr, 16);
      tail ^= static_cast<std::uint64_t>(copy_);
      char hex[16];
      std::snprintf(hex, sizeof hex, "%012llx", static_cast<unsigned long long>(tail & 0xffffffffffffull));
      *value = Json::string(v.substr(0, v.size() - 12) + hex);
      return;
    }
    *value = Json::string(v + suffix_);
  }

  void rewrite_references(Json& node) const {
    if (node.is_array()) {
      for (Json& item : node.items()) rewrite_references(item);
      return;
    }
    if (!node.is_object()) return;
    for (auto& [key, value] : node.members()) {
      if (key == "reference" && value.is_string()) {
        if (ids_.count(value.text()) > 0) value = Json::string(value.text() + suffix_);
      } else if (value.is_object() || value.is_array()) {
        rewrite_references(value);
      }
    }
  }

  std::set<std::string> ids_;  // "Type/id" of every resource of SRC
  mutable std::string suffix_;
  mutable int copy_ = 0;
};

std::string fmt_line(const std::string& file, int line) {
  return file + ":" + std::to_string(line) + ": ";
}

std::uint64_t parse_count(const char* flag, const char* text) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (*text < '0' || *text > '9' || *end != '\0' || v == 0)
    die(std::string(flag) + " needs a positive whole number", 64);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string from, out;
  std::uint64_t target = 1000000;
  for (int a = 1; a < argc; ++a) {
    std::string_view flag = argv[a];
    if (flag == "-h" || flag == "--help") {
      std::printf("usage: ehr_ndjson_repeat --from SRC --out OUT [--resources R]\n");
      return 0;
    }
    if (a + 1 >= argc) die(std::string(flag) + " needs a value", 64);
    const char* value = argv[++a];
    if (flag == "--from") from = value;
    else if (flag == "--out") out = value;
    else if (flag == "--resources") target = parse_count(argv[a - 1], value);
    else die("unknown option " + std::string(flag), 64);
  }
  if (from.empty() || out.empty()) die("usage: ehr_ndjson_repeat --from SRC --out OUT [--resources R]", 64);

  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(from, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".ndjson") names.push_back(entry.path().filename());
  if (ec) die("cannot read " + from + ": " + ec.message());
  std::sort(names.begin(), names.end());
  if (names.empty()) die("no .ndjson files in " + from);

  std::vector<Source> sources;
  std::set<std::string> ids;
  std::uint64_t per_copy = 0;
  for (const std::string& name : names) {
    std::ifstream in(fs::path(from) / name, std::ios::binary);
    if (!in) die("cannot open " + (fs::path(from) / name).string());
    Source s{name, {}};
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = ehr::parse_json(line);
      if (!j.ok()) die(fmt_line(name, n) + j.error().message());
      std::string type = text_of(j->find("resourceType")), id = text_of(j->find("id"));
      if (type.empty() || id.empty()) die(fmt_line(name, n) + "a resource with a resourceType and an id");
      if (id.size() > 57) die(fmt_line(name, n) + "id longer than 57 characters: " + id);
      ids.insert(type + "/" + id);
      s.resources.push_back(std::move(*j));
      ++per_copy;
    }
    sources.push_back(std::move(s));
  }
  if (per_copy == 0) die("no resources in " + from);
  int copies = static_cast<int>(std::max<std::uint64_t>(1, (target + per_copy / 2) / per_copy));

  fs::create_directories(out, ec);
  if (ec) die("cannot create " + out + ": " + ec.message());
  Repeater rep(std::move(ids));
  for (const Source& s : sources) {
    fs::path path = fs::path(out) / s.name, tmp = fs::path(out) / ("." + s.name + ".tmp");
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) die("cannot create " + tmp.string());
    std::string buf;
    for (int c = 1; c <= copies; ++c) {
      for (const Json& r : s.resources) {
        buf += ehr::to_json(rep.copy_of(r, c));
        buf += '\n';
      }
      if (buf.size() >= (1u << 20) || c == copies) {
        if (std::fwrite(buf.data(), 1, buf.size(), f) != buf.size()) die("cannot write " + tmp.string());
        buf.clear();
      }
    }
    if (std::fclose(f) != 0) die("cannot write " + tmp.string());
    fs::rename(tmp, path);
  }
  std::printf("%d copies, %llu resources\n", copies,
              static_cast<unsigned long long>(per_copy * static_cast<std::uint64_t>(copies)));
  return 0;
}
