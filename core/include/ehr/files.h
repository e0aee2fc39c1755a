// Writing output files so that a failure never leaves a partial file.

#ifndef EHR_FILES_H_
#define EHR_FILES_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/status.h"

namespace ehr {

// Creates `path` holding exactly `content`, with permission bits `mode`
// (default 0600), never replacing an existing file. The bytes go to a
// temporary sibling first, are fsynced, then linked into place atomically and
// the directory fsynced; on any failure nothing is left behind. Stale
// temporaries of `path` are removed first, as AtomicFile::create does.
// Errors: kAlreadyExists (path exists), kCantCreate (directory missing or not
// writable), kIoError (write or sync failed).
Status write_new_file(const std::string& path, std::string_view content, unsigned mode = 0600);

// Appends `line` and a newline to `path` (created with `mode` when absent)
// under an exclusive lock, then fsyncs it: a line is whole or absent, and
// take_lines never sees half of one. Errors: kCantCreate, kIoError.
Status append_line(const std::string& path, std::string_view line, unsigned mode = 0600);

// The lines of `path` ("" lines dropped), read under the same lock, after
// which `consume` runs; when it succeeds the file is emptied (still under
// the lock), when it fails the lines stay for the next call. A missing file
// has no lines (consume is not called). Errors: kIoError; consume's error.
Status take_lines(const std::string& path,
                  const std::function<Status(const std::vector<std::string>&)>& consume);

// Whether `path` names an existing file system object (any type).
bool path_exists(const std::string& path);

// An output file written as a stream that appears whole or not at all: the
// bytes go to a temporary sibling "PATH.tmp-XXXXXXXX" (mode `mode`), and
// commit() fsyncs it and renames it over `path` (replacing a file there),
// then fsyncs the directory. Destroyed without commit(), the temporary file
// is removed. The writer holds an flock on its temporary, so create()
// removes the temporaries of `path` that a killed run left (nobody holds
// them) and never one a running writer is using.
class AtomicFile {
 public:
  // Errors: kCantCreate (directory missing or not writable, or `path` is a
  // directory), before anything is written.
  static Result<AtomicFile> create(const std::string& path, unsigned mode = 0600);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  // Appends `data` (buffered). Errors: kIoError.
  Status write(std::string_view data);
  // Errors: kIoError, kCantCreate.
  Status commit();
  const std::string& path() const { return path_; }
  // The stale temporaries of `path` that create() removed.
  const std::vector<std::string>& removed_stale() const { return removed_stale_; }

 private:
  AtomicFile(std::string path, std::string tmp, int fd) : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  Status flush();
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  std::string buffer_;
  std::vector<std::string> removed_stale_;
};

}  // namespace ehr

#endif  // EHR_FILES_H_
