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
// the directory fsynced; on any failure nothing is left behind.
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

}  // namespace ehr

#endif  // EHR_FILES_H_
