// SIGINT and SIGTERM while a long command runs (export, db rotate-key):
// noted rather than fatal, so the command can stop cleanly and remove what
// it was writing, then exit 130.

#ifndef EHR_CLI_SIGNAL_GUARD_H_
#define EHR_CLI_SIGNAL_GUARD_H_

namespace ehr::cli {

// While one exists, SIGINT and SIGTERM only set the flag interrupted()
// reads; the handlers before it are put back when it goes away. One at a
// time.
class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

// Whether SIGINT or SIGTERM came since the current SignalGuard was made.
// Safe to call from any thread.
bool interrupted();

}  // namespace ehr::cli

#endif  // EHR_CLI_SIGNAL_GUARD_H_
