// Output renderers (output.h).
#include "output.h"

#include <algorithm>
#include <ostream>

#include "ehr/summary.h"
#include "terminal.h"

namespace ehr::cli {

const std::vector<std::string>& format_names() {
  static const std::vector<std::string> names = {"auto", "table", "json", "ndjson", "csv", "yaml", "bundle"};
  return names;
}

Result<Format> resolve_format(std::string_view name, bool stdout_is_tty) {
  if (name == "auto" || name.empty()) return stdout_is_tty ? Format::kTable : Format::kJson;
  if (name == "table") return Format::kTable;
  if (name == "json") return Format::kJson;
  if (name == "ndjson") return Format::kNdjson;
  if (name == "csv") return Format::kCsv;
  if (name == "yaml") return Format::kYaml;
  if (name == "bundle") return Format::kBundle;
  return Error::invalid_argument("--format must be one of auto, table, json, ndjson, csv, yaml, bundle; got \"" +
                                 std::string(name) + "\"");
}

std::string cell_text(const Json& v) {
  switch (v.kind()) {
    case Json::Kind::kNull: return "";
    case Json::Kind::kBool: return v.as_bool() ? "true" : "false";
    case Json::Kind::kNumber:
    case Json::Kind::kString: return v.text();
    default: return to_json(v);
  }
}

std::string table_safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

namespace {

void render_table(std::ostream& out, const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& cells, const RenderOptions& opts) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t c = 0; c < header.size(); ++c) width[c] = display_width(header[c]);
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], display_width(row[c]));
  Style style{opts.color};
  auto line = [&](const std::vector<std::string>& row, bool is_header) {
    std::string s;
    for (size_t c = 0; c < row.size(); ++c) {
      bool last = c + 1 == row.size();
      std::string cell = is_header ? style.bold(row[c]) : row[c];
      s += cell;
      if (!last) s.append(width[c] - display_width(row[c]) + 2, ' ');
    }
    // No trailing blanks: a last empty column leaves nothing behind.
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  line(header, true);
  for (const auto& row : cells) line(row, false);
}

