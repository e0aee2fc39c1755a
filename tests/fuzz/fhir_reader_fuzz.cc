// libFuzzer harness for the reading half of ehr import's Bundle and NDJSON
// readers: the byte source's line splitting (core/src/byte_source.cc, with
// its record size limit) and the JSON parser (core/src/json.cc) over whole
// documents and over NDJSON lines.
//
// Input: byte 0 is a mode, the rest is the file.
//   mode & 1   NDJSON: lines up to a limit of 64 + (mode >> 1) * 8 bytes
//              (so over-long lines are exercised), each parsed alone
//   else       one JSON document (a Bundle file), read whole
// Properties checked (trap on violation): no read outside buffers (ASan),
// no UB (UBSan), no leak; lines never exceed the limit and an over-long
// line is reported empty; the lines' bytes plus their line ends are the
// input; whatever parses serialises to text that parses to the same
// serialisation (compact, pretty and canonical), append_json_text agrees
// with to_json, and every string in a parsed document is valid UTF-8.

#include <cstddef>
#include <cstdint>
#include <string>

#include "byte_source.h"
#include "ehr/json.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_strings(const ehr::Json& j) {
  using K = ehr::Json::Kind;
  switch (j.kind()) {
    case K::kString: check(ehr::is_valid_utf8(j.text())); break;
    case K::kArray:
      for (const auto& v : j.items()) check_strings(v);
      break;
    case K::kObject:
      for (const auto& m : j.members()) {
        check(ehr::is_valid_utf8(m.first));
        check_strings(m.second);
      }
      break;
    default: break;
  }
}

void check_document(std::string_view text) {
  auto doc = ehr::parse_json(text);
  if (!doc.ok()) {
    std::string out = "kept";
    check(!ehr::append_json_text(out, text, ehr::JsonLayout::kCompact));
    check(out == "kept");
    return;
  }
  check_strings(*doc);
  std::string compact = ehr::to_json(*doc);
  auto again = ehr::parse_json(compact);
  check(again.ok());
  check(ehr::to_json(*again) == compact);
  auto pretty = ehr::parse_json(ehr::to_json_pretty(*doc));
  check(pretty.ok() && ehr::to_json(*pretty) == compact);
  std::string canonical = ehr::to_json_canonical(*doc);
  auto canon = ehr::parse_json(canonical);
  check(canon.ok() && ehr::to_json_canonical(*canon) == canonical);
  std::string appended;
  check(ehr::append_json_text(appended, text, ehr::JsonLayout::kCompact));
  check(appended == compact);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  unsigned mode = data[0];
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto src = ehr::detail::ByteSource::from_string(body, "fuzz");
  if ((mode & 1) == 0) {
    std::string text;
    auto all = src->read_all(text, 1 << 20);
    check(all.ok() && *all && text == body);
    check_document(text);
    return 0;
  }
  size_t max = 64 + (mode >> 1) * 8;
  std::string line;
  size_t seen = 0;
  for (;;) {
    bool too_long = false;
    auto got = src->next_line(line, max, too_long);
    check(got.ok());
    if (!*got) break;
    check(line.size() <= max);
    if (too_long) {
      check(line.empty());
      size_t end = body.find('\n', seen);
      seen = end == std::string::npos ? body.size() : end + 1;
      continue;
    }
    // The line is the input's next bytes (less a CR before the LF).
    check(body.compare(seen, line.size(), line) == 0);
    seen += line.size();
    if (seen < body.size() && body[seen] == '\r') ++seen;
    if (seen < body.size()) {
      check(body[seen] == '\n');
      ++seen;
    }
    check_document(line);
  }
  check(seen == body.size());
  check(src->consumed() == body.size());
  return 0;
}
