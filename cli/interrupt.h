// Stopping long commands cleanly on SIGINT, SIGTERM and SIGHUP (export, import,
// db backup): while an InterruptGuard lives, the signals only set a flag
// that the core operation polls through its `cancelled` callback; the
// operation then rolls back, removes its temporaries and returns
// kInterrupted, which exits 130.

#ifndef EHR_CLI_INTERRUPT_H_
#define EHR_CLI_INTERRUPT_H_

#include <functional>

namespace ehr::cli {

class InterruptGuard {
 public:
  // Clears the flag and installs the handlers; the destructor puts the
  // previous handlers back. One guard at a time.
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // Whether SIGINT, SIGTERM or SIGHUP arrived since the guard was made.
  static bool interrupted();
  // interrupted(), as the `cancelled` option of a core operation.
  static std::function<bool()> cancelled() { return [] { return interrupted(); }; }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
  void (*old_hup_)(int);
};

}  // namespace ehr::cli

#endif  // EHR_CLI_INTERRUPT_H_
