// The views of the audit trail auditors read (ehr/audit.h): the filtered
// listing, one entry as a FHIR R4 AuditEvent, the accounting of disclosures
// and the break-the-glass grants with the accesses under them.
//
// Each view needs audit-read on AuditEvent and appends its own audit-read
// entry in the transaction that reads, so that what an auditor saw and the
// record of their looking cannot disagree.
//
// Sections: time bounds; AuditEvent codes; AuditEvent JSON; the views.
#include <algorithm>
#include <charconv>
#include <functional>

#include <fmt/format.h>

#include "access.h"
#include "audit_chain.h"
#include "audit_log.h"
#include "crypto_sodium.h"
#include "ehr/audit.h"
#include "ehr/json.h"
#include "instant.h"
#include "session_impl.h"
#include "sqlite_store.h"
#include "words.h"

namespace ehr {

namespace {

// --- time bounds -------------------------------------------------------------

using detail::all_digits;

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// Whether `s` is YYYY, YYYY-MM or YYYY-MM-DD naming a real year, month or day.
bool valid_date_prefix(std::string_view s) {
  if (s.size() != 4 && s.size() != 7 && s.size() != 10) return false;
  if (!all_digits(s.substr(0, 4)) || to_int(s.substr(0, 4)) == 0) return false;
  if (s.size() == 4) return true;
  if (s[4] != '-' || !all_digits(s.substr(5, 2))) return false;
  int m = to_int(s.substr(5, 2));
  if (m < 1 || m > 12) return false;
  if (s.size() == 7) return true;
  if (s[7] != '-' || !all_digits(s.substr(8, 2))) return false;
  int d = to_int(s.substr(8, 2));
  return d >= 1 && d <= detail::days_in_month(to_int(s.substr(0, 4)), m);
}

}  // namespace

std::string detail::normalised_instant(std::string_view s) {
  if (s.size() < 20 || !valid_date_prefix(s.substr(0, 10)) || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || !all_digits(s.substr(11, 2)) || !all_digits(s.substr(14, 2)) ||
      !all_digits(s.substr(17, 2)))
    return "";
  int hh = to_int(s.substr(11, 2)), mi = to_int(s.substr(14, 2)), ss = to_int(s.substr(17, 2));
  // A leap second (:60) counts as the next minute's first (QA finding dates
  // 06: with an offset it was kept as text and sorted by it).
  if (hh > 23 || mi > 59 || ss > 60) return "";
  size_t at = 19;
  int ms = 0;
  if (s[at] == '.') {
    size_t start = ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    if (at == start) return "";
    size_t kept = std::min<size_t>(3, at - start);
    std::string frac(s.substr(start, kept));
    frac.resize(3, '0');
    ms = to_int(frac);
    // Stored times have milliseconds: a finer instant rounds up, so that as
    // a bound (at or after, before) it selects exactly the stored times it
    // would (QA finding: --since ...10.5429Z took a record changed at .542).
    if (s.substr(start + kept, at - start - kept).find_first_not_of('0') != std::string_view::npos) ++ms;
  }
  int offset = 0;  // seconds east of UTC
  std::string_view zone = s.substr(at);
  if (zone == "Z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             all_digits(zone.substr(1, 2)) && all_digits(zone.substr(4, 2))) {
    int oh = to_int(zone.substr(1, 2)), om = to_int(zone.substr(4, 2));
    if (oh > 23 || om > 59) return "";
    offset = (oh * 3600 + om * 60) * (zone[0] == '-' ? -1 : 1);
  } else {
    return "";
  }
  return detail::format_instant(detail::instant_ms(to_int(s.substr(0, 4)),
                                                  static_cast<unsigned>(to_int(s.substr(5, 2))),
                                                  to_int(s.substr(8, 2)), hh, mi, ss, ms) -
                                std::int64_t{offset} * 1000);
}

std::string detail::instant_after(std::string_view stored) {
  std::string utc = normalised_instant(stored);
  if (utc.empty()) return "";
  return detail::format_instant(detail::instant_ms(to_int(utc.substr(0, 4)), static_cast<unsigned>(to_int(utc.substr(5, 2))),
                                                   to_int(utc.substr(8, 2)), to_int(utc.substr(11, 2)),
                                                   to_int(utc.substr(14, 2)), to_int(utc.substr(17, 2)),
                                                   to_int(utc.substr(20, 3))) +
                                1);
}

Result<std::string> detail::time_bound(const char* option, const std::string& value) {
  if (value.empty()) return value;
  if (valid_date_prefix(value)) return value;
  std::string instant = normalised_instant(value);
  if (!instant.empty()) return instant;
  return Error::invalid_argument(fmt::format(
      "{} {}: not a date or instant (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss]Z)", option,
      value));
}

namespace {

using detail::normalised_instant;
using detail::time_bound;

// Six years before `now` (the accounting of disclosures' default window),
// 29 February becoming 28 February: the window errs on the longer side.
std::string six_years_before(const std::string& now) {
  if (now.size() < 10 || !all_digits(std::string_view(now).substr(0, 4))) return "";
  int year = to_int(std::string_view(now).substr(0, 4)) - 6;
  std::string out = fmt::format("{:04}", year < 1 ? 1 : year) + now.substr(4);
  if (out.compare(4, 6, "-02-29") == 0 && !detail::is_leap_year(year)) out[9] = '8';
  return out;
}

// --- AuditEvent codes --------------------------------------------------------

constexpr const char* kDcm = "http://dicom.nema.org/resources/ontology/DCM";
constexpr const char* kEventType = "http://terminology.hl7.org/CodeSystem/audit-event-type";
constexpr const char* kRestful = "http://hl7.org/fhir/restful-interaction";
constexpr const char* kActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr const char* kObjectRole = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr const char* kEntityType = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr const char* kSourceType = "http://terminology.hl7.org/CodeSystem/security-source-type";

struct Code {
  const char* system;
  const char* code;
  const char* display;
};

// How an action of the trail reads as an AuditEvent. Record operations are
// the FHIR RESTful interactions they mirror (type rest, subtype the
// interaction); everything else takes the DICOM audit event ids (PS3.16
// CID 400 and 403) of IHE ATNA, with DICOM's action codes for them
// (Security Alert, User Authentication and Query execute, E).
struct EventKind {
  Code type;
  Code subtype;  // system nullptr: none
  const char* action;
};

constexpr Code kRest{kEventType, "rest", "Restful Operation"};
constexpr Code kNone{nullptr, nullptr, nullptr};
constexpr Code kSecurityAlert{kDcm, "110113", "Security Alert"};

EventKind event_kind(const AuditEntry& e) {
  const std::string& a = e.action;
  if (a == "read") {
    // A whole history or a patient's whole record is a read of many.
    if (e.resources.find("/$everything") != std::string::npos)
      return {kRest, {kRestful, "operation", "operation"}, "R"};
    if (e.resources.size() > 9 && e.resources.compare(e.resources.size() - 9, 9, "/_history") == 0)
      return {kRest, {kRestful, "history-instance", "history-instance"}, "R"};
    return {kRest, {kRestful, "read", "read"}, "R"};
  }
  if (a == "search") return {kRest, {kRestful, "search-type", "search-type"}, "E"};
  if (a == "create") return {kRest, {kRestful, "create", "create"}, "C"};
  // Retraction marks a record entered-in-error: a new version, an update.
  if (a == "update" || a == "retract") return {kRest, {kRestful, "update", "update"}, "U"};
  if (a == "purge") return {kRest, {kRestful, "delete", "delete"}, "D"};
  if (a == "import") return {{kDcm, "110107", "Import"}, kNone, "C"};
  // Patient identity: merge and unmerge rewrite records (Patient/$merge is
  // an operation), link puts records waiting for their patient by
  // identifier into a chart; a not-duplicate decision changes no record.
  if (a == "merge" || a == "unmerge" || a == "link") return {kRest, {kRestful, "operation", "operation"}, "U"};
  if (a == "not-duplicate") return {kRest, {kRestful, "operation", "operation"}, "E"};
  if (a == "export" || a == "db-backup") return {{kDcm, "110106", "Export"}, kNone, "R"};
  if (a == "emergency") return {kSecurityAlert, {kDcm, "110127", "Emergency Override Started"}, "E"};
  if (a == "login-failed") return {{kDcm, "110114", "User Authentication"}, {kDcm, "110122", "Login"}, "E"};
  if (a == "user-add" || a == "user-disable" || a == "user-enable" || a == "key-add" || a == "key-remove" ||
      a == "key-passwd")
    return {kSecurityAlert, {kDcm, "110137", "User security Attributes Changed"}, "E"};
  if (a == "role-grant" || a == "role-revoke")
    return {kSecurityAlert, {kDcm, "110136", "Security Roles Changed"}, "E"};
  // The care team decides who may read the patient's records.
  if (a == "team-add" || a == "team-remove")
    return {kSecurityAlert, {kDcm, "110135", "Object Security Attributes Changed"}, "E"};
  if (a == "policy-apply" || a == "db-rotate-key")
    return {kSecurityAlert, {kDcm, "110129", "Security Configuration"}, "E"};
  if (a == "admin") return {kSecurityAlert, {kDcm, "110132", "Use of Restricted Function"}, "E"};
  // A question put to the decision point (policy check): reads no record,
  // but may name a patient and tells who could read what.
  if (a == "policy-check") return {{kDcm, "110112", "Query"}, kNone, "E"};
  if (a == "audit-read" || a == "audit-checkpoint" || a == "audit-verify")
    return {{kDcm, "110101", "Audit Log Used"}, kNone, "R"};
  return {{kDcm, "110100", "Application Activity"}, kNone, "E"};
}

// AuditEvent.outcome: 0 success, 4 minor failure (refused, not found), 8
// serious failure (authentication), 12 major failure (an error).
const char* outcome_code(const std::string& outcome) {
  if (outcome == "ok") return "0";
  if (outcome == "denied" || outcome == "not-found" || outcome == "refused") return "4";
  if (outcome == "auth-failed") return "8";
  return "12";
}

// --- AuditEvent JSON ---------------------------------------------------------

Json coding(const Code& c) {
  Json j = Json::object();
  j.set("system", Json::string(c.system));
  j.set("code", Json::string(c.code));
  j.set("display", Json::string(c.display));
  return j;
}

Json concept_of(const Code& c) {
  Json codings = Json::array();
  codings.push_back(coding(c));
  Json j = Json::object();
  j.set("coding", std::move(codings));
  return j;
}

Json reference_to(const std::string& reference) {
  Json j = Json::object();
  j.set("reference", Json::string(reference));
  return j;
}

Json detail_item(const std::string& type, const std::string& value) {
  Json j = Json::object();
  j.set("type", Json::string(type));
  j.set("valueString", Json::string(value));
  return j;
}

// The purposes of use: the session's, and break-the-glass for an entry
// made under an emergency grant.
Json purposes_of(const AuditEntry& e) {
  Json out = Json::array();
  if (const Purpose* p = find_purpose(e.purpose)) {
    std::string code(p->code), display(p->display);
    out.push_back(concept_of({kActReason, code.c_str(), display.c_str()}));
  } else if (!e.purpose.empty()) {
    Json text = Json::object();
    text.set("text", Json::string(e.purpose));
    out.push_back(std::move(text));
  }
  if (e.emergency) out.push_back(concept_of({kActReason, "BTG", "break the glass"}));
  return out;
}

// An entity in R4's element order: what (when `what` is not empty), type, role.
Json entity(const std::string& what, const Code& type, const Code* role) {
  Json j = Json::object();
  if (!what.empty()) j.set("what", reference_to(what));
  j.set("type", coding(type));
  if (role != nullptr) j.set("role", coding(*role));
  return j;
}

constexpr Code kPerson{kEntityType, "1", "Person"};
constexpr Code kSystemObject{kEntityType, "2", "System Object"};
constexpr Code kPatientRole{kObjectRole, "1", "Patient"};
constexpr Code kResourceRole{kObjectRole, "4", "Domain Resource"};
constexpr Code kQueryRole{kObjectRole, "24", "Query"};

// One entity per resource of the entry. "Type/id" and "Type/id/_history/N"
// are literal references; a read of many ("Type/id/_history",
// "Patient/id/$everything", "Patient/id/care-team") refers to Type/id and
// names the rest in the description, with the count read.
void add_resource_entities(Json& entities, const AuditEntry& e) {
  for (const auto& token : detail::split_words(e.resources)) {
    size_t first = token.find('/');
    size_t second = first == std::string::npos ? std::string::npos : token.find('/', first + 1);
    std::string rest = second == std::string::npos ? "" : token.substr(second + 1);
    bool literal = rest.empty() || (rest.rfind("_history/", 0) == 0 && all_digits(rest.substr(9)));
    Json ent = entity(literal ? token : token.substr(0, second), kSystemObject, &kResourceRole);
    if (!literal) {
      ent.set("description", Json::string(rest));
      Json details = Json::array();
      details.push_back(detail_item("count", std::to_string(e.count)));
      ent.set("detail", std::move(details));
    }
    entities.push_back(std::move(ent));
  }
}

}  // namespace

std::string audit_event_json(const AuditEntry& e, const std::string& trail_id) {
  EventKind kind = event_kind(e);
  Json ev = Json::object();
  ev.set("resourceType", Json::string("AuditEvent"));
  ev.set("id", Json::string(fmt::format("{}-{}", trail_id, e.seq)));
  ev.set("type", coding(kind.type));
  if (kind.subtype.system != nullptr) {
    Json sub = Json::array();
    sub.push_back(coding(kind.subtype));
    ev.set("subtype", std::move(sub));
  }
  ev.set("action", Json::string(kind.action));
  ev.set("recorded", Json::string(e.time));
  ev.set("outcome", Json::string(outcome_code(e.outcome)));
  ev.set("outcomeDesc", Json::string(e.detail.empty() ? e.outcome : e.outcome + ": " + e.detail));
  Json purposes = purposes_of(e);
  if (purposes.size() > 0) ev.set("purposeOfEvent", purposes);

  Json agents = Json::array();
  Json agent = Json::object();
  std::vector<std::string> roles = detail::split_words(e.roles);
  if (!roles.empty()) {
    Json list = Json::array();
    for (const auto& r : roles) {
      Json role = Json::object();
      role.set("text", Json::string(r));
      list.push_back(std::move(role));
    }
    agent.set("role", std::move(list));
  }
  Json who = Json::object();
  Json id = Json::object();
  id.set("value", Json::string(e.user));
  who.set("identifier", std::move(id));
  agent.set("who", std::move(who));
  agent.set("requestor", Json::boolean(true));
  if (purposes.size() > 0) agent.set("purposeOfUse", purposes);
  agents.push_back(std::move(agent));
  if (!e.recipient.empty()) {
    // The party outside the organisation that received the data.
    Json to = Json::object();
    to.set("type", concept_of({kDcm, "110152", "Destination Role ID"}));
    Json named = Json::object();
    named.set("display", Json::string(e.recipient));
    to.set("who", std::move(named));
    to.set("requestor", Json::boolean(false));
    agents.push_back(std::move(to));
  }
  ev.set("agent", std::move(agents));

  Json source = Json::object();
  Json observer = Json::object();
  Json trail = Json::object();
  trail.set("value", Json::string(trail_id));
  observer.set("identifier", std::move(trail));
  observer.set("display", Json::string(e.tool.empty() ? "ehr" : e.tool));
  source.set("observer", std::move(observer));
  Json types = Json::array();
  types.push_back(coding({kSourceType, "4", "Application Server"}));
  source.set("type", std::move(types));
  ev.set("source", std::move(source));

  Json entities = Json::array();
  for (const auto& p : detail::split_words(e.patients)) {
    entities.push_back(entity("Patient/" + p, kPerson, &kPatientRole));
  }
  add_resource_entities(entities, e);
  if (!e.query_hash.empty()) {
    // A search's query, by its hash (the query itself may name a patient);
    // for other actions the digest of what was acted on (a policy's text).
    bool search = e.action == "search";
    Json ent = entity("", kSystemObject, search ? &kQueryRole : nullptr);
    Json details = Json::array();
    details.push_back(detail_item(search ? "query-hash" : "digest", e.query_hash));
    if (search) details.push_back(detail_item("count", std::to_string(e.count)));
    ent.set("detail", std::move(details));
    entities.push_back(std::move(ent));
  }
  if (entities.size() > 0) ev.set("entity", std::move(entities));
  return to_json(ev);
}

std::string audit_trail_id(Session& session) { return SessionImpl::of(session).chain().trail_id; }

// --- the views ---------------------------------------------------------------

namespace {

// An entry naming patient ? (its patients column holds ids separated by spaces).
constexpr const char* kPatientMatch = "instr(' ' || patients || ' ', ' ' || ? || ' ') > 0";

// The patient a view's --patient names.
struct AskedPatient {
  std::string key;  // as given
  std::string id;   // the stored patient's id, or `key`
  bool stored = false;
};

// The patient id `key` names (an id, or an identifier value such as an MRN
// of one patient); a key naming no patient is taken as an id, since the
// trail outlives purged patients. Errors: kConflict for an ambiguous key.
Result<AskedPatient> patient_of(SessionImpl& s, const std::string& key) {
  // (Not resolve_patient_key: the view's own entry says what was asked.)
  auto ids = patients_for_key(s, key);
  if (!ids.ok()) return ids.error();
  if (ids->size() > 1)
    return ambiguous_patient_key(key, ids->size());
  if (ids->empty()) return AskedPatient{key, key, false};
  return AskedPatient{key, ids->front(), true};
}

// Names the patient a view was asked about in its audit-read entry `rec`:
// a stored patient, or a key the trail itself names as a patient (the view
// `found` entries, or some entry does: a purged patient's id), by id. Any
// other key could be anything typed (a name, a diagnosis), so the
// append-only trail keeps only its hash. Errors: storage errors.
Status name_asked_patient(SessionImpl& s, AuditRecord& rec, const AskedPatient& p, bool found) {
  if (!p.stored && !found) {
    auto named = s.rows(fmt::format("SELECT 1 FROM audit WHERE {} LIMIT 1", kPatientMatch), {p.id});
    if (!named.ok()) return named.error();
    found = !named->empty();
  }
  if (p.stored || found) rec.patients = p.id;
  else rec.query_hash = crypto::blake2b_256_hex("audit-patient|" + p.key);
  return {};
}

Status may_read_trail(SessionImpl& s) {
  auto d = authorize(s, Action::kAuditRead, Target{"AuditEvent", "", "", ""});
  if (!d.ok()) return d.error();
  return {};
}

// Runs `read` and then writes the view's audit-read entry, in one
// transaction, after checking audit-read.
Status audited_view(SessionImpl& s, const std::function<Status(AuditRecord&)>& read) {
  return s.transaction([&]() -> Status {
    EHR_TRY(may_read_trail(s));
    AuditRecord rec{"audit-read", "ok", "", "", "", 0, ""};
    EHR_TRY(read(rec));
    return write_audit(s, rec);
  });
}

}  // namespace

Result<std::vector<AuditEntry>> list_audit(Session& session, const AuditFilter& f) {
  SessionImpl& s = SessionImpl::of(session);
  auto since = time_bound("--since", f.since);
  if (!since.ok()) return since.error();
  auto until = time_bound("--until", f.until);
  if (!until.ok()) return until.error();
  // Times compare as text (a date a prefix of an instant), so a range with
  // since >= until holds nothing: a mistake (swapped options), not a query.
  if (!since->empty() && !until->empty() && *since >= *until)
    return Error::invalid_argument(
        fmt::format("--since {} is not before --until {}: no entry can match", f.since, f.until));
  if (f.limit < 0) return Error::invalid_argument(fmt::format("--limit {}: must be 0 (all entries) or more", f.limit));
  std::vector<AuditEntry> out;
  Status st = audited_view(s, [&](AuditRecord& rec) -> Status {
    std::string patient;
    AskedPatient asked_patient;
    if (!f.patient.empty()) {
      auto p = patient_of(s, f.patient);
      if (!p.ok()) return p.error();
      asked_patient = std::move(*p);
      patient = asked_patient.id;
    }
    std::string where;
    std::vector<std::string> binds;
    auto add = [&](const char* clause, const std::string& value) {
      where += std::string(where.empty() ? " WHERE " : " AND ") + clause;
      binds.push_back(value);
    };
    if (!patient.empty()) add(kPatientMatch, patient);
    if (!f.user.empty()) add("user = ?", f.user);
    if (!f.action.empty()) add("action = ?", f.action);
    if (!since->empty()) add("time >= ?", *since);
    if (!until->empty()) add("time < ?", *until);
    if (f.emergency_only) where += std::string(where.empty() ? " WHERE " : " AND ") + "emergency = 1";
    std::string sql = fmt::format("SELECT {} FROM audit{} ORDER BY seq{}", kAuditColumns, where,
                                  f.limit > 0 ? fmt::format(" DESC LIMIT {}", f.limit) : "");
    auto q = s.db().prepare(sql);
    if (!q.ok()) return q.error();
    for (size_t i = 0; i < binds.size(); ++i) EHR_TRY(q->bind_text(static_cast<int>(i + 1), binds[i]));
    for (;;) {
      auto row = q->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      out.push_back(audit_entry_of(*q));
    }
    if (f.limit > 0) std::reverse(out.begin(), out.end());
    // What was asked, without the patient (which has its own column).
    std::string asked = "trail";
    if (!f.user.empty()) asked += " user=" + f.user;
    if (!f.action.empty()) asked += " action=" + f.action;
    if (!since->empty()) asked += " since=" + *since;
    if (!until->empty()) asked += " until=" + *until;
    if (f.emergency_only) asked += " emergency";
    if (f.limit > 0) asked += fmt::format(" limit={}", f.limit);
    if (!patient.empty()) EHR_TRY(name_asked_patient(s, rec, asked_patient, !out.empty()));
    rec.count = static_cast<std::int64_t>(out.size());
    rec.detail = asked;
    return {};
  });
  if (!st.ok()) return st.error();
  return out;
}

Result<std::vector<Disclosure>> list_disclosures(Session& session, const std::string& patient_key,
                                                 const std::string& since_given) {
  SessionImpl& s = SessionImpl::of(session);
  if (patient_key.empty()) return Error::invalid_argument("name the patient (--patient)");
  auto since = time_bound("--since", since_given);
  if (!since.ok()) return since.error();
  std::string from = since->empty() ? six_years_before(s.now()) : *since;
  std::vector<Disclosure> out;
  Status st = audited_view(s, [&](AuditRecord& rec) -> Status {
    auto patient = patient_of(s, patient_key);
    if (!patient.ok()) return patient.error();
    // Exports audited but never put in place (their output directory was
    // filled meanwhile): a later entry with outcome "error" names their
    // entries, which disclosed nothing.
    std::vector<std::pair<std::int64_t, std::int64_t>> undelivered;
    {
      auto rows = s.rows("SELECT detail FROM audit WHERE action = 'export' AND outcome = 'error'", {});
      if (!rows.ok()) return rows.error();
      for (const auto& r : *rows)
        if (auto range = undelivered_export_range(r[0])) undelivered.push_back(*range);
    }
    // What left the organisation: reads and searches that succeeded in a
    // session naming a recipient, and every export (a file of records that
    // can travel; without a recipient named it is listed as unnamed).
    auto q = s.db().prepare(fmt::format(
        "SELECT seq, time, recipient, user, resources, count, detail, purpose FROM audit "
        "WHERE outcome = 'ok' AND (action = 'export' OR (recipient <> '' AND action IN ('read', 'search'))) "
        "AND {} AND time >= ? ORDER BY seq",
        kPatientMatch));
    if (!q.ok()) return q.error();
    EHR_TRY(q->bind_text(1, patient->id));
    EHR_TRY(q->bind_text(2, from));
    for (;;) {
      auto row = q->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      Disclosure d;
      d.seq = q->column_int(0);
      if (std::any_of(undelivered.begin(), undelivered.end(),
                      [&](const auto& r) { return d.seq >= r.first && d.seq <= r.second; }))
        continue;
      d.time = q->column_text(1);
      d.recipient = q->column_text(2);
      if (d.recipient.empty()) d.recipient = kUnnamedRecipient;
      d.user = q->column_text(3);
      std::string resources = q->column_text(4);
      d.what = !resources.empty() ? resources : fmt::format("{} {}", q->column_int(5), q->column_text(6));
      d.purpose = q->column_text(7);
      const Purpose* p = find_purpose(d.purpose);
      d.excluded = p != nullptr && p->excluded_from_accounting;
      out.push_back(std::move(d));
    }
    EHR_TRY(name_asked_patient(s, rec, *patient, !out.empty()));
    rec.count = static_cast<std::int64_t>(out.size());
    rec.detail = "disclosures since=" + from;
    return {};
  });
  if (!st.ok()) return st.error();
  return out;
}

Result<std::vector<EmergencyAccess>> list_emergencies(Session& session, const std::string& since_given) {
  SessionImpl& s = SessionImpl::of(session);
  auto since = time_bound("--since", since_given);
  if (!since.ok()) return since.error();
  std::vector<EmergencyAccess> out;
  Status st = audited_view(s, [&](AuditRecord& rec) -> Status {
    // The accesses under a grant: its user's entries flagged emergency that
    // name its patient within [started, expires), its own start excluded.
    const std::string under =
        "FROM audit a WHERE a.emergency = 1 AND a.user = g.user AND a.action <> 'emergency' "
        "AND instr(' ' || a.patients || ' ', ' ' || g.patient || ' ') > 0 "
        "AND a.time >= g.started AND a.time < g.expires";
    auto q = s.db().prepare(fmt::format(
        "SELECT g.id, g.user, g.patient, g.reason, g.started, g.expires, (SELECT count(*) {0}), "
        "(SELECT coalesce(max(a.time), '') {0}), e.seq, e.query_hash FROM emergency g "
        "LEFT JOIN audit e ON e.action = 'emergency' AND e.outcome = 'ok' AND e.user = g.user "
        "AND e.patients = g.patient AND e.detail = 'grant ' || g.id || ' until ' || g.expires "
        "WHERE g.started >= ? ORDER BY g.id",
        under));
    if (!q.ok()) return q.error();
    EHR_TRY(q->bind_text(1, *since));
    for (;;) {
      auto row = q->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      EmergencyAccess g;
      g.grant = q->column_int(0);
      g.user = q->column_text(1);
      g.patient = q->column_text(2);
      g.reason = q->column_text(3);
      g.started = q->column_text(4);
      g.expires = q->column_text(5);
      g.accesses = q->column_int(6);
      g.last_access = q->column_text(7);
      g.entry = q->column_is_null(8) ? 0 : q->column_int(8);
      std::string seal = q->column_text(9);
      // A grant of an older ehr sealed nothing (its entry's query_hash is "").
      g.reason_intact = g.entry != 0 && (seal.empty() || seal == emergency_reason_seal(s.chain(), g.reason));
      out.push_back(std::move(g));
    }
    // Entries that started a grant whose row is gone (deleted outside ehr):
    // listed from the entry, so the review still shows the glass was broken.
    // The table's own rows are asked (NOT INDEXED), not its covering index.
    auto lost = s.db().prepare(
        "SELECT e.seq, e.user, e.patients, e.time, e.detail FROM audit e "
        "WHERE e.action = 'emergency' AND e.outcome = 'ok' AND e.detail LIKE 'grant % until %' AND e.time >= ? "
        "AND NOT EXISTS (SELECT 1 FROM emergency g NOT INDEXED WHERE g.user = e.user AND g.patient = e.patients "
        "AND e.detail = 'grant ' || g.id || ' until ' || g.expires) ORDER BY e.seq");
    if (!lost.ok()) return lost.error();
    EHR_TRY(lost->bind_text(1, *since));
    for (;;) {
      auto row = lost->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      EmergencyAccess g;
      g.entry = lost->column_int(0);
      g.user = lost->column_text(1);
      g.patient = lost->column_text(2);
      g.started = lost->column_text(3);
      std::string detail = lost->column_text(4);  // "grant N until T"
      std::size_t until = detail.find(" until ");
      std::from_chars(detail.data() + 6, detail.data() + until, g.grant);
      g.expires = detail.substr(until + 7);
      auto n = s.rows(
          "SELECT count(*), coalesce(max(time), '') FROM audit WHERE emergency = 1 AND user = ? "
          "AND action <> 'emergency' AND instr(' ' || patients || ' ', ' ' || ? || ' ') > 0 "
          "AND seq > ? AND time < ?",  // after its entry: the row's start time is gone with it
          {g.user, g.patient, std::to_string(g.entry), g.expires});
      if (!n.ok()) return n.error();
      g.accesses = std::stoll((*n)[0][0]);
      g.last_access = (*n)[0][1];
      g.reason_intact = false;
      g.grant_missing = true;
      out.push_back(std::move(g));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const EmergencyAccess& a, const EmergencyAccess& b) { return a.grant < b.grant; });
    rec.count = static_cast<std::int64_t>(out.size());
    rec.detail = since->empty() ? "emergencies" : "emergencies since=" + *since;
    return {};
  });
  if (!st.ok()) return st.error();
  return out;
}

}  // namespace ehr
