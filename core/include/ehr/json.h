// ehr's JSON value: parsing, building and serialising JSON documents.
//
// FHIR resources are stored and exported as JSON, and the record is the
// truth, so this type is lossless where general-purpose libraries are not:
//  - numbers keep their literal text ("1.50" stays "1.50"; FHIR decimals
//    carry precision in trailing zeros, and 64-bit integers stay exact);
//  - object members keep their order as parsed (duplicates are rejected);
//  - strings are validated UTF-8 and serialised with minimal escaping.
// Parse errors carry a line and column. Nesting deeper than kMaxDepth is
// refused so hostile input cannot exhaust the stack.
//
// Thread safety: a Json is a plain value; const access from several threads is
// safe, mutation needs external synchronisation.

#ifndef EHR_JSON_H_
#define EHR_JSON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ehr/status.h"

namespace ehr {

class Json {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, Json>;

  static constexpr int kMaxDepth = 256;

  Json() = default;  // null
  static Json null() { return Json(); }
  static Json boolean(bool b);
  // REQUIRES: `literal` is a valid JSON number (use number_from_text to check).
  static Json number_literal(std::string literal);
  static Json number(int64_t v);
  static Json number(double v);  // shortest text that round-trips
  static Json string(std::string s);
  static Json array();
  static Json object();

  // Returns a number for `text`, or kInvalidArgument when it is not a JSON number.
  static Result<Json> number_from_text(std::string_view text);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // REQUIRES: is_bool()
  bool as_bool() const;
  // REQUIRES: is_string() or is_number(); for a number, its literal text.
  const std::string& text() const;
  // REQUIRES: is_array()
  const std::vector<Json>& items() const;
  std::vector<Json>& items();
  // REQUIRES: is_object(); members in insertion order.
  const std::vector<Member>& members() const;
  std::vector<Member>& members();

  // Object member lookup; nullptr when absent or when this is not an object.
  const Json* find(std::string_view key) const;
  Json* find(std::string_view key);
  // Sets (replaces, or appends) member `key`. REQUIRES: is_object()
  Json& set(std::string key, Json value);
  // Removes member `key` if present; returns whether it was. REQUIRES: is_object()
  bool erase(std::string_view key);
  // Appends to an array. REQUIRES: is_array()
  Json& push_back(Json value);
  // Number of items (array) or members (object); 0 otherwise.
  size_t size() const;

  // Structural equality: same kind; numbers equal by literal text; objects
  // equal as sets of members (order-insensitive); arrays in order.
  friend bool operator==(const Json& a, const Json& b);

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string text_;                // number literal or string value
  std::vector<Json> items_;         // array
  std::vector<Member> members_;     // object
};

// Parses one JSON document. Whitespace may surround it; anything else after it
// is an error. Errors are kInvalidData with "line L, column C: <what>".
Result<Json> parse_json(std::string_view text);

// Serialises compactly ({"a":1,"b":[true,null]}), keeping member order.
std::string to_json(const Json& value);
// Serialises with two-space indentation and one member per line.
std::string to_json_pretty(const Json& value);
// Serialises canonically: compact, object members sorted by key (bytewise
// UTF-8 order), numbers as stored. Equal documents give equal bytes.
std::string to_json_canonical(const Json& value);

// Appends `s` to `out` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

// The layouts append_json_text writes: to_json's and to_json_pretty's.
enum class JsonLayout { kCompact, kPretty };

// Appends the document in `text` to `out` exactly as to_json (kCompact) or
// to_json_pretty (kPretty) writes the value parse_json(text) returns, without
// building that value: the fast way to print stored documents. `indent` is
// the nesting level the document is written at in kPretty (each line after
// its first is indented by two more spaces per level), so that an element of
// an array written by to_json_pretty is written at level 1.
// Returns false, and leaves `out` as it was, for any text parse_json refuses.
bool append_json_text(std::string& out, std::string_view text, JsonLayout layout, int indent = 0);

// Returns whether `s` is well-formed UTF-8 (no overlongs, no surrogates).
bool is_valid_utf8(std::string_view s);

}  // namespace ehr

#endif  // EHR_JSON_H_
