// ehr's own JSON reader and writer (see ehr/json.h for why it is our own).
//
// Sections: value construction and access; the recursive-descent parser;
// the serialisers.

#include "ehr/json.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <deque>
#include <optional>

#include <fmt/format.h>

namespace ehr {

// --- values ------------------------------------------------------------------

Json Json::boolean(bool b) {
  Json j;
  j.kind_ = Kind::kBool;
  j.bool_ = b;
  return j;
}

Json Json::number_literal(std::string literal) {
  Json j;
  j.kind_ = Kind::kNumber;
  j.text_ = std::move(literal);
  return j;
}

Json Json::number(int64_t v) { return number_literal(std::to_string(v)); }

Json Json::number(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  // to_chars may give "1e+20"; JSON allows that form. Infinity/NaN are not JSON.
  if (s == "inf" || s == "-inf" || s == "nan" || s == "-nan") return Json();
  return number_literal(std::move(s));
}

Json Json::string(std::string s) {
  Json j;
  j.kind_ = Kind::kString;
  j.text_ = std::move(s);
  return j;
}

Json Json::array() {
  Json j;
  j.kind_ = Kind::kArray;
  return j;
}

Json Json::object() {
  Json j;
  j.kind_ = Kind::kObject;
  return j;
}

bool Json::as_bool() const { return bool_; }
const std::string& Json::text() const { return text_; }
const std::vector<Json>& Json::items() const { return items_; }
std::vector<Json>& Json::items() { return items_; }
const std::vector<Json::Member>& Json::members() const { return members_; }
std::vector<Json::Member>& Json::members() { return members_; }

const Json* Json::find(std::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  for (const auto& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

Json* Json::find(std::string_view key) {
  return const_cast<Json*>(static_cast<const Json*>(this)->find(key));
}

Json& Json::set(std::string key, Json value) {
  for (auto& m : members_) {
    if (m.first == key) {
      m.second = std::move(value);
      return m.second;
    }
  }
  members_.emplace_back(std::move(key), std::move(value));
  return members_.back().second;
}

bool Json::erase(std::string_view key) {
  auto it = std::find_if(members_.begin(), members_.end(),
                         [&](const Member& m) { return m.first == key; });
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}

Json& Json::push_back(Json value) {
  items_.push_back(std::move(value));
  return items_.back();
}

size_t Json::size() const {
  if (kind_ == Kind::kArray) return items_.size();
  if (kind_ == Kind::kObject) return members_.size();
  return 0;
}

bool operator==(const Json& a, const Json& b) {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case Json::Kind::kNull: return true;
    case Json::Kind::kBool: return a.bool_ == b.bool_;
    case Json::Kind::kNumber:
    case Json::Kind::kString: return a.text_ == b.text_;
    case Json::Kind::kArray: return a.items_ == b.items_;
    case Json::Kind::kObject: {
      if (a.members_.size() != b.members_.size()) return false;
      for (const auto& m : a.members_) {
        const Json* other = b.find(m.first);
        if (other == nullptr || !(*other == m.second)) return false;
      }
      return true;
    }
  }
  return false;
}

// --- UTF-8 -------------------------------------------------------------------

namespace {

// Returns the length of the valid UTF-8 sequence at s[i], or 0 when invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// --- parser ------------------------------------------------------------------

namespace {

// The lexical layer both readers share: whitespace, literals, numbers and
// strings, with parse_json's error messages.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

 protected:
  bool fail(std::string_view what) {
    // Line and column of pos_, both 1-based; columns count bytes.
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    error_ = Error::invalid_data(fmt::format("line {}, column {}: {}", line, col, what));
    return false;
  }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  static std::string describe(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return fmt::format("'{}'", c);
    return fmt::format("0x{:02x}", u);
  }

  bool unexpected(char c) { return fail(fmt::format("unexpected character {}", describe(c))); }

  // A number at pos_; `literal` gets its text.
  bool scan_number(std::string_view& literal) {
    size_t start = pos_;
    auto digit = [&] { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
    if (s_[pos_] == '-') ++pos_;
    if (!digit()) return fail("invalid number");
    if (s_[pos_] == '0') {
      ++pos_;
      if (digit()) return fail("invalid number: leading zero");
    } else {
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digit()) return fail("invalid number: digit expected after '.'");
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit()) return fail("invalid number: digit expected in exponent");
      while (digit()) ++pos_;
    }
    literal = s_.substr(start, pos_ - start);
    return true;
  }

  bool hex4(uint32_t& v) {
    if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else { --pos_; return fail("invalid \\u escape"); }
    }
    return true;
  }

  // The string at pos_, decoded into `out`.
  bool parse_string(std::string& out) {
    ++pos_;  // opening quote
    for (;;) {
      // Copy the run of plain bytes in one go: the common case.
      size_t run = pos_;
      while (run < s_.size()) {
        unsigned char c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      out.append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= s_.size()) return fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') { ++pos_; return true; }
      if (c < 0x20) return fail("control character in string (escape it)");
      if (c >= 0x80) {
        size_t n = utf8_sequence_length(s_, pos_);
        if (n == 0) return fail("invalid UTF-8 in string");
        out.append(s_.data() + pos_, n);
        pos_ += n;
        continue;
      }
      // Backslash escape.
      ++pos_;
      if (pos_ >= s_.size()) return fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (s_.substr(pos_, 2) != "\\u") return fail("unpaired surrogate in \\u escape");
            pos_ += 2;
            if (!hex4(lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("unpaired surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          return fail(fmt::format("invalid escape \\{}", describe(e).substr(0)));
      }
    }
  }

  // The string at pos_ when its text is already what append_json_string
  // writes for its value (no escape, no control character, no DEL, valid
  // UTF-8): its bytes between the quotes, with pos_ moved past it. Otherwise
  // nullopt and pos_ unchanged.
  std::optional<std::string_view> plain_string() {
    size_t i = pos_ + 1;
    while (i < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[i]);
      if (c == '"') {
        std::string_view body = s_.substr(pos_ + 1, i - pos_ - 1);
        pos_ = i + 1;
        return body;
      }
      if (c == '\\' || c < 0x20 || c == 0x7F) return std::nullopt;
      if (c < 0x80) {
        ++i;
      } else {
        size_t n = utf8_sequence_length(s_, i);
        if (n == 0) return std::nullopt;
        i += n;
      }
    }
    return std::nullopt;
  }

  std::string_view s_;
  size_t pos_ = 0;
  Error error_{ErrorCode::kInternal, ""};
};

// parse_json: builds the value.
class Parser : Lexer {
 public:
  using Lexer::Lexer;

  Result<Json> parse_document() {
    skip_ws();
    Json root;
    if (!parse_value(root, 0)) return error_;
    skip_ws();
    if (pos_ < s_.size()) {
      fail("unexpected text after the JSON value");
      return error_;
    }
    return root;
  }

 private:
  bool parse_value(Json& out, int depth) {
    if (pos_ >= s_.size()) return fail("unexpected end of input");
    char c = s_[pos_];
    switch (c) {
      case '{': return parse_object(out, depth + 1);
      case '[': return parse_array(out, depth + 1);
      case '"': {
        std::string str;
        if (!parse_string(str)) return false;
        out = Json::string(std::move(str));
        return true;
      }
      case 't': if (!literal("true")) return false; out = Json::boolean(true); return true;
      case 'f': if (!literal("false")) return false; out = Json::boolean(false); return true;
      case 'n': if (!literal("null")) return false; out = Json(); return true;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          std::string_view lit;
          if (!scan_number(lit)) return false;
          out = Json::number_literal(std::string(lit));
          return true;
        }
        return unexpected(c);
    }
  }

  bool parse_array(Json& out, int depth) {
    if (depth > Json::kMaxDepth) return fail("nesting too deep");
    ++pos_;
    out = Json::array();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return true; }
    for (;;) {
      skip_ws();
      Json item;
      if (!parse_value(item, depth)) return false;
      out.push_back(std::move(item));
      skip_ws();
      if (pos_ >= s_.size()) return fail("unexpected end of input in array");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == ']') { ++pos_; return true; }
      return fail("expected ',' or ']' in array");
    }
  }

  bool parse_object(Json& out, int depth) {
    if (depth > Json::kMaxDepth) return fail("nesting too deep");
    ++pos_;
    out = Json::object();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return true; }
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a member name in object");
      size_t key_pos = pos_;
      std::string key;
      if (!parse_string(key)) return false;
      if (out.find(key) != nullptr) {
        pos_ = key_pos;
        return fail(fmt::format("duplicate member \"{}\"", key));
      }
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after member name");
      ++pos_;
      skip_ws();
      Json value;
      if (!parse_value(value, depth)) return false;
      out.members().emplace_back(std::move(key), std::move(value));
      skip_ws();
      if (pos_ >= s_.size()) return fail("unexpected end of input in object");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == '}') { ++pos_; return true; }
      return fail("expected ',' or '}' in object");
    }
  }
};

