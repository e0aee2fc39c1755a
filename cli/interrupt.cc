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
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

bool InterruptGuard::interrupted() { return g_interrupted.load(); }

}  // namespace ehr::cli
