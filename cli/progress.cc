// Progress bar and log lines (progress.h).
#include "progress.h"

#include <algorithm>
#include <ostream>

#include <fmt/format.h>

namespace ehr::cli {

ProgressMode choose_progress_mode(bool quiet, bool stderr_is_tty) {
  if (quiet) return ProgressMode::kSilent;
  return stderr_is_tty ? ProgressMode::kBar : ProgressMode::kLines;
}

std::string group_digits(std::int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  if (n < 0) {
    out += '-';
    digits.erase(0, 1);
  }
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

ProgressReporter::ProgressReporter(std::ostream& err, ProgressMode mode, std::string label,
                                   std::string unit, std::function<double()> clock,
                                   double line_interval)
    : err_(err), mode_(mode), label_(std::move(label)), unit_(std::move(unit)),
      clock_(std::move(clock)), line_interval_(line_interval), start_(clock_()) {}

std::string ProgressReporter::rate_text(const ProgressUpdate& u, double now) const {
  double elapsed = now - start_;
  if (elapsed <= 0) return "";
  return fmt::format("{}/s", group_digits(static_cast<std::int64_t>(static_cast<double>(u.items) / elapsed)));
}

void ProgressReporter::update(const ProgressUpdate& u) {
  if (mode_ == ProgressMode::kSilent || finished_) return;
  double now = clock_();
  if (mode_ == ProgressMode::kBar) {
    if (now - last_draw_ < 0.1) return;
    last_draw_ = now;
    std::string line = label_;
    if (u.total_bytes > 0) {
      double frac = std::min(1.0, static_cast<double>(u.bytes) / static_cast<double>(u.total_bytes));
      int filled = static_cast<int>(frac * 20);
      line += fmt::format("  [{}{}] {:3d}%", std::string(static_cast<size_t>(filled), '#'),
                          std::string(static_cast<size_t>(20 - filled), '-'),
                          static_cast<int>(frac * 100));
      line += fmt::format("  {:.1f} of {:.1f} MB", static_cast<double>(u.bytes) / 1e6,
                          static_cast<double>(u.total_bytes) / 1e6);
    }
    line += fmt::format("  {} {}", group_digits(u.items), unit_);
    std::string rate = rate_text(u, now);
    if (!rate.empty()) line += "  " + rate;
    err_ << "\r\x1b[K" << line << std::flush;
    drawn_ = true;
  } else {
    if (now - last_draw_ < line_interval_) return;
    if (last_draw_ < -1e8) {  // the first call only starts the interval
      last_draw_ = now;
      return;
    }
    last_draw_ = now;
    std::string line = fmt::format("ehr: {}: {} {}", label_, group_digits(u.items), unit_);
    if (u.total_bytes > 0)
      line += fmt::format(", {}%", static_cast<int>(100.0 * static_cast<double>(u.bytes) /
                                                     static_cast<double>(u.total_bytes)));
    std::string rate = rate_text(u, now);
    if (!rate.empty()) line += ", " + rate;
    err_ << line << '\n' << std::flush;
  }
}

void ProgressReporter::finish(const ProgressUpdate& u) {
  if (mode_ == ProgressMode::kSilent || finished_) return;
  finished_ = true;
  if (mode_ == ProgressMode::kBar) {
    if (drawn_) err_ << "\r\x1b[K" << std::flush;
    return;
  }
  double now = clock_();
  // "1 record", not "1 records".
  std::string unit = u.items == 1 && unit_.size() > 1 && unit_.back() == 's' ? unit_.substr(0, unit_.size() - 1)
                                                                              : unit_;
  std::string line = fmt::format("ehr: {}: done, {} {} in {:.1f} s", label_, group_digits(u.items), unit,
                                 now - start_);
  err_ << line << '\n' << std::flush;
}

}  // namespace ehr::cli
