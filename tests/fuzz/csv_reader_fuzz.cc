// libFuzzer harness for ehr import's CSV reader (core/src/csv_reader.cc)
// over the byte source (core/src/byte_source.cc).
//
// Input: byte 0 picks the delimiter (, ; tab |) and a record size limit of
// 16 + (byte >> 2) * 4 bytes; the rest is the file.
// Properties checked (trap on violation): no read outside buffers (ASan),
// no UB (UBSan), no leak, and the reader ends (every call consumes input or
// reports the end); a record's lines are in order and never go back; a
// record with a problem has no fields; a record within the limit never
// holds more bytes than the limit; after a final error the reader is not
// called again; the whole input is consumed when the end is reached.

#include <cstddef>
#include <cstdint>
#include <string>

#include "byte_source.h"
#include "csv_reader.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char kDelims[] = {',', ';', '\t', '|'};
  char delim = kDelims[data[0] & 3];
  size_t max = 16 + static_cast<size_t>(data[0] >> 2) * 4;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto src = ehr::detail::ByteSource::from_string(body, "fuzz.csv");
  ehr::detail::CsvReader reader(*src, delim, max);
  std::int64_t last_end = 0;
  for (size_t n = 0;; ++n) {
    check(n <= body.size() + 1);  // each record consumes at least one byte
    ehr::detail::CsvRecord rec;
    auto got = reader.next(rec);
    if (!got.ok()) return 0;  // a final error: the importer stops here
    if (!*got) break;
    check(rec.line > last_end);
    check(rec.end_line >= rec.line);
    last_end = rec.end_line;
    if (!rec.problem.empty()) {
      check(rec.fields.empty());
      continue;
    }
    size_t bytes = 0;
    for (const auto& f : rec.fields) bytes += f.size();
    check(bytes <= max);
    check(!rec.fields.empty());
  }
  check(src->consumed() == body.size());
  return 0;
}
