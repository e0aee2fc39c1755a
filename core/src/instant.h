// Instants as ehr stores them (meta.lastUpdated, audit times): UTC with
// milliseconds, "YYYY-MM-DDThh:mm:ss.mmmZ", so that they compare as text.

#ifndef EHR_CORE_INSTANT_H_
#define EHR_CORE_INSTANT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "ehr/status.h"

namespace ehr::detail {

// Whether `year` is a Gregorian leap year.
constexpr bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

// The number of days of `month` in `year`.
// REQUIRES: 1 <= month <= 12
constexpr int days_in_month(int year, int month) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// The stored form of the instant `ms` milliseconds after
// 1970-01-01T00:00:00.000Z. Computed from the calendar alone: the C
// library's gmtime_r reads the time-zone file on first use (seven system
// calls in every process that stamps a time).
std::string format_instant(std::int64_t ms);

// Milliseconds after 1970-01-01T00:00:00.000Z of the UTC time given, like
// timegm (without its time-zone file); a day past the month's end carries
// into the next month.
// REQUIRES: 1 <= month <= 12
std::int64_t instant_ms(int year, unsigned month, int day, int hour, int minute, int second, int ms);

// An instant YYYY-MM-DDThh:mm:ss[.fff...](Z|+hh:mm|-hh:mm) in the stored
// form (UTC, milliseconds; finer digits round up to the next millisecond,
// so that as a bound it selects exactly the stored times at or after it),
// or "" when `s` is not one.
std::string normalised_instant(std::string_view s);

// The stored form of the millisecond after instant `stored`; "" when it is
// not an instant.
std::string instant_after(std::string_view stored);

// A --since/--until value as a bound on stored times: a date prefix as
// given (times compare as text, so "2026-11" bounds all of November), an
// instant in the stored form; "" stays "" (no bound). Errors:
// kInvalidArgument "OPTION VALUE: not a date or instant (...)".
Result<std::string> time_bound(const char* option, const std::string& value);

}  // namespace ehr::detail

#endif  // EHR_CORE_INSTANT_H_
