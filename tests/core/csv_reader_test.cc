// The streaming CSV reader (core/src/csv_reader.cc): RFC 4180 quoting,
// embedded newlines, BOM, CRLF, delimiters, and its per-record and final
// errors.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "byte_source.h"
#include "csv_reader.h"

namespace {

using ehr::detail::ByteSource;
using ehr::detail::CsvReader;
using ehr::detail::CsvRecord;

struct Read {
  std::vector<CsvRecord> records;
  std::string error;  // the final error, "" when none
};

Read read_all(std::string text, char delim = ',', size_t max = 1 << 20) {
  auto src = ByteSource::from_string(std::move(text), "t.csv");
  CsvReader reader(*src, delim, max);
  Read out;
  for (;;) {
    CsvRecord rec;
    auto got = reader.next(rec);
    if (!got.ok()) {
      out.error = got.error().message();
      break;
    }
    if (!*got) break;
    out.records.push_back(std::move(rec));
  }
  return out;
}

using Fields = std::vector<std::string>;

}  // namespace

TEST_SUITE("csv_reader") {

TEST_CASE("plain, quoted, doubled quotes, embedded delimiter and newline") {
  auto r = read_all("a,b,c\n1,\"x,y\",\"say \"\"hi\"\"\"\n2,\"two\nlines\",\n");
  REQUIRE(r.error.empty());
  REQUIRE(r.records.size() == 3);
  CHECK(r.records[0].fields == Fields{"a", "b", "c"});
  CHECK(r.records[1].fields == Fields{"1", "x,y", "say \"hi\""});
  CHECK(r.records[2].fields == Fields{"2", "two\nlines", ""});
  CHECK(r.records[2].line == 3);
  CHECK(r.records[2].end_line == 4);
}

TEST_CASE("a BOM, CRLF line ends, blank lines, and a last line without a line end") {
  auto r = read_all("\xEF\xBB\xBFId,NAME\r\n\r\n1,Ann\r\n2,\"Bo\r\nb\"\r\n3,Cy");
  REQUIRE(r.error.empty());
  REQUIRE(r.records.size() == 4);
  CHECK(r.records[0].fields == Fields{"Id", "NAME"});
  CHECK(r.records[1].fields == Fields{"1", "Ann"});
  CHECK(r.records[1].line == 3);
  CHECK(r.records[2].fields == Fields{"2", "Bo\r\nb"});
  CHECK(r.records[3].fields == Fields{"3", "Cy"});
}

TEST_CASE("other delimiters: semicolon and tab") {
  auto semi = read_all("a;b\n\"1;2\";3\n", ';');
  REQUIRE(semi.records.size() == 2);
  CHECK(semi.records[1].fields == Fields{"1;2", "3"});
  auto tab = read_all("a\tb\nx,y\tz\n", '\t');
  REQUIRE(tab.records.size() == 2);
  CHECK(tab.records[1].fields == Fields{"x,y", "z"});
}

TEST_CASE("a bare quote inside an unquoted field is kept (Synthea free text)") {
  auto r = read_all("a,b\n5'10\" tall,x\n");
  REQUIRE(r.error.empty());
  REQUIRE(r.records.size() == 2);
  CHECK(r.records[1].fields == Fields{"5'10\" tall", "x"});
}

TEST_CASE("an unbalanced quote is a final error naming the line it opened on") {
  auto r = read_all("a,b\n1,\"open\n2,3\n");
  REQUIRE(r.records.size() == 1);
  CHECK(r.error == "line 2: unbalanced quote: the quoted field opened on this line is never closed");
}

TEST_CASE("text after a closing quote is a final error") {
  auto r = read_all("a,b\n\"x\"y,1\n");
  REQUIRE(r.records.size() == 1);
  CHECK(r.error ==
        "line 2: unexpected character after the closing quote of field 1 (a quote inside a quoted "
        "field must be doubled)");
}

TEST_CASE("an oversized record is that record's problem; reading goes on") {
  auto big = read_all("a\n" + std::string(100, 'x') + "\nshort\n", ',', 64);
  REQUIRE(big.error.empty());
  REQUIRE(big.records.size() == 3);
  CHECK(big.records[1].problem == "record larger than the limit of 64 bytes");
  CHECK(big.records[1].line == 2);
  CHECK(big.records[2].fields == Fields{"short"});
  CHECK(big.records[2].line == 3);
}

}
