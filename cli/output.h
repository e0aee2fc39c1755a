// Rendering of command results: --format table|json|ndjson|csv|yaml.
//
// Commands hand over rows as JSON objects (ehr::Json) plus the column order
// for tabular formats; this is the only code that knows the formats. JSON
// field names are a stable interface. Rules:
//  - table: one header row, columns padded by display width, two spaces
//    apart; control characters shown as escapes (\n, \t, \u001b) so a cell
//    never breaks the layout; nested values as compact JSON.
//  - csv: RFC 4180 quoting (fields with a comma, quote, CR, LF or
//    leading/trailing space are quoted, quotes doubled), LF line ends, UTF-8
//    without BOM; a header row of column names; null is an empty field.
//  - json: a pretty-printed array (or object, for one document).
//  - ndjson: one compact object per line.
//  - yaml: a sequence of maps (or one map), scalars quoted whenever a plain
//    scalar could be misread (numbers-as-text, booleans, leading symbols).

#ifndef EHR_CLI_OUTPUT_H_
#define EHR_CLI_OUTPUT_H_

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/json.h"
#include "ehr/status.h"

namespace ehr::cli {

enum class Format { kTable, kJson, kNdjson, kCsv, kYaml, kBundle };

// The format names accepted by --format, "auto" first.
const std::vector<std::string>& format_names();

// Resolves a --format value: "auto" is table when stdout is a terminal and
// json otherwise. Errors: kInvalidArgument for an unknown name.
Result<Format> resolve_format(std::string_view name, bool stdout_is_tty);

struct RenderOptions {
  bool color = false;  // bold table headers
};

// Renders `rows` (an array of objects). `columns` selects and orders the
// fields shown by table and csv; json, ndjson and yaml show every field.
void render_rows(std::ostream& out, const Json& rows, const std::vector<std::string>& columns,
                 Format format, const RenderOptions& opts = {});

// Renders documents given as JSON text for json and ndjson: byte for byte
// what render_rows writes for the array of their values, without parsing
// them (append_json_text). A text that is not JSON renders as null, as an
// unparseable stored document always has. REQUIRES: format is kJson or
// kNdjson.
void render_json_texts(std::ostream& out, const std::vector<std::string_view>& texts,
                       Format format);

// Renders one document. table shows it as FIELD/VALUE rows; csv as one
// header row and one data row over its top-level fields.
void render_document(std::ostream& out, const Json& doc, Format format,
                     const RenderOptions& opts = {});

// `s` with control characters as escapes (\n, \r, \t, \u001b), so a cell or
// a line of a table stays on one line.
std::string table_safe(std::string_view s);

// Cell text as table and csv show it: strings raw, numbers by literal,
// booleans true/false, null empty, arrays and objects as compact JSON.
std::string cell_text(const Json& v);

// One CSV field: spreadsheet_safe (ehr/summary.h), then quoted per RFC 4180
// when needed.
std::string csv_field(std::string_view s);

// One YAML scalar for `v` (a string, number, bool or null).
std::string yaml_scalar(const Json& v);

// A row's text field: the string, or null when it is empty (absent).
Json text_or_null(const std::string& s);

}  // namespace ehr::cli

#endif  // EHR_CLI_OUTPUT_H_
