// Exclusive, atomic creation of small output files (ehr/files.h).
#include "ehr/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "temp_files.h"

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
  detail::remove_stale_temps(path + ".tmp-");
  auto locked = detail::create_locked_temp(path + ".tmp-", path, mode);
  if (!locked.ok()) return locked.error();
  std::string tmp = locked->path();
  int fd = locked->release();
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

namespace {

// Holds an exclusive flock on an open fd; closes it on destruction.
class LockedFile {
 public:
  explicit LockedFile(int fd) : fd_(fd) {}
  ~LockedFile() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

int lock_fd(int fd) {
  int rc;
  do rc = ::flock(fd, LOCK_EX);
  while (rc != 0 && errno == EINTR);
  return rc;
}

}  // namespace

Status append_line(const std::string& path, std::string_view line, unsigned mode) {
  int raw = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
  if (raw < 0) return Error::cant_create(fmt::format("cannot open {}: {}", path, strerror(errno)));
  LockedFile f(raw);
  auto fail = [&](const char* what) {
    return Error::io_error(fmt::format("cannot append to {}: {}: {}", path, what, strerror(errno)));
  };
  if (lock_fd(f.fd()) != 0) return fail("lock");
  std::string text(line);
  text += '\n';
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(f.fd(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(f.fd()) != 0) return fail("fsync");
  return {};
}

Status take_lines(const std::string& path,
                  const std::function<Status(const std::vector<std::string>&)>& consume) {
  int raw = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (raw < 0) {
    if (errno == ENOENT) return {};
    return Error::io_error(fmt::format("cannot open {}: {}", path, strerror(errno)));
  }
  LockedFile f(raw);
  auto fail = [&](const char* what) {
    return Error::io_error(fmt::format("cannot read {}: {}: {}", path, what, strerror(errno)));
  };
  if (lock_fd(f.fd()) != 0) return fail("lock");
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::pread(f.fd(), buf, sizeof buf, static_cast<off_t>(text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("read");
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty()) return {};
  EHR_TRY(consume(lines));
  if (::ftruncate(f.fd(), 0) != 0 || ::fsync(f.fd()) != 0) return fail("truncate");
  return {};
}

// --- AtomicFile -----------------------------------------------------------------

Result<AtomicFile> AtomicFile::create(const std::string& path, unsigned mode) {
  // commit() could not rename over a directory: say so now, before the
  // caller does the work whose result the file is for.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Error::cant_create(fmt::format("cannot create {}: {}", path, strerror(EISDIR)));
  // A run killed before its commit() (SIGKILL, a crash) left its temporary:
  // remove it now, but never one a running writer holds (temp_files.h).
  std::vector<std::string> stale = detail::remove_stale_temps(path + ".tmp-");
  auto locked = detail::create_locked_temp(path + ".tmp-", path, mode);
  if (!locked.ok()) return locked.error();
  std::string tmp = locked->path();
  AtomicFile f(path, std::move(tmp), locked->release());
  f.removed_stale_ = std::move(stale);
  return f;
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)), tmp_(std::move(other.tmp_)), fd_(other.fd_),
      buffer_(std::move(other.buffer_)), removed_stale_(std::move(other.removed_stale_)) {
  other.fd_ = -1;
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

Status AtomicFile::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::io_error(fmt::format("cannot write {}: {}", path_, strerror(errno)));
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  return {};
}

Status AtomicFile::write(std::string_view data) {
  if (fd_ < 0) return Error::io_error(fmt::format("cannot write {}: already closed", path_));
  buffer_.append(data);
  if (buffer_.size() >= (1 << 16)) return flush();
  return {};
}

Status AtomicFile::commit() {
  if (fd_ < 0) return Error::io_error(fmt::format("cannot write {}: already closed", path_));
  EHR_TRY(flush());
  if (::fsync(fd_) != 0) return Error::io_error(fmt::format("cannot write {}: fsync: {}", path_, strerror(errno)));
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(tmp_.c_str());
    return Error::io_error(fmt::format("cannot write {}: close: {}", path_, strerror(errno)));
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    return Error::cant_create(fmt::format("cannot create {}: {}", path_, strerror(e)));
  }
  return sync_dir(dir_of(path_));
}

}  // namespace ehr