// append_json_text: the grammar of Parser, writing as write() would write
// the value instead of building it. It accepts exactly what Parser accepts
// (duplicate members and nesting depth included); tests/core/json_test.cc
// checks the two against each other.
class Reformatter : Lexer {
 public:
  Reformatter(std::string_view text, std::string& out, bool pretty)
      : Lexer(text), out_(out), pretty_(pretty) {}

  bool run(int indent) {
    skip_ws();
    if (!value(indent, 0)) return false;
    skip_ws();
    return pos_ == s_.size();
  }

 private:
  void newline(int level) {
    out_ += '\n';
    out_.append(static_cast<size_t>(level) * 2, ' ');
  }

  // A string at pos_: appends it as append_json_string writes its value and
  // sets `key` to that value (a view of the text, or of decoded_).
  bool string(std::string_view* key) {
    if (std::optional<std::string_view> body = plain_string()) {
      out_ += '"';
      out_ += *body;
      out_ += '"';
      if (key != nullptr) *key = *body;
      return true;
    }
    std::string& decoded = decoded_.emplace_back();
    if (!parse_string(decoded)) return false;
    append_json_string(out_, decoded);
    if (key != nullptr) *key = decoded;
    return true;
  }

  bool value(int indent, int depth) {
    if (pos_ >= s_.size()) return fail("unexpected end of input");
    char c = s_[pos_];
    switch (c) {
      case '{': return object(indent, depth + 1);
      case '[': return array(indent, depth + 1);
      case '"': return string(nullptr);
      case 't': if (!literal("true")) return false; out_ += "true"; return true;
      case 'f': if (!literal("false")) return false; out_ += "false"; return true;
      case 'n': if (!literal("null")) return false; out_ += "null"; return true;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          std::string_view lit;
          if (!scan_number(lit)) return false;
          out_ += lit;
          return true;
        }
        return unexpected(c);
    }
  }

  bool array(int indent, int depth) {
    if (depth > Json::kMaxDepth) return fail("nesting too deep");
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      out_ += "[]";
      return true;
    }
    out_ += '[';
    for (bool first = true;; first = false) {
      skip_ws();
      if (!first) out_ += ',';
      if (pretty_) newline(indent + 1);
      if (!value(indent + 1, depth)) return false;
      skip_ws();
      if (pos_ >= s_.size()) return fail("unexpected end of input in array");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == ']') {
        ++pos_;
        if (pretty_) newline(indent);
        out_ += ']';
        return true;
      }
      return fail("expected ',' or ']' in array");
    }
  }

  bool object(int indent, int depth) {
    if (depth > Json::kMaxDepth) return fail("nesting too deep");
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      out_ += "{}";
      return true;
    }
    out_ += '{';
    // This object's member names are keys_[first_key...]; nested objects
    // push theirs above them and pop them when they end.
    const size_t first_key = keys_.size();
    for (bool first = true;; first = false) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a member name in object");
      if (!first) out_ += ',';
      if (pretty_) newline(indent + 1);
      std::string_view key;
      if (!string(&key)) return false;
      for (size_t k = first_key; k < keys_.size(); ++k)
        if (keys_[k] == key) return fail("duplicate member");
      keys_.push_back(key);
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after member name");
      ++pos_;
      out_ += pretty_ ? ": " : ":";
      skip_ws();
      if (!value(indent + 1, depth)) return false;
      skip_ws();
      if (pos_ >= s_.size()) return fail("unexpected end of input in object");
      if (s_[pos_] == ',') { ++pos_; continue; }
      if (s_[pos_] == '}') {
        ++pos_;
        keys_.resize(first_key);
        if (pretty_) newline(indent);
        out_ += '}';
        return true;
      }
      return fail("expected ',' or '}' in object");
    }
  }

  std::string& out_;
  bool pretty_;
  std::vector<std::string_view> keys_;  // member names of the open objects
  std::deque<std::string> decoded_;     // strings that needed decoding (stable)
};

}  // namespace

