// Import input as a stream of bytes: a file, standard input, or (tests,
// fuzzing) a string. The readers above it (ndjson lines, CSV records, whole
// Bundles) pull bytes through a fixed-size buffer, so memory stays constant
// in the input's size; only one record is ever held.
//
// Thread safety: a ByteSource is used by one thread at a time.

#ifndef EHR_CORE_BYTE_SOURCE_H_
#define EHR_CORE_BYTE_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

#include "ehr/status.h"

namespace ehr::detail {

class ByteSource {
 public:
  static constexpr size_t kBufferSize = 1 << 20;

  // Opens `path` for reading; "-" is standard input (never closed here).
  // Errors: kNoInput "PATH: no such file" / "PATH: cannot read: <why>".
  static Result<std::unique_ptr<ByteSource>> open_file(const std::string& path);
  // A source over `in` (standard input as the caller holds it), named "stdin".
  static std::unique_ptr<ByteSource> from_stream(std::istream& in);
  // A source over `data`, named `name` in messages.
  static std::unique_ptr<ByteSource> from_string(std::string data, std::string name);

  virtual ~ByteSource();

  // The name used in messages: the path, or "stdin".
  const std::string& name() const { return name_; }
  // The input's size in bytes, or 0 when unknown (a pipe).
  std::uint64_t size() const { return size_; }
  // Bytes handed to readers so far.
  std::uint64_t consumed() const { return consumed_ + static_cast<std::uint64_t>(pos_); }

  // The first up to `n` bytes (n <= kBufferSize) without consuming them:
  // for sniffing the format. Errors: kIoError.
  Result<std::string_view> peek(size_t n);

  // Reads the next line into `line` (without its "\n" or "\r\n") and
  // returns true, or returns false at the end of the input. A line longer
  // than `max` bytes is consumed to its end but not kept: `line` is then
  // empty and `too_long` true. Errors: kIoError.
  Result<bool> next_line(std::string& line, size_t max, bool& too_long);

  // The next byte, or -1 at the end. Errors: kIoError (sticky: returned by
  // `error()` after next_byte gave -1).
  int next_byte() {
    if (pos_ < end_) return static_cast<unsigned char>(buf_[pos_++]);
    return refill_and_get();
  }
  // The error that ended next_byte early, if any.
  const Status& error() const { return error_; }

  // Reads up to `n` bytes into `dst`, buffered ones first; 0 at the end.
  // Errors: kIoError.
  Result<size_t> read(char* dst, size_t n);

  // Reads everything left, up to `max` bytes, into `out`; returns false
  // (out cleared) when there is more than `max`. Errors: kIoError.
  Result<bool> read_all(std::string& out, size_t max);

 protected:
  ByteSource(std::string name, std::uint64_t size);
  // Reads up to `n` bytes into `dst`; 0 at the end.
  virtual Result<size_t> read_some(char* dst, size_t n) = 0;

 private:
  // Refills the buffer; false at the end or on error (error_ set).
  bool refill();
  int refill_and_get();

  std::string name_;
  std::uint64_t size_ = 0;
  std::uint64_t consumed_ = 0;  // bytes before buf_[0]
  size_t cap_;  // buf_'s size: kBufferSize, or less for a small input
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  Status error_;
};

}  // namespace ehr::detail

#endif  // EHR_CORE_BYTE_SOURCE_H_
