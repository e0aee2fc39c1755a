// One patient's $everything Bundle (ehr/export_bundle.h), and the records a
// patient export takes along (export_internal.h).
#include "ehr/export_bundle.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "access.h"
#include "audit_log.h"
#include "ehr/files.h"
#include "ehr/json.h"
#include "ehr/validate.h"
#include "export_internal.h"
#include "instant.h"
#include "session_impl.h"
#include "sqlite_store.h"

namespace ehr {

namespace detail {

const std::vector<std::string>& referenced_types() {
  static const std::vector<std::string> types = {"Location", "Medication", "Organization", "Practitioner",
                                                 "PractitionerRole"};
  return types;
}

std::string referenced_records_sql(std::size_t patients) {
  std::string in_patients, in_types;
  for (std::size_t i = 0; i < patients; ++i) in_patients += i == 0 ? "?" : ", ?";
  for (const auto& t : referenced_types()) in_types += (in_types.empty() ? "'" : ", '") + t + "'";
  // The reference table holds each record's literal references (type, id);
  // UNION (not UNION ALL) ends the recursion on cycles (partOf loops).
  return fmt::format(
      "rid IN (WITH RECURSIVE taken(type, id) AS ("
      "SELECT f.target_type, f.target_id FROM resource s JOIN reference f ON f.rid = s.rid "
      "WHERE s.patient IN ({0}) AND s.retracted = 0 AND f.target_type IN ({1}) "
      "UNION "
      "SELECT f.target_type, f.target_id FROM taken JOIN resource s ON s.type = taken.type AND s.id = taken.id "
      "AND s.retracted = 0 JOIN reference f ON f.rid = s.rid WHERE f.target_type IN ({1})) "
      "SELECT r.rid FROM taken JOIN resource r ON r.type = taken.type AND r.id = taken.id)",
      in_patients, in_types);
}

}  // namespace detail

namespace {

Result<std::string> base_url_of(std::string url) {
  if (url.empty()) return url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  bool scheme = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
  std::size_t host = url.find("://") + 3;
  if (!scheme || url.size() <= host || url.find_first_of("?#") != std::string::npos ||
      url.find_first_of(" \t\r\n\"<>\\") != std::string::npos)
    return Error::invalid_argument(
        fmt::format("--base-url {}: not an absolute http(s) URL without query or fragment", url));
  return url;
}

// The directory `path` would be created in must exist and be writable:
// asked before the snapshot so that a typo fails before anything is read.
Status check_output(const std::string& path) {
  if (path_exists(path)) return Error::already_exists(fmt::format("{} already exists", path));
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return Error::cant_create(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  return {};
}

class BundleWriter {
 public:
  BundleWriter(SessionImpl& s, const BundleExportOptions& o, const std::vector<std::string>& types,
               const std::string& since, const std::string& until, const std::string& base,
               BundleExportReport& r)
      : s_(s), o_(o), types_(types), since_(since), until_(until), base_(base), r_(r) {}

  // The body of the run's transaction.
  Status run() {
    EHR_TRY(add_records(false));
    EHR_TRY(add_records(true));
    r_.transaction_time = s_.now();
    std::string text = "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"timestamp\":" +
                       to_json(Json::string(r_.transaction_time)) + ",\"total\":" + std::to_string(r_.matches) +
                       ",\"entry\":[" + entries_ + "]}\n";
    entries_.clear();
    entries_.shrink_to_fit();
    r_.bytes = static_cast<std::int64_t>(text.size());
    EHR_TRY(write_audit(s_, {"export", "ok", r_.patient, "", "", r_.matches + r_.included, audit_detail()}));
    if (o_.output == "-") {
      r_.text = std::move(text);
      return {};
    }
    // Last, so that a failure before leaves no file; the caller removes it
    // if the commit fails.
    return write_new_file(o_.output, text, 0600);
  }

 private:
  // The patient's compartment (included = false) or the records it takes
  // along (true), by type then id, the Patient first.
  Status add_records(bool included) {
    std::vector<std::string> binds{r_.patient};
    std::string sql = "SELECT type, id, patient, security, code_system, code, json FROM resource WHERE retracted = 0";
    if (included) {
      sql += " AND " + detail::referenced_records_sql(1) + " AND COALESCE(patient, '') <> ?";
      binds.push_back(r_.patient);
    } else {
      sql += " AND patient = ?";
    }
    if (!types_.empty()) {
      sql += " AND type IN (";
      for (std::size_t i = 0; i < types_.size(); ++i) sql += i == 0 ? "?" : ", ?";
      sql += ")";
      binds.insert(binds.end(), types_.begin(), types_.end());
    }
    if (!since_.empty()) {
      sql += " AND last_updated >= ?";
      binds.push_back(since_);
    }
    if (!until_.empty()) {
      sql += " AND last_updated < ?";
      binds.push_back(until_);
    }
    sql += included ? " ORDER BY type, id" : " ORDER BY type <> 'Patient', type, id";
    auto q = s_.db().prepare(sql);
    if (!q.ok()) return q.error();
    for (std::size_t i = 0; i < binds.size(); ++i) EHR_TRY(q->bind_text(static_cast<int>(i + 1), binds[i]));
    for (;;) {
      auto row = q->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      std::string type = q->column_text(0), id = q->column_text(1);
      std::string code_system = q->column_text(4), code = q->column_text(5);
      Target target{type, q->column_text(2), q->column_text(3), code.empty() ? "" : code_system + "|" + code};
      auto decision = authorize(s_, Action::kExport, target);
      if (!decision.ok()) return decision.error();
      std::string_view json = q->column_view(6);
      std::string filtered;
      bool type_filtered = o_.type_filters.filters(type);
      if (!decision->fields.empty() || type_filtered) {
        auto parsed = parse_json(json);
        if (!parsed.ok()) return Error::corruption(fmt::format("{}/{}: stored JSON does not parse", type, id));
        if (!decision->fields.empty()) {
          *parsed = apply_fields(*parsed, *decision);
          filtered = to_json(*parsed);
          json = filtered;
        }
        if (type_filtered && !o_.type_filters.matches(type, *parsed)) continue;
      }
      if (!entries_.empty()) entries_ += ',';
      entries_ += '{';
      if (!base_.empty()) entries_ += "\"fullUrl\":" + to_json(Json::string(base_ + "/" + type + "/" + id)) + ",";
      entries_ += "\"resource\":";
      entries_.append(json);
      entries_ += included ? ",\"search\":{\"mode\":\"include\"}}" : ",\"search\":{\"mode\":\"match\"}}";
      ++(included ? r_.included : r_.matches);
      ++r_.types[type];
      if (included) ++included_types_[type];
    }
    return {};
  }

  std::string audit_detail() const {
    std::string detail = "resources by bundle export (";
    std::string sep;
    for (const auto& [type, n] : r_.types) {
      auto taken = included_types_.find(type);
      std::int64_t own = n - (taken != included_types_.end() ? taken->second : 0);
      if (own == 0) continue;
      detail += fmt::format("{}{} {}", sep, type, own);
      sep = ", ";
    }
    if (!included_types_.empty()) {
      detail += sep.empty() ? "referenced " : "; referenced ";
      sep.clear();
      for (const auto& [type, n] : included_types_) {
        detail += fmt::format("{}{} {}", sep, type, n);
        sep = ", ";
      }
    }
    return detail + ")";
  }

  SessionImpl& s_;
  const BundleExportOptions& o_;
  const std::vector<std::string>& types_;
  const std::string &since_, &until_, &base_;
  BundleExportReport& r_;
  std::string entries_;
  std::map<std::string, std::int64_t> included_types_;
};

}  // namespace

Result<BundleExportReport> export_patient_bundle(Session& session, const BundleExportOptions& o) {
  SessionImpl& s = SessionImpl::of(session);
  if (o.output.empty()) return Error::invalid_argument("name the output file (-o FILE, or -o - for stdout)");
  std::vector<std::string> types;
  for (const auto& t : o.types) {
    if (!is_r4_resource_type(t))
      return Error::invalid_argument(fmt::format("--type {}: not a FHIR R4 resource type", t));
    types.push_back(t);
  }
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  EHR_TRY(o.type_filters.check_types(types));
  auto since = detail::export_time_bound("--since", o.since);
  if (!since.ok()) return since.error();
  auto until = detail::export_time_bound("--until", o.until);
  if (!until.ok()) return until.error();
  if (!since->empty() && !until->empty() && *until <= *since)
    return Error::invalid_argument(fmt::format("--until {} is not after --since {}", o.until, o.since));
  auto base = base_url_of(o.base_url);
  if (!base.ok()) return base.error();

  // May the user export at all? (Each record is decided again below.)
  auto d = authorize(s, Action::kExport, Target{"Patient", "", "", ""});
  if (!d.ok()) return d.error();
  EHR_TRY(detail::refuse_unasked_plaintext(s, o.plaintext));
  if (o.output != "-") EHR_TRY(check_output(o.output));
  auto id = resolve_patient_key(s, o.patient);
  if (!id.ok()) return id.error();

  BundleExportReport report;
  report.patient = *id;
  report.output = o.output;
  BundleWriter writer(s, o, types, *since, *until, *base, report);
  bool written = false;
  Status st = s.snapshot(nullptr, [&]() -> Status {
    EHR_TRY(writer.run());
    written = o.output != "-";
    return {};
  });
  if (!st.ok()) {
    // Written, but the audit entry did not commit: the file goes too.
    if (written) ::unlink(o.output.c_str());
    return st.error();
  }
  return report;
}

}  // namespace ehr
