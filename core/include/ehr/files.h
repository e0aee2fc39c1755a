// Writing output files so that a failure never leaves a partial file.

#ifndef EHR_FILES_H_
#define EHR_FILES_H_

#include <string>
#include <string_view>

#include "ehr/status.h"

namespace ehr {

// Creates `path` holding exactly `content`, with permission bits `mode`
// (default 0600), never replacing an existing file. The bytes go to a
// temporary sibling first, are fsynced, then linked into place atomically and
// the directory fsynced; on any failure nothing is left behind.
// Errors: kAlreadyExists (path exists), kCantCreate (directory missing or not
// writable), kIoError (write or sync failed).
Status write_new_file(const std::string& path, std::string_view content, unsigned mode = 0600);

// Whether `path` names an existing file system object (any type).
bool path_exists(const std::string& path);

}  // namespace ehr

#endif  // EHR_FILES_H_
