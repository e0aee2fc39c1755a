// The terminal progress reporter for long work (import, export, db check).
//
// Three modes, chosen by choose_progress_mode():
//  - kBar on a terminal: one line redrawn in place at most 10 times a second
//    ("label  [#####-----]  45%  12,345 records  8,100/s"), cleared at the end;
//  - kLines when stderr is not a terminal (cron, logs): a plain line every
//    `line_interval` seconds and a final summary line;
//  - kSilent with --quiet: nothing.

#ifndef EHR_CLI_PROGRESS_H_
#define EHR_CLI_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "ehr/progress.h"

namespace ehr::cli {

enum class ProgressMode { kBar, kLines, kSilent };

ProgressMode choose_progress_mode(bool quiet, bool stderr_is_tty);

class ProgressReporter final : public ProgressSink {
 public:
  // `clock` returns seconds from any fixed origin (tests pass a fake one).
  ProgressReporter(std::ostream& err, ProgressMode mode, std::string label, std::string unit,
                   std::function<double()> clock, double line_interval = 5.0);

  void update(const ProgressUpdate& u) override;
  void finish(const ProgressUpdate& u) override;

 private:
  std::string rate_text(const ProgressUpdate& u, double now) const;

  std::ostream& err_;
  ProgressMode mode_;
  std::string label_;
  std::string unit_;
  std::function<double()> clock_;
  double line_interval_;
  double start_;
  double last_draw_ = -1e9;
  bool drawn_ = false;
  bool finished_ = false;
};

// A count for people: 12345678 -> "12,345,678", -1234 -> "-1,234".
std::string group_digits(std::int64_t n);

}  // namespace ehr::cli

#endif  // EHR_CLI_PROGRESS_H_