std::string upper(std::string s) {
  for (auto& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

bool looks_special_in_yaml(std::string_view s) {
  if (s.empty()) return true;
  static const std::string_view kWords[] = {"true", "false", "yes", "no", "on", "off", "null",
                                            "y", "n", "~", "True", "False", "TRUE", "FALSE",
                                            "Yes", "No", "YES", "NO", "On", "Off", "ON", "OFF",
                                            "Null", "NULL", "Y", "N"};
  for (auto w : kWords)
    if (s == w) return true;
  char f = s.front();
  if (std::string_view("-?:,[]{}#&*!|>'\"%@` .+0123456789").find(f) != std::string_view::npos)
    return true;
  if (s.back() == ' ' || s.back() == ':') return true;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) return true;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

void yaml_value(std::ostream& out, const Json& v, int indent);

void yaml_map_body(std::ostream& out, const Json& obj, int indent, bool first_inline) {
  bool first = true;
  for (const auto& [k, v] : obj.members()) {
    if (!(first && first_inline)) out << std::string(static_cast<size_t>(indent), ' ');
    first = false;
    out << yaml_scalar(Json::string(k)) << ":";
    yaml_value(out, v, indent);
  }
}

// Writes a value after "key:" or "-": inline for scalars and empty
// containers, on following indented lines otherwise.
void yaml_value(std::ostream& out, const Json& v, int indent) {
  if (v.is_object() && v.size() > 0) {
    out << '\n';
    yaml_map_body(out, v, indent + 2, false);
  } else if (v.is_array() && v.size() > 0) {
    out << '\n';
    for (const auto& item : v.items()) {
      out << std::string(static_cast<size_t>(indent + 2), ' ') << "-";
      if (item.is_object() && item.size() > 0) {
        out << ' ';
        yaml_map_body(out, item, indent + 4, true);
      } else {
        yaml_value(out, item, indent + 2);
      }
    }
  } else {
    out << ' ' << (v.is_object() ? "{}" : v.is_array() ? "[]" : yaml_scalar(v)) << '\n';
  }
}

}  // namespace

std::string csv_field(std::string_view raw) {
  const std::string s = spreadsheet_safe(raw);
  bool quote = s.find_first_of(",\"\r\n") != std::string::npos ||
               (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string yaml_scalar(const Json& v) {
  switch (v.kind()) {
    case Json::Kind::kNull: return "null";
    case Json::Kind::kBool: return v.as_bool() ? "true" : "false";
    case Json::Kind::kNumber: return v.text();
    case Json::Kind::kString: {
      if (!looks_special_in_yaml(v.text())) return v.text();
      std::string out;
      append_json_string(out, v.text());  // a JSON string is a YAML double-quoted scalar
      return out;
    }
    default: return to_json(v);
  }
}

Json text_or_null(const std::string& s) { return s.empty() ? Json::null() : Json::string(s); }

void render_rows(std::ostream& out, const Json& rows, const std::vector<std::string>& columns,
                 Format format, const RenderOptions& opts) {
  switch (format) {
    case Format::kBundle:
    case Format::kJson:
      out << to_json_pretty(rows) << '\n';
      return;
    case Format::kNdjson:
      for (const auto& row : rows.items()) out << to_json(row) << '\n';
      return;
    case Format::kYaml:
      if (rows.size() == 0) {
        out << "[]\n";
        return;
      }
      for (const auto& row : rows.items()) {
        out << "-";
        if (row.is_object() && row.size() > 0) {
          out << ' ';
          yaml_map_body(out, row, 2, true);
        } else {
          yaml_value(out, row, 0);
        }
      }
      return;
    case Format::kCsv: {
      std::string line;
      for (size_t c = 0; c < columns.size(); ++c) line += (c ? "," : "") + csv_field(columns[c]);
      out << line << '\n';
      for (const auto& row : rows.items()) {
        line.clear();
        for (size_t c = 0; c < columns.size(); ++c) {
          const Json* v = row.find(columns[c]);
          line += (c ? "," : "") + csv_field(v ? cell_text(*v) : "");
        }
        out << line << '\n';
      }
      return;
    }
    case Format::kTable: {
      std::vector<std::string> header;
      for (const auto& c : columns) header.push_back(upper(c));
      std::vector<std::vector<std::string>> cells;
      for (const auto& row : rows.items()) {
        std::vector<std::string> r;
        for (const auto& c : columns) {
          const Json* v = row.find(c);
          r.push_back(table_safe(v ? cell_text(*v) : ""));
        }
        cells.push_back(std::move(r));
      }
      render_table(out, header, cells, opts);
      return;
    }
  }
}

void render_json_texts(std::ostream& out, const std::vector<std::string_view>& texts,
                       Format format) {
  // Written in pieces of about 64 KiB, so a long result is never held twice.
  constexpr size_t kChunk = 64 * 1024;
  std::string buf;
  auto document = [&](std::string_view text, JsonLayout layout, int indent) {
    if (!append_json_text(buf, text, layout, indent)) buf += "null";
    if (buf.size() >= kChunk) {
      out << buf;
      buf.clear();
    }
  };
  if (format == Format::kNdjson) {
    for (std::string_view t : texts) {
      document(t, JsonLayout::kCompact, 0);
      buf += '\n';
    }
  } else if (texts.empty()) {
    buf = "[]\n";
  } else {
    // to_json_pretty of the array: each element on its own lines at level 1.
    buf += '[';
    for (size_t i = 0; i < texts.size(); ++i) {
      buf += i == 0 ? "\n  " : ",\n  ";
      document(texts[i], JsonLayout::kPretty, 1);
    }
    buf += "\n]\n";
  }
  out << buf;
}

void render_document(std::ostream& out, const Json& doc, Format format, const RenderOptions& opts) {
  switch (format) {
    case Format::kBundle:
    case Format::kJson:
      out << to_json_pretty(doc) << '\n';
      return;
    case Format::kNdjson:
      out << to_json(doc) << '\n';
      return;
    case Format::kYaml:
      if (doc.is_object() && doc.size() > 0) {
        yaml_map_body(out, doc, 0, false);
      } else {
        out << yaml_scalar(doc) << '\n';
      }
      return;
    case Format::kCsv: {
      std::vector<std::string> columns;
      for (const auto& m : doc.members()) columns.push_back(m.first);
      Json rows = Json::array();
      rows.push_back(doc);
      render_rows(out, rows, columns, Format::kCsv, opts);
      return;
    }
    case Format::kTable: {
      std::vector<std::vector<std::string>> cells;
      for (const auto& [k, v] : doc.members()) cells.push_back({k, table_safe(cell_text(v))});
      render_table(out, {"FIELD", "VALUE"}, cells, opts);
      return;
    }
  }
}

}  // namespace ehr::cli
