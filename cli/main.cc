// The ehr executable: gathers the process's streams and environment and hands
// them to ehr::cli::run.
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <iostream>

#include "app.h"
#include "ehr/store.h"

extern char** environ;

int main(int argc, char** argv) {
  // Keys and plaintext pages live in this process: never let them reach a core file.
  (void)ehr::disable_core_dumps();
  ehr::cli::Io io(std::cin, std::cout, std::cerr);
  io.in_tty = isatty(STDIN_FILENO) == 1;
  io.out_tty = isatty(STDOUT_FILENO) == 1;
  io.err_tty = isatty(STDERR_FILENO) == 1;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) io.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // Prompts go to the controlling terminal, not stdin, so piped input stays data.
  io.terminal_fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr) io.login_name = pw->pw_name;
  std::vector<std::string> args(argv + 1, argv + argc);
  return ehr::cli::run(args, io);
}
