// The process's streams, terminal facts and environment, as one value, so the
// whole CLI can run in-process in tests with captured streams (tests/cli/).

#ifndef EHR_CLI_IO_H_
#define EHR_CLI_IO_H_

#include <iosfwd>
#include <map>
#include <string>

namespace ehr::cli {

struct Io {
  Io(std::istream& i, std::ostream& o, std::ostream& e) : in(i), out(o), err(e) {}

  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  bool in_tty = false;
  bool out_tty = false;
  bool err_tty = false;
  std::map<std::string, std::string> env;  // the process environment
  std::string login_name;                  // the OS user name (default --user)
  int terminal_fd = -1;                    // fd of the controlling terminal for prompts, or -1

  std::string getenv(const std::string& name) const {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  }
};

}  // namespace ehr::cli

#endif  // EHR_CLI_IO_H_
