// Formatting instants (instant.h).

#include "instant.h"

#include <chrono>

#include <fmt/format.h>

namespace ehr::detail {

std::string format_instant(std::int64_t ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds{ms}};
  const sys_days day = floor<days>(t);
  const year_month_day date{day};
  const hh_mm_ss<milliseconds> time{t - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     time.hours().count(), time.minutes().count(), time.seconds().count(),
                     time.subseconds().count());
}

std::int64_t instant_ms(int year, unsigned month, int day, int hour, int minute, int second, int ms) {
  using namespace std::chrono;
  const sys_days first = std::chrono::year{year} / std::chrono::month{month} / 1;
  const sys_time<milliseconds> t = first + days{day - 1} + hours{hour} + minutes{minute} + seconds{second} +
                                   milliseconds{ms};
  return t.time_since_epoch().count();
}

}  // namespace ehr::detail
