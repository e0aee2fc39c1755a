// Test helpers: a private temporary directory removed on destruction, and
// small file utilities (read, write, flip a bit, fingerprint).

#ifndef EHR_TESTS_SUPPORT_TEMP_DIR_H_
#define EHR_TESTS_SUPPORT_TEMP_DIR_H_

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace ehr::testing {

// A fresh directory under $TMPDIR (or /tmp), deleted recursively with
// everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/ehr-test-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Path of `name` inside the directory.
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `content` to `name` (creating parent directories); returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    std::filesystem::create_directories(std::filesystem::path(file(name)).parent_path());
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }

 private:
  std::string path_;
};

inline bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size()));
}

// XORs `mask` into the byte at `offset` of `path`, in place.
inline void flip_byte(const std::string& path, std::uint64_t offset, std::uint8_t mask = 0x01) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ mask);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// Size, modification time (ns) and the bytes of a file: equal fingerprints
// mean nothing observable changed.
struct Fingerprint {
  bool exists = false;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::vector<std::uint8_t> bytes;
  bool operator==(const Fingerprint&) const = default;
};

inline Fingerprint fingerprint(const std::string& path) {
  Fingerprint fp;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fp;
  fp.exists = true;
  fp.size = st.st_size;
  fp.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  fp.bytes = read_bytes(path);
  return fp;
}

// True when `needle` occurs anywhere in `hay`.
inline bool contains(const std::vector<std::uint8_t>& hay, const std::string& needle) {
  if (needle.empty() || hay.size() < needle.size()) return false;
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_TEMP_DIR_H_
