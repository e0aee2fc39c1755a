// A streaming RFC 4180 CSV reader (csv_reader.h).

#include "csv_reader.h"

#include <fmt/format.h>

namespace ehr::detail {

CsvReader::CsvReader(ByteSource& source, char delimiter, size_t max_record_bytes)
    : src_(source), delim_(delimiter), max_(max_record_bytes) {}

Result<bool> CsvReader::next(CsvRecord& rec) {
  if (!started_) {
    started_ = true;
    auto head = src_.peek(3);
    if (!head.ok()) return head.error();
    if (*head == "\xEF\xBB\xBF")
      for (int i = 0; i < 3; ++i) (void)src_.next_byte();
  }
  int pushed = -1;  // one byte of look-ahead
  auto get = [&]() {
    if (pushed >= 0) {
      int c = pushed;
      pushed = -1;
      return c;
    }
    return src_.next_byte();
  };
  for (;;) {
    rec.fields.clear();
    rec.problem.clear();
    rec.line = line_;
    std::string field;
    size_t total = 0;
    bool over = false;
    bool quoted = false;       // inside a quoted field
    bool closed = false;       // after the closing quote of a quoted field
    bool field_begun = false;  // the current field has a character or quote
    std::int64_t quote_line = 0;
    bool any = false;
    bool blank = true;  // nothing but the line end so far
    auto keep = [&](char c) {
      if (over) return;
      if (++total > max_) {
        over = true;
        field.clear();
        rec.fields.clear();
        return;
      }
      field += c;
    };
    auto end_field = [&]() {
      if (!over) rec.fields.push_back(std::move(field));
      field.clear();
      quoted = closed = field_begun = false;
    };
    for (;;) {
      int c = get();
      if (c < 0) {
        if (!src_.error().ok()) return src_.error().error();
        if (quoted)
          return Error::invalid_data(fmt::format(
              "line {}: unbalanced quote: the quoted field opened on this line is never closed",
              quote_line));
        if (!any) return false;
        end_field();
        rec.end_line = line_;
        break;
      }
      any = true;
      if (c != '\n' && c != '\r') blank = false;
      if (quoted) {
        if (c == '"') {
          int d = get();
          if (d == '"') {
            keep('"');
            continue;
          }
          pushed = d;
          quoted = false;
          closed = true;
          continue;
        }
        if (c == '\n') ++line_;
        keep(static_cast<char>(c));
        continue;
      }
      if (c == '\r') {
        int d = get();
        if (d == '\n') {
          c = '\n';
        } else {
          pushed = d;
        }
      }
      if (c == '\n') {
        rec.end_line = line_;
        ++line_;
        end_field();
        break;
      }
      if (c == delim_) {
        end_field();
        continue;
      }
      if (closed)
        return Error::invalid_data(fmt::format(
            "line {}: unexpected character after the closing quote of field {} (a quote inside "
            "a quoted field must be doubled)",
            line_, rec.fields.size() + 1));
      if (c == '"' && !field_begun) {
        quoted = true;
        field_begun = true;
        quote_line = line_;
        continue;
      }
      field_begun = true;
      keep(static_cast<char>(c));
    }
    if (over) {
      rec.fields.clear();
      rec.problem = fmt::format("record larger than the limit of {} bytes", max_);
      return true;
    }
    // A blank line is no record.
    if (blank) continue;
    return true;
  }
}

}  // namespace ehr::detail
