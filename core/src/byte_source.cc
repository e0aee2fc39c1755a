// Import input as a stream of bytes (byte_source.h).

#include "byte_source.h"

#include <cerrno>
#include <cstring>
#include <istream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace ehr::detail {

namespace {

class FdSource final : public ByteSource {
 public:
  FdSource(std::string name, std::uint64_t size, int fd, bool owned)
      : ByteSource(std::move(name), size), fd_(fd), owned_(owned) {}
  ~FdSource() override {
    if (owned_) ::close(fd_);
  }

 protected:
  Result<size_t> read_some(char* dst, size_t n) override {
    for (;;) {
      ssize_t got = ::read(fd_, dst, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno == EINTR) continue;
      return Error::io_error(fmt::format("{}: read failed: {}", name(), std::strerror(errno)));
    }
  }

 private:
  int fd_;
  bool owned_;
};

class StreamSource final : public ByteSource {
 public:
  explicit StreamSource(std::istream& in) : ByteSource("stdin", 0), in_(in) {}

 protected:
  Result<size_t> read_some(char* dst, size_t n) override {
    in_.read(dst, static_cast<std::streamsize>(n));
    size_t got = static_cast<size_t>(in_.gcount());
    if (got == 0 && in_.bad()) return Error::io_error("stdin: read failed");
    return got;
  }

 private:
  std::istream& in_;
};

class StringSource final : public ByteSource {
 public:
  StringSource(std::string data, std::string name)
      : ByteSource(std::move(name), data.size()), data_(std::move(data)) {}

 protected:
  Result<size_t> read_some(char* dst, size_t n) override {
    size_t k = std::min(n, data_.size() - at_);
    std::memcpy(dst, data_.data() + at_, k);
    at_ += k;
    return k;
  }

 private:
  std::string data_;
  size_t at_ = 0;
};

}  // namespace

ByteSource::ByteSource(std::string name, std::uint64_t size)
    // A small input gets a buffer its size (a directory of small Bundles,
    // and the fuzzers, would otherwise allocate 1 MiB per file).
    : name_(std::move(name)),
      size_(size),
      cap_(size > 0 && size < kBufferSize ? static_cast<size_t>(size) + 1 : kBufferSize),
      buf_(new char[cap_]) {}

ByteSource::~ByteSource() = default;

Result<std::unique_ptr<ByteSource>> ByteSource::open_file(const std::string& path) {
  if (path == "-") {
    struct stat st {};
    std::uint64_t size = ::fstat(0, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
    return std::unique_ptr<ByteSource>(new FdSource("stdin", size, 0, false));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Error::no_input(fmt::format("{}: no such file", path));
    return Error::no_input(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Error::no_input(fmt::format("{}: cannot read: is a directory", path));
  }
  std::uint64_t size = S_ISREG(st.st_mode) ? st.st_size : 0;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ByteSource>(new FdSource(path, size, fd, true));
}

std::unique_ptr<ByteSource> ByteSource::from_stream(std::istream& in) {
  return std::unique_ptr<ByteSource>(new StreamSource(in));
}

std::unique_ptr<ByteSource> ByteSource::from_string(std::string data, std::string name) {
  return std::unique_ptr<ByteSource>(new StringSource(std::move(data), std::move(name)));
}

bool ByteSource::refill() {
  if (eof_ || !error_.ok()) return false;
  // Keep nothing: callers take what they need before asking for more.
  consumed_ += pos_;
  pos_ = 0;
  end_ = 0;
  auto got = read_some(buf_.get(), cap_);
  if (!got.ok()) {
    error_ = got.error();
    return false;
  }
  end_ = *got;
  if (end_ == 0) eof_ = true;
  return end_ > 0;
}

int ByteSource::refill_and_get() {
  if (!refill()) return -1;
  return static_cast<unsigned char>(buf_[pos_++]);
}

Result<std::string_view> ByteSource::peek(size_t n) {
  n = std::min(n, cap_);
  // Move what is buffered to the front and read until n bytes or the end.
  if (pos_ > 0) {
    std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
    consumed_ += pos_;
    end_ -= pos_;
    pos_ = 0;
  }
  while (end_ < n && !eof_) {
    auto got = read_some(buf_.get() + end_, cap_ - end_);
    if (!got.ok()) return got.error();
    if (*got == 0) eof_ = true;
    end_ += *got;
  }
  return std::string_view(buf_.get(), std::min(n, end_));
}

Result<bool> ByteSource::next_line(std::string& line, size_t max, bool& too_long) {
  line.clear();
  too_long = false;
  bool any = false;
  for (;;) {
    if (pos_ == end_ && !refill()) {
      if (!error_.ok()) return error_.error();
      break;
    }
    any = true;
    const char* start = buf_.get() + pos_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
    size_t take = nl != nullptr ? static_cast<size_t>(nl - start) : end_ - pos_;
    if (!too_long) {
      if (line.size() + take > max) {
        too_long = true;
        line.clear();
        line.shrink_to_fit();
      } else {
        line.append(start, take);
      }
    }
    pos_ += take;
    if (nl != nullptr) {
      ++pos_;
      break;
    }
  }
  if (!any) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

Result<size_t> ByteSource::read(char* dst, size_t n) {
  if (pos_ < end_) {
    size_t k = std::min(n, end_ - pos_);
    std::memcpy(dst, buf_.get() + pos_, k);
    pos_ += k;
    return k;
  }
  if (eof_ || n == 0) return size_t{0};
  if (!error_.ok()) return error_.error();
  consumed_ += pos_;
  pos_ = end_ = 0;
  auto got = read_some(dst, n);
  if (!got.ok()) return got.error();
  if (*got == 0) eof_ = true;
  consumed_ += *got;
  return got;
}

Result<bool> ByteSource::read_all(std::string& out, size_t max) {
  out.clear();
  for (;;) {
    if (pos_ == end_ && !refill()) {
      if (!error_.ok()) return error_.error();
      return true;
    }
    size_t take = end_ - pos_;
    if (out.size() + take > max) {
      out.clear();
      out.shrink_to_fit();
      return false;
    }
    out.append(buf_.get() + pos_, take);
    pos_ = end_;
  }
}

}  // namespace ehr::detail
