// Colour rules and display width (cli/terminal.cc), and the progress reporter.
#include <doctest/doctest.h>

#include <sstream>

#include "progress.h"
#include "size_option.h"
#include "terminal.h"

using ehr::cli::Io;

TEST_SUITE("terminal") {

TEST_CASE("colour follows --color, the terminal, NO_COLOR and TERM") {
  std::istringstream in;
  std::ostringstream out, err;
  Io io(in, out, err);
  CHECK(ehr::cli::use_color("auto", true, io));
  CHECK_FALSE(ehr::cli::use_color("auto", false, io));
  CHECK(ehr::cli::use_color("always", false, io));
  CHECK_FALSE(ehr::cli::use_color("never", true, io));
  io.env["NO_COLOR"] = "1";
  CHECK_FALSE(ehr::cli::use_color("auto", true, io));
  CHECK(ehr::cli::use_color("always", true, io));
  io.env["NO_COLOR"] = "";
  CHECK(ehr::cli::use_color("auto", true, io));
  io.env["TERM"] = "dumb";
  CHECK_FALSE(ehr::cli::use_color("auto", true, io));
}

TEST_CASE("display width counts wide and combining characters") {
  CHECK(ehr::cli::display_width("abc") == 3);
  CHECK(ehr::cli::display_width("Zoë") == 3);
  CHECK(ehr::cli::display_width("Zoe\xcc\x88") == 3);  // e + combining diaeresis
  CHECK(ehr::cli::display_width("李小龍") == 6);
  CHECK(ehr::cli::display_width("\xff") == 1);
}

TEST_CASE("progress bar redraws in place on a terminal and clears at the end") {
  std::ostringstream err;
  double now = 0;
  ehr::cli::ProgressReporter p(err, ehr::cli::ProgressMode::kBar, "import", "records",
                               [&] { return now; });
  now = 1.0;
  p.update({1000, 5'000'000, 10'000'000});
  now = 1.05;  // throttled: within 0.1 s of the last draw
  p.update({1100, 5'500'000, 10'000'000});
  now = 2.0;
  p.update({12345, 10'000'000, 10'000'000});
  p.finish({12345, 10'000'000, 10'000'000});
  CHECK(err.str() ==
        "\r\x1b[Kimport  [##########----------]  50%  5.0 of 10.0 MB  1,000 records  1,000/s"
        "\r\x1b[Kimport  [####################] 100%  10.0 of 10.0 MB  12,345 records  6,172/s"
        "\r\x1b[K");
}

TEST_CASE("progress writes plain lines for logs and a final summary") {
  std::ostringstream err;
  double now = 0;
  ehr::cli::ProgressReporter p(err, ehr::cli::ProgressMode::kLines, "export", "resources",
                               [&] { return now; }, 5.0);
  now = 1;
  p.update({10, 0, 0});
  now = 3;
  p.update({20, 0, 0});
  now = 7;
  p.update({70, 0, 0});
  now = 8;
  p.finish({80, 0, 0});
  CHECK(err.str() == "ehr: export: 70 resources, 10/s\nehr: export: done, 80 resources in 8.0 s\n");
}

TEST_CASE("progress is silent with --quiet") {
  std::ostringstream err;
  ehr::cli::ProgressReporter p(err, ehr::cli::choose_progress_mode(true, true), "x", "y",
                               [] { return 100.0; });
  p.update({1, 1, 1});
  p.finish({1, 1, 1});
  CHECK(err.str().empty());
  CHECK(ehr::cli::choose_progress_mode(false, true) == ehr::cli::ProgressMode::kBar);
  CHECK(ehr::cli::choose_progress_mode(false, false) == ehr::cli::ProgressMode::kLines);
}

TEST_CASE("digits are grouped by thousands") {
  CHECK(ehr::cli::group_digits(0) == "0");
  CHECK(ehr::cli::group_digits(999) == "999");
  CHECK(ehr::cli::group_digits(1000) == "1,000");
  CHECK(ehr::cli::group_digits(1234567) == "1,234,567");
  CHECK(ehr::cli::group_digits(-1234) == "-1,234");
  CHECK(ehr::cli::group_digits(-999) == "-999");
}

TEST_CASE("a size option takes digits and an optional binary K, M or G") {
  using ehr::cli::parse_size;
  CHECK(parse_size("1048576") == 1048576);
  CHECK(parse_size("512K") == 512 * 1024);
  CHECK(parse_size("64m") == std::int64_t{64} << 20);
  CHECK(parse_size("1G") == std::int64_t{1} << 30);
  CHECK(parse_size("999999999999K") == std::int64_t{999999999999} * 1024);
  CHECK(parse_size("8589934591G") == (std::int64_t{8589934591} << 30));
  // Regression: 12 digits of G overflowed the 64-bit size (undefined
  // behaviour; import's copy wrapped around to a small limit).
  for (const char* bad : {"", "0", "0M", "K", "-1", "+1", "1.5M", "1T", "1 M", "1000000000000",
                          "999999999999G", "8589934592G"})
    CHECK_MESSAGE(!parse_size(bad), bad);
}

}
