// Tests of the stored form of instants (core/src/instant.h): known answers,
// agreement with the C library's gmtime_r and timegm over four centuries,
// and the parse of instants with offsets.
#include <doctest/doctest.h>

#include <cstdint>
#include <ctime>
#include <random>
#include <string>

#include <fmt/format.h>

#include "instant.h"

namespace ehr::detail {
namespace {

TEST_SUITE("instant") {

TEST_CASE("format_instant: known answers, before and after the epoch") {
  CHECK(format_instant(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_instant(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_instant(1709251199999) == "2024-02-29T23:59:59.999Z");
  CHECK(format_instant(1796599800000) == "2026-12-06T23:30:00.000Z");
  CHECK(format_instant(-2203891200000) == "1900-03-01T00:00:00.000Z");
  CHECK(format_instant(4133937600500) == "2100-12-31T12:00:00.500Z");
}

TEST_CASE("instant_ms: known answers, and a day past the month's end carries") {
  CHECK(instant_ms(1970, 1, 1, 0, 0, 0, 0) == 0);
  CHECK(instant_ms(2024, 2, 29, 23, 59, 59, 999) == 1709251199999);
  CHECK(instant_ms(1900, 3, 1, 0, 0, 0, 0) == -2203891200000);
  CHECK(instant_ms(2026, 2, 31, 0, 0, 0, 0) == instant_ms(2026, 3, 3, 0, 0, 0, 0));
  CHECK(instant_ms(2026, 12, 31, 23, 59, 60, 0) == instant_ms(2027, 1, 1, 0, 0, 0, 0));
}

TEST_CASE("format_instant and instant_ms agree with gmtime_r and timegm from 1800 to 2200") {
  std::mt19937_64 rng(20261207);
  std::uniform_int_distribution<std::int64_t> secs(-5364662400, 7258118399);  // 1800-01-01 .. 2199-12-31
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t s = secs(rng);
    const int ms = static_cast<int>(rng() % 1000);
    std::time_t t = static_cast<std::time_t>(s);
    std::tm tm{};
    REQUIRE(gmtime_r(&t, &tm) != nullptr);
    const std::string expected = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    CAPTURE(s);
    CHECK(format_instant(s * 1000 + ms) == expected);
    CHECK(instant_ms(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1), tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ms) == s * 1000 + ms);
  }
}

TEST_CASE("days_in_month: the Gregorian leap years, and every month against timegm") {
  CHECK(days_in_month(2024, 2) == 29);
  CHECK(days_in_month(2023, 2) == 28);
  CHECK(days_in_month(1900, 2) == 28);
  CHECK(days_in_month(2000, 2) == 29);
  CHECK(days_in_month(2023, 4) == 30);
  CHECK(days_in_month(2023, 12) == 31);
  CHECK_FALSE(is_leap_year(2100));
  static_assert(days_in_month(1600, 2) == 29);
  // The month's length is the distance to the next month's first day.
  for (int year : {1899, 1900, 1904, 1999, 2000, 2023, 2024, 2100}) {
    for (int month = 1; month <= 12; ++month) {
      std::int64_t first = instant_ms(year, static_cast<unsigned>(month), 1, 0, 0, 0, 0);
      std::int64_t next = month == 12 ? instant_ms(year + 1, 1, 1, 0, 0, 0, 0)
                                      : instant_ms(year, static_cast<unsigned>(month + 1), 1, 0, 0, 0, 0);
      CHECK_MESSAGE((next - first) / 86'400'000 == days_in_month(year, month), year, "-", month);
    }
  }
}

TEST_CASE("normalised_instant: offsets, fractions and what is not an instant") {
  CHECK(normalised_instant("2026-12-07T01:30:00+02:00") == "2026-12-06T23:30:00.000Z");
  CHECK(normalised_instant("2026-12-06T23:30:00-01:15") == "2026-12-07T00:45:00.000Z");
  // Finer than milliseconds rounds up (a bound selects exactly the stored
  // millisecond times at or after it), carrying into the next day.
  CHECK(normalised_instant("2024-02-29T23:59:59.9999Z") == "2024-03-01T00:00:00.000Z");
  CHECK(normalised_instant("2026-12-07T18:02:10.5421Z") == "2026-12-07T18:02:10.543Z");
  CHECK(normalised_instant("2026-12-07T18:02:10.5420000Z") == "2026-12-07T18:02:10.542Z");
  CHECK(normalised_instant("2024-02-29T23:59:59.5Z") == "2024-02-29T23:59:59.500Z");
  CHECK(normalised_instant("2023-02-29T00:00:00Z") == "");
  CHECK(normalised_instant("2026-12-06T24:00:00Z") == "");
  CHECK(normalised_instant("2026-12-06T23:30:00") == "");
  CHECK(normalised_instant("2026-12-06T23:30:00+2:00") == "");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr::detail
