// Runs the ehr command line in-process with captured streams, for tests.
#ifndef EHR_TESTS_SUPPORT_CLI_RUNNER_H_
#define EHR_TESTS_SUPPORT_CLI_RUNNER_H_

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "app.h"

namespace ehr::testing {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

struct CliOptions {
  std::map<std::string, std::string> env;  // the whole environment the run sees
  bool out_tty = false;
  bool err_tty = false;
  std::string in;
};

inline CliResult run_cli(const std::vector<std::string>& args, const CliOptions& o = {}) {
  std::istringstream in(o.in);
  std::ostringstream out, err;
  cli::Io io(in, out, err);
  io.out_tty = o.out_tty;
  io.err_tty = o.err_tty;
  io.env = o.env;
  io.login_name = "tester";
  CliResult r;
  r.code = cli::run(args, io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_CLI_RUNNER_H_