Result<Json> parse_json(std::string_view text) { return Parser(text).parse_document(); }

Result<Json> Json::number_from_text(std::string_view text) {
  auto r = parse_json(text);
  if (!r.ok() || !r->is_number() || r->text() != text)
    return Error::invalid_argument(fmt::format("not a JSON number: {}", text));
  return r;
}

// --- writers -----------------------------------------------------------------

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    const char* esc = nullptr;
    char buf[8];
    switch (c) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      case '\b': esc = "\\b"; break;
      case '\f': esc = "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          esc = buf;
        }
    }
    if (esc != nullptr) {
      out.append(s.data() + run, i - run);
      out += esc;
      run = i + 1;
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

namespace {

enum class Style { kCompact, kPretty, kCanonical };

void write(std::string& out, const Json& v, Style style, int indent) {
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<size_t>(level) * 2, ' ');
  };
  switch (v.kind()) {
    case Json::Kind::kNull: out += "null"; return;
    case Json::Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Json::Kind::kNumber: out += v.text(); return;
    case Json::Kind::kString: append_json_string(out, v.text()); return;
    case Json::Kind::kArray: {
      if (v.items().empty()) { out += "[]"; return; }
      out += '[';
      bool first = true;
      for (const auto& item : v.items()) {
        if (!first) out += ',';
        first = false;
        if (style == Style::kPretty) newline(indent + 1);
        write(out, item, style, indent + 1);
      }
      if (style == Style::kPretty) newline(indent);
      out += ']';
      return;
    }
    case Json::Kind::kObject: {
      if (v.members().empty()) { out += "{}"; return; }
      std::vector<const Json::Member*> order;
      order.reserve(v.members().size());
      for (const auto& m : v.members()) order.push_back(&m);
      if (style == Style::kCanonical)
        std::sort(order.begin(), order.end(),
                  [](const Json::Member* a, const Json::Member* b) { return a->first < b->first; });
      out += '{';
      bool first = true;
      for (const Json::Member* m : order) {
        if (!first) out += ',';
        first = false;
        if (style == Style::kPretty) newline(indent + 1);
        append_json_string(out, m->first);
        out += style == Style::kPretty ? ": " : ":";
        write(out, m->second, style, indent + 1);
      }
      if (style == Style::kPretty) newline(indent);
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string to_json(const Json& value) {
  std::string out;
  write(out, value, Style::kCompact, 0);
  return out;
}

std::string to_json_pretty(const Json& value) {
  std::string out;
  write(out, value, Style::kPretty, 0);
  return out;
}

std::string to_json_canonical(const Json& value) {
  std::string out;
  write(out, value, Style::kCanonical, 0);
  return out;
}

bool append_json_text(std::string& out, std::string_view text, JsonLayout layout, int indent) {
  const size_t size = out.size();
  if (Reformatter(text, out, layout == JsonLayout::kPretty).run(indent)) return true;
  out.resize(size);
  return false;
}

}  // namespace ehr
