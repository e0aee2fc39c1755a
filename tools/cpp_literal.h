// A C++ string literal for any bytes, for the build-time generators
// (config_keys_gen, schema_compile_gen), which embed schema text in code.
#ifndef EHR_TOOLS_CPP_LITERAL_H_
#define EHR_TOOLS_CPP_LITERAL_H_

#include <cstdio>
#include <string>

// Printable ASCII as is, everything else (UTF-8 bytes included) as
// three-digit octal escapes, which cannot run on into the next character
// the way \x escapes can.
inline std::string cpp_literal(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F && c != '?') {  // '?' would allow trigraphs
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    }
  }
  return out + "\"";
}

#endif  // EHR_TOOLS_CPP_LITERAL_H_
