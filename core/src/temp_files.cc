// Flocked temporary files and the removal of stale ones (temp_files.h).
#include "temp_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <random>
#include <string_view>

#include <fmt/format.h>

namespace ehr::detail {

LockedTemp::LockedTemp(LockedTemp&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

LockedTemp& LockedTemp::operator=(LockedTemp&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

LockedTemp::~LockedTemp() { close(); }

void LockedTemp::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

bool same_file(int fd, const std::string& path) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::lstat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

bool is_temp_suffix(const char* s) {
  for (int i = 0; i < 8; ++i) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return s[8] == '\0';
}

}  // namespace

Result<LockedTemp> create_locked_temp(const std::string& prefix, const std::string& target,
                                      unsigned mode) {
  std::random_device rd;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string tmp = fmt::format("{}{:08x}", prefix, static_cast<std::uint32_t>(rd()));
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return Error::cant_create(fmt::format("cannot create {}: {}", target, strerror(errno)));
    }
    LockedTemp t(tmp, fd);
    int rc;
    do rc = ::flock(fd, LOCK_EX);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return Error::cant_create(fmt::format("cannot create {}: lock: {}", target, strerror(e)));
    }
    // Between the create and the lock, a run cleaning up may have taken
    // the unlocked file for a stale one and removed it: then try another.
    if (!same_file(fd, tmp)) continue;
    ::fchmod(fd, mode);  // the umask must not widen or narrow what was asked
    return t;
  }
  return Error::cant_create(fmt::format("cannot create {}: no free temporary name", target));
}

std::vector<std::string> remove_stale_temps(const std::string& prefix,
                                            std::initializer_list<const char*> side_suffixes) {
  std::vector<std::string> removed;
  auto slash = prefix.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : prefix.substr(0, slash);
  std::string lead = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
  std::string path_lead = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return removed;
  std::vector<std::string> candidates;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.size() != lead.size() + 8 || name.substr(0, lead.size()) != lead) continue;
    if (!is_temp_suffix(e->d_name + lead.size())) continue;
    candidates.push_back(path_lead + std::string(name));
  }
  ::closedir(d);
  for (const std::string& tmp : candidates) {
    int fd = ::open(tmp.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    bool stale = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
                 same_file(fd, tmp);
    if (stale) {
      for (const char* side : side_suffixes) ::unlink((tmp + side).c_str());
      if (::unlink(tmp.c_str()) == 0) removed.push_back(tmp);
    }
    ::close(fd);
  }
  return removed;
}

}  // namespace ehr::detail
