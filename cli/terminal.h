// Terminal facts: whether to use colour, and the display width of text.

#ifndef EHR_CLI_TERMINAL_H_
#define EHR_CLI_TERMINAL_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "io.h"

namespace ehr::cli {

// Colour decision for one stream. `mode` is auto|always|never. With auto,
// colour is used only on a terminal, when NO_COLOR is unset or empty and TERM
// is not "dumb". always and never win over the environment.
bool use_color(std::string_view mode, bool is_tty, const Io& io);

// Columns `s` (UTF-8) occupies on a terminal: East Asian wide characters
// count 2, combining marks and zero-width characters 0, invalid bytes 1.
size_t display_width(std::string_view s);

// ANSI styles, or "" when colour is off.
struct Style {
  bool on = false;
  std::string bold(std::string_view s) const;
  std::string red(std::string_view s) const;
  std::string yellow(std::string_view s) const;
  std::string dim(std::string_view s) const;
};

}  // namespace ehr::cli

#endif  // EHR_CLI_TERMINAL_H_
