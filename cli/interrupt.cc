// SIGINT and SIGTERM as a flag for long commands (interrupt.h).
#include "interrupt.h"

#include <atomic>
#include <csignal>

namespace ehr::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt_signal(int) { g_interrupted.store(true); }

}  // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted.store(false);
  old_int_ = std::signal(SIGINT, on_interrupt_signal);
  old_term_ = std::signal(SIGTERM, on_interrupt_signal);
  // A dropped ssh session's hang-up ends the run the same way, its
  // temporaries (plaintext exports) removed (QA finding ops 05); under
  // nohup, which ignores it, it stays ignored.
  old_hup_ = std::signal(SIGHUP, on_interrupt_signal);
  if (old_hup_ == SIG_IGN) std::signal(SIGHUP, SIG_IGN);
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
  std::signal(SIGHUP, old_hup_);
}

bool InterruptGuard::interrupted() { return g_interrupted.load(); }

}  // namespace ehr::cli
