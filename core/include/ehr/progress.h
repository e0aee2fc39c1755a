// Progress reporting from long core operations (import, export, check).
//
// Core reports through this interface and never draws anything itself; the
// CLI supplies an implementation that draws a bar on a terminal, writes plain
// lines to a log, or stays silent.

#ifndef EHR_PROGRESS_H_
#define EHR_PROGRESS_H_

#include <cstdint>
#include <string_view>

namespace ehr {

struct ProgressUpdate {
  uint64_t items = 0;        // records, pages or entries done so far
  uint64_t bytes = 0;        // input bytes consumed so far
  uint64_t total_bytes = 0;  // total input bytes, or 0 when unknown
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // Called as work advances, as often as the caller likes; implementations
  // throttle their own output. Must not throw.
  virtual void update(const ProgressUpdate& u) = 0;
  // Called once when the work ends, successfully or not.
  virtual void finish(const ProgressUpdate& u) = 0;
};

// A sink that ignores everything.
class NullProgress final : public ProgressSink {
 public:
  void update(const ProgressUpdate&) override {}
  void finish(const ProgressUpdate&) override {}
};

}  // namespace ehr

#endif  // EHR_PROGRESS_H_
