// Secret sources: key files, passphrase files, terminal prompts (secret_input.h).
#include "secret_input.h"

#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace ehr::cli {

void wipe(std::string& s) {
  explicit_bzero(s.data(), s.size());
  s.clear();
}

namespace {

// 3 for a flag, 2 for the environment, 1 for the config file, 0 unset: the
// precedence of the setting's source.
int precedence(const Config& c, const char* key) {
  for (const auto& s : c.settings())
    if (s.key == key && !s.value.empty())
      return s.origin.starts_with("flag") ? 3 : s.origin.starts_with("env") ? 2 : s.origin.starts_with("file") ? 1 : 0;
  return 0;
}

}  // namespace

Result<SecretSource> choose_secret_source(const Context& ctx) {
  std::string key = ctx.config().get("key_file");
  std::string pass = ctx.config().get("passphrase_file");
  if (!key.empty() && !pass.empty()) {
    // The source of higher precedence wins, as for every setting: a cron
    // line's --key-file over the config file's passphrase_file (QA ops
    // sweep). Two of the same kind are ambiguous.
    int k = precedence(ctx.config(), "key_file"), p = precedence(ctx.config(), "passphrase_file");
    if (k > p) pass.clear();
    else if (p > k) key.clear();
    else
      return Error::invalid_argument(
          "--key-file and --passphrase-file are mutually exclusive (check EHR_KEY_FILE, "
          "EHR_PASSPHRASE_FILE and the config file)");
  }
  if (!key.empty()) return SecretSource{SecretSource::Kind::kKeyFile, key};
  if (!pass.empty()) return SecretSource{SecretSource::Kind::kPassphraseFile, pass};
  if (ctx.no_input())
    return Error::invalid_argument(
        fmt::format("{} is needed and --no-input forbids prompting; use {}",
                    kCallerSecretPrompt.need, kCallerSecretPrompt.instead));
  return SecretSource{SecretSource::Kind::kPrompt, ""};
}

namespace {

Result<std::string> slurp(const std::string& path, const char* what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error::no_input(fmt::format("cannot read {} {}: {}", what, path, strerror(errno)));
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      explicit_bzero(buf, sizeof buf);
      wipe(data);
      return Error::io_error(fmt::format("cannot read {} {}: {}", what, path, strerror(e)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > 65536) {
      ::close(fd);
      explicit_bzero(buf, sizeof buf);
      wipe(data);
      return Error::invalid_data(fmt::format("{} {} is too large", what, path));
    }
  }
  ::close(fd);
  explicit_bzero(buf, sizeof buf);
  return data;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> read_key_file(const std::string& path) {
  auto data = slurp(path, "key file");
  if (!data.ok()) return data.error();
  std::string& d = *data;
  if (d.size() == 32) return std::move(d);  // raw bytes
  std::string text = d;
  wipe(d);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() == 64) {
    std::string key(32, '\0');
    bool ok = true;
    for (size_t i = 0; i < 32 && ok; ++i) {
      int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      key[i] = static_cast<char>(ok ? (hi << 4) | lo : 0);
    }
    wipe(text);
    if (ok) return key;
    wipe(key);
  } else {
    wipe(text);
  }
  return Error::invalid_data(fmt::format(
      "key file {} is not a key: expected 64 hexadecimal digits or 32 bytes (make one with "
      "'ehr key new -o FILE')",
      path));
}

Result<std::string> read_passphrase_file(const std::string& path) {
  auto data = slurp(path, "passphrase file");
  if (!data.ok()) return data.error();
  std::string& d = *data;
  size_t end = d.find_first_of("\r\n");
  std::string pass = d.substr(0, end);
  wipe(d);
  if (pass.empty())
    return Error::invalid_data(fmt::format("passphrase file {} has an empty first line", path));
  return pass;
}

namespace {

// Prompts on the terminal itself (like ssh and sudo), so a redirected stderr
// never swallows the question.
Result<std::string> read_hidden_line(int fd, const std::string& prompt) {
  if (::write(fd, prompt.data(), prompt.size()) < 0) return Error::io_error("cannot write to the terminal");
  termios old_tio{};
  bool restore = tcgetattr(fd, &old_tio) == 0;
  if (restore) {
    termios tio = old_tio;
    tio.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tio.c_lflag |= ECHONL;
    tcsetattr(fd, TCSANOW, &tio);  // TCSANOW keeps typed-ahead input
  }
  std::string line;
  bool got_newline = false;
  char c;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (c == '\n') {
      got_newline = true;
      break;
    }
    if (c != '\r') line += c;
  }
  if (restore) tcsetattr(fd, TCSANOW, &old_tio);
  c = 0;
  if (!got_newline && line.empty()) {
    return Error::interrupted("no passphrase entered");
  }
  return line;
}

}  // namespace

Result<std::string> prompt_passphrase(Context& ctx, const std::string& prompt, bool confirm,
                                      const PromptFallback& fallback) {
  int fd = ctx.io().terminal_fd;
  if (fd < 0 || ctx.no_input())
    return Error::invalid_argument(fmt::format(
        "{} is needed and {}; use {}", fallback.need,
        ctx.no_input() ? "--no-input forbids prompting" : "there is no terminal to ask on",
        fallback.instead));
  auto first = read_hidden_line(fd, prompt + ": ");
  if (!first.ok()) return first.error();
  if (first->empty()) return Error::invalid_data("empty passphrase");
  if (confirm) {
    auto second = read_hidden_line(fd, "repeat " + prompt + ": ");
    if (!second.ok()) {
      wipe(*first);
      return second.error();
    }
    bool same = *first == *second;
    wipe(*second);
    if (!same) {
      wipe(*first);
      return Error::invalid_data("the passphrases do not match");
    }
  }
  return first;
}

std::string key_file_text(const std::string& key) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(65);
  for (unsigned char c : key) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  out += '\n';
  return out;
}

}  // namespace ehr::cli
