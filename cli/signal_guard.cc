// SignalGuard: SIGINT and SIGTERM set a flag (signal_guard.h).
#include "signal_guard.h"

#include <atomic>
#include <csignal>

namespace ehr::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted.store(true); }

}  // namespace

SignalGuard::SignalGuard() {
  g_interrupted.store(false);
  old_int_ = std::signal(SIGINT, on_signal);
  old_term_ = std::signal(SIGTERM, on_signal);
}

SignalGuard::~SignalGuard() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

bool interrupted() { return g_interrupted.load(); }

}  // namespace ehr::cli
