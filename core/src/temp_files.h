// Temporary siblings of an output file that a later run can tell apart:
// one still in use (its writer holds an flock on it) from one a killed run
// left behind (nobody holds it), so the stale ones can be removed.
//
// A temporary is named `prefix` followed by eight lower-case hex digits; the
// writer creates it with O_EXCL and holds an exclusive flock(2) on it until
// the file is renamed into place or removed. flock is independent of the
// POSIX record locks SQLite takes, and the kernel drops it when the process
// dies, however it dies.

#ifndef EHR_CORE_TEMP_FILES_H_
#define EHR_CORE_TEMP_FILES_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "ehr/status.h"

namespace ehr::detail {

// An open, exclusively flocked temporary file; closing it (destruction)
// releases the lock but leaves the file where it is.
class LockedTemp {
 public:
  LockedTemp() = default;
  LockedTemp(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  LockedTemp(LockedTemp&& other) noexcept;
  LockedTemp& operator=(LockedTemp&& other) noexcept;
  ~LockedTemp();

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  // Closes the descriptor (and so drops the lock) now.
  void close();
  // Hands the descriptor (and the lock) to the caller, who closes it.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Creates a new empty file `prefix` + 8 random hex digits with permission
// bits `mode` (the umask does not change them), open for reading and
// writing, and flocked. `target` names the file it stands for in errors.
// Errors: kCantCreate "cannot create TARGET: WHY".
Result<LockedTemp> create_locked_temp(const std::string& prefix, const std::string& target,
                                      unsigned mode);

// Removes every regular file named `prefix` + 8 hex digits that no process
// holds flocked, together with the same name followed by each of
// `side_suffixes` (removed first). Returns the names of the temporaries
// removed. Errors are ignored: a temporary that cannot be removed stays.
std::vector<std::string> remove_stale_temps(const std::string& prefix,
                                            std::initializer_list<const char*> side_suffixes = {});

}  // namespace ehr::detail

#endif  // EHR_CORE_TEMP_FILES_H_
