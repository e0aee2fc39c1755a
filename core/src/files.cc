// Exclusive, atomic creation of small output files (ehr/files.h).
#include "ehr/files.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <fmt/format.h>

namespace ehr {

namespace {

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::io_error(fmt::format("cannot open directory {}: {}", dir, strerror(errno)));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return Error::io_error(fmt::format("cannot sync directory {}: {}", dir, strerror(e)));
  return {};
}

}  // namespace

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status write_new_file(const std::string& path, std::string_view content, unsigned mode) {
  if (path_exists(path)) return Error::already_exists(fmt::format("{} already exists", path));
  std::random_device rd;
  std::string tmp = fmt::format("{}.tmp-{:08x}", path, rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Error::cant_create(fmt::format("cannot create {}: {}", path, strerror(errno)));
  ::fchmod(fd, mode);  // the umask must not widen or narrow what was asked
  auto fail = [&](const std::string& what) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error::io_error(fmt::format("cannot write {}: {}: {}", path, what, strerror(e)));
  };
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error::io_error(fmt::format("cannot write {}: close: {}", path, strerror(e)));
  }
  // link() refuses an existing target, so a file created meanwhile is kept.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    if (e == EEXIST) return Error::already_exists(fmt::format("{} already exists", path));
    return Error::cant_create(fmt::format("cannot create {}: {}", path, strerror(e)));
  }
  ::unlink(tmp.c_str());
  return sync_dir(dir_of(path));
}

}  // namespace ehr
