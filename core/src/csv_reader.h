// A streaming RFC 4180 CSV reader: quoted fields with doubled quotes and
// embedded delimiters and newlines, LF or CRLF line ends, a UTF-8 byte order
// mark at the start, any one-byte delimiter. Lenient where real exports are
// (Synthea, spreadsheets): a quote inside an unquoted field is kept as a
// character, and a last line without a line end is a record.
//
// Errors are per record where the rest of the file can still be read (a
// record over the size limit, invalid UTF-8) and final where it cannot (a
// quoted field still open at the end of the input, text after a closing
// quote), so an importer can reject one row and go on, or stop.
//
// Thread safety: one reader per thread.

#ifndef EHR_CORE_CSV_READER_H_
#define EHR_CORE_CSV_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "byte_source.h"
#include "ehr/status.h"

namespace ehr::detail {

struct CsvRecord {
  std::vector<std::string> fields;
  std::int64_t line = 0;      // the line the record starts on (1-based)
  std::int64_t end_line = 0;  // the line it ends on (> line with embedded newlines)
  // Set when the record is unusable but the reader could go on past it
  // ("record larger than 64 MiB", "invalid UTF-8 in field 3"); fields is
  // then empty.
  std::string problem;
};

class CsvReader {
 public:
  // REQUIRES: `source` outlives the reader; delimiter is not '"', '\r' or '\n'.
  CsvReader(ByteSource& source, char delimiter, size_t max_record_bytes);

  // Reads the next record into `rec`; returns false at the end of the input.
  // Blank lines are skipped. Errors: kInvalidData "line L: <what>" for input
  // that cannot be read on from (an unterminated quoted field, characters
  // after a closing quote); kIoError.
  Result<bool> next(CsvRecord& rec);

 private:
  ByteSource& src_;
  char delim_;
  size_t max_;
  std::int64_t line_ = 1;  // the line the next byte is on
  bool started_ = false;
};

}  // namespace ehr::detail

#endif  // EHR_CORE_CSV_READER_H_
