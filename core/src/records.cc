// The record model (ehr/records.h): versioned FHIR resources with lookup
// columns, history, tombstones, and patient lookups.
//
// Sections: helpers; writing (create, update, retract, purge); reading
// (read, history, patient record, lists, patient search).

#include "ehr/records.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "access.h"
#include "audit_log.h"
#include "crypto_sodium.h"
#include "instant.h"
#include "patient_keys.h"
#include "ehr/validate.h"
#include "record_writer.h"
#include "resource_index.h"
#include "session_impl.h"
#include "words.h"

namespace ehr {

namespace {

// --- helpers -------------------------------------------------------------

// The session's statement cache, as patient_keys.h takes it.
detail::Prepare prepare_of(SessionImpl& s) {
  return [&s](const std::string& sql) { return s.statement(sql); };
}

std::string new_id() {
  std::uint8_t b[16];
  crypto::random_bytes(crypto::MutBytes(b, sizeof b));
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);  // variant 1
  std::string s;
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}


// The resource with ehr's meta set, members in FHIR's usual order
// (resourceType, id, meta first). Takes `in` apart: its members move.
Json with_meta(Json in, const std::string& id, std::int64_t version, const std::string& last_updated) {
  Json out = Json::object();
  auto& members = out.members();
  members.reserve(in.size() + 3);
  members.emplace_back("resourceType", std::move(*in.find("resourceType")));
  members.emplace_back("id", Json::string(id));
  // versionId and lastUpdated first, then whatever the resource carried.
  Json meta = Json::object();
  meta.members().emplace_back("versionId", Json::string(std::to_string(version)));
  meta.members().emplace_back("lastUpdated", Json::string(last_updated));
  if (Json* m = in.find("meta"); m != nullptr && m->is_object())
    for (auto& [k, v] : m->members())
      if (k != "versionId" && k != "lastUpdated") meta.members().emplace_back(std::move(k), std::move(v));
  members.emplace_back("meta", std::move(meta));
  // An object's members are unique (parse_json and Json::set see to it).
  for (auto& [k, v] : in.members())
    if (k != "resourceType" && k != "id" && k != "meta") members.emplace_back(std::move(k), std::move(v));
  return out;
}

// The content without ehr-owned meta, for "did anything change".
std::string content_key(const Json& r) {
  Json c = r;
  if (Json* meta = c.find("meta"); meta != nullptr && meta->is_object()) {
    meta->erase("versionId");
    meta->erase("lastUpdated");
    if (meta->size() == 0) c.erase("meta");
  }
  c.erase("id");
  return to_json_canonical(c);
}

bool is_redacted_label(const Json& coding) {
  return coding.is_object() && text_of(coding.find("code")) == "REDACTED" &&
         text_of(coding.find("system")) == "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
}

// `incoming` with the stored members outside `fields` put back, and the
// REDACTED label of a filtered copy dropped: what a user who sees only
// `fields` means by an update.
Json merge_hidden(const Json& stored, const Json& incoming, const std::vector<std::string>& fields) {
  auto visible = [&](const std::string& k) {
    return k == "resourceType" || k == "id" || k == "meta" ||
           std::find(fields.begin(), fields.end(), k) != fields.end();
  };
  Json out = Json::object();
  for (const auto& [k, v] : incoming.members())
    if (visible(k)) out.set(k, v);
  for (const auto& [k, v] : stored.members())
    if (!visible(k)) out.set(k, v);
  if (Json* meta = out.find("meta"); meta != nullptr && meta->is_object())
    if (Json* sec = meta->find("security"); sec != nullptr && sec->is_array()) {
      auto& items = sec->items();
      items.erase(std::remove_if(items.begin(), items.end(), is_redacted_label), items.end());
      if (items.empty()) meta->erase("security");
    }
  return out;
}

Result<std::int64_t> next_seq(SessionImpl& s) { return s.next_seq(); }

StoredJson row_to_stored(store::Statement& q) {
  // Columns: type, id, version, seq, last_updated, patient, retracted, json,
  // security, code
  StoredJson r;
  r.type = q.column_text(0);
  r.id = q.column_text(1);
  r.version = q.column_int(2);
  r.seq = q.column_int(3);
  r.last_updated = q.column_text(4);
  r.patient = q.column_text(5);
  r.retracted = q.column_int(6) != 0;
  r.json = q.column_text(7);
  r.security = q.column_text(8);
  r.code = q.column_text(9);
  return r;
}

StoredResource row_to_resource(store::Statement& q) { return parse_stored(row_to_stored(q)); }

constexpr const char* kColumns =
    "type, id, version, seq, last_updated, coalesce(patient,''), retracted, json, "
    "coalesce(security,''), CASE WHEN code IS NULL THEN '' ELSE coalesce(code_system,'') || '|' || code END";

// What the decision point needs to know of a stored resource.
Target target_of(const StoredResource& r) { return Target{r.type, r.patient, r.security, r.code}; }
Target target_of(const StoredJson& r) { return Target{r.type, r.patient, r.security, r.code}; }

Target target_of(const std::string& type, const IndexEntry& e) {
  return Target{type, e.patient, e.security, e.code.empty() ? "" : e.code_system + "|" + e.code};
}

Result<std::optional<StoredJson>> load_json(SessionImpl& s, const std::string& type,
                                            const std::string& id) {
  auto st = s.statement(fmt::format("SELECT {} FROM resource WHERE type = ? AND id = ?", kColumns));
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, type));
  EHR_TRY((*st)->bind_text(2, id));
  auto row = (*st)->step();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<StoredJson>();
  std::optional<StoredJson> out(row_to_stored(**st));
  (void)(*st)->reset();  // release the read snapshot (see load_user)
  return out;
}

Result<std::optional<StoredResource>> load(SessionImpl& s, const std::string& type,
                                           const std::string& id) {
  auto r = load_json(s, type, id);
  if (!r.ok()) return r.error();
  if (!r->has_value()) return std::optional<StoredResource>();
  return std::optional<StoredResource>(parse_stored(std::move(**r)));
}

// The first validation error of `resource`, written by a user here (record
// add, amend, patient add and update): an element R4 does not define
// (unknown-element, a warning for imports, whose sources ehr cannot correct)
// counts as an error, unless `before`, the stored version being replaced,
// had it already (so a record imported with one can still be amended or
// retracted).
Status first_validation_error(const Json& resource, const Json* before = nullptr) {
  std::vector<ValidationIssue> issues = validate_resource(resource);
  for (const auto& issue : issues)
    if (issue.is_error) return Error::invalid_data(format_issue(issue));
  std::optional<std::vector<ValidationIssue>> had;
  for (const auto& issue : issues) {
    if (issue.rule != "unknown-element") continue;
    if (before != nullptr && !had) had = validate_resource(*before);
    if (had && std::any_of(had->begin(), had->end(), [&](const ValidationIssue& h) {
          return h.rule == issue.rule && h.path == issue.path;
        }))
      continue;
    return Error::invalid_data(format_issue(issue));
  }
  return {};
}

// Writes the index rows of resource `rid`, replacing those it had unless
// it is `fresh` (a new row: it has none). A reference to the record's own
// patient (e.patient, its resource row's patient column) gets no reference
// row: the patient column says it already, and a merge finds those records
// by it (patient_merge.cc). Every Observation's subject went into the
// reference_patient index, in random id order (migration 11, issue 7).
Status write_index(SessionImpl& s, std::int64_t rid, const std::string& type, const IndexEntry& e, bool fresh) {
  if (!fresh)
    for (const char* sql : {"DELETE FROM identifier WHERE rid = ?", "DELETE FROM reference WHERE rid = ?",
                            "DELETE FROM name_token WHERE rid = ?",
                            type == "Patient" ? "DELETE FROM match_key WHERE rid = ?" : nullptr}) {
      if (sql == nullptr) continue;  // only patients have match keys
      auto st = s.statement(sql);
      if (!st.ok()) return st.error();
      EHR_TRY((*st)->bind_int(1, rid));
      auto r = (*st)->step();
      if (!r.ok()) return r.error();
    }
  for (const auto& [system, value] : e.identifiers) {
    auto st = s.statement("INSERT INTO identifier(rid, type, system, value) VALUES(?,?,?,?)");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_int(1, rid));
    EHR_TRY((*st)->bind_text(2, type));
    EHR_TRY((*st)->bind_text(3, system));
    EHR_TRY((*st)->bind_text(4, value));
    auto r = (*st)->step();
    if (!r.ok()) return r.error();
  }
  EHR_TRY(detail::insert_references(prepare_of(s), rid, e));
  for (const auto& key : e.match_keys) {
    auto st = s.statement("INSERT INTO match_key(key, rid) VALUES(?,?)");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, key));
    EHR_TRY((*st)->bind_int(2, rid));
    auto r = (*st)->step();
    if (!r.ok()) return r.error();
  }
  for (const auto& token : e.name_tokens) {
    auto st = s.statement("INSERT INTO name_token(rid, token) VALUES(?,?)");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_int(1, rid));
    EHR_TRY((*st)->bind_text(2, token));
    auto r = (*st)->step();
    if (!r.ok()) return r.error();
  }
  if (type == "Patient") return {};
  return detail::write_record_keys(prepare_of(s), rid, e, fresh);
}

// The identifiers (system, value) stored Patient `id` holds. REQUIRES: in a transaction.
Result<std::vector<std::pair<std::string, std::string>>> held_identifiers(SessionImpl& s, const std::string& id) {
  auto rows = s.rows("SELECT i.system, i.value FROM identifier i JOIN resource r ON r.rid = i.rid "
                     "WHERE r.type = 'Patient' AND r.id = ?",
                     {id});
  if (!rows.ok()) return rows.error();
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& row : *rows) out.emplace_back(std::move(row[0]), std::move(row[1]));
  return out;
}

// After a write or purge of Patient `id` that holds or held `identifiers`:
// the records keyed on one of them (patient_keys.h) whose patient is now
// another move, each only if the session's user may update or import it
// where it is: a clinician limited to the care team cannot pull an
// unidentified patient's results into a chart by registering a Patient
// with guessed MRNs. Those stay where they are until a write of such a
// Patient by a user who may (an import feed). When the write removes the
// Patient (`removing`: a retraction or a purge, which the user was allowed),
// the records in its chart leave it whatever the user may do with them: they
// go to the other holder of their key, or to no chart, never towards the
// user (stop 29's list: an admin's purge left them in the tombstone's
// chart). One audit entry (action link) names the records moved and the
// patients they left and joined.
Status relink_records(SessionImpl& s, const std::string& id,
                      const std::vector<std::pair<std::string, std::string>>& identifiers, bool removing) {
  if (identifiers.empty()) return {};
  auto moved = detail::link_keyed_records(
      prepare_of(s), identifiers,
      [&s, &id, removing](const std::string& type, const std::string& was, const std::string& security,
                          const std::string& code) -> Result<bool> {
        if (removing && was == id) return true;
        for (Action a : {Action::kUpdate, Action::kImport}) {
          auto d = decide(s, a, Target{type, was, security, code}, false);
          if (!d.ok()) return d.error();
          if (d->allowed) return true;
        }
        return false;
      },
      [&s]() { return s.next_seq(); });
  if (!moved.ok()) return moved.error();
  if (moved->empty()) return {};
  std::set<std::string> patients{id};
  std::vector<std::string> refs;
  for (const auto& r : *moved) {
    for (const std::string* p : {&r.was, &r.patient})
      if (is_single_patient(*p)) patients.insert(*p);
    refs.push_back(r.type + "/" + r.id);
  }
  return write_audit(s, {"link", "ok", detail::join_words({patients.begin(), patients.end()}),
                         detail::join_words(refs), "", static_cast<std::int64_t>(refs.size()),
                         "by identifier"});
}

// History. The current version's entry (action, author, reason; its time,
// seq, patient and content are the row's last_updated, seq, patient and
// json) is kept in its resource row, so that writing a version writes one
// row, not two: the history table holds the versions a later one has
// superseded, and the purge entries (migration 9). Databases written before
// hold a history row for the current version too (the resource row's action
// is NULL then), whose json migration 9 set NULL: the row's json is its
// content. resource_history reads both.

// A history row for version `r` without content: a purge entry.
Status write_history(SessionImpl& s, const StoredResource& r, const std::string& action,
                     const std::string& reason) {
  auto st = s.statement(
      "INSERT INTO history(type, id, version, seq, action, author, time, reason, patient, json) "
      "VALUES(?,?,?,?,?,?,?,?,?,NULL)");
  if (!st.ok()) return st.error();
  store::Statement& q = **st;
  EHR_TRY(q.bind_text(1, r.type));
  EHR_TRY(q.bind_text(2, r.id));
  EHR_TRY(q.bind_int(3, r.version));
  EHR_TRY(q.bind_int(4, r.seq));
  EHR_TRY(q.bind_text(5, action));
  EHR_TRY(q.bind_text(6, s.user()));
  EHR_TRY(q.bind_text(7, r.last_updated));
  EHR_TRY(q.bind_text(8, reason));
  EHR_TRY(r.patient.empty() ? q.bind_null(9) : q.bind_text(9, r.patient));
  auto done = q.step();
  if (!done.ok()) return done.error();
  return {};
}

// Before type/id's resource row is replaced by a new version, or deleted
// (`with_content` false: a purge): the entry of the version it holds moves
// into history, with its content (an older database's history row of it
// receives the content instead).
Status supersede(SessionImpl& s, const std::string& type, const std::string& id, bool with_content) {
  // The entry, with the content or (a purge) without: the same statement
  // but for the last column.
#define EHR_SUPERSEDE_SQL(content)                                                                   \
  "INSERT INTO history(type, id, version, seq, action, author, time, reason, patient, json) "       \
  "SELECT type, id, version, seq, action, coalesce(author, ''), last_updated, coalesce(reason, ''), " \
  "patient, " content " FROM resource WHERE type = ?1 AND id = ?2 AND action IS NOT NULL"
  const char* sql[] = {
      with_content ? EHR_SUPERSEDE_SQL("json") : EHR_SUPERSEDE_SQL("NULL"),
      with_content ? "UPDATE history SET json = (SELECT r.json FROM resource r WHERE r.type = ?1 AND r.id = ?2) "
                     "WHERE type = ?1 AND id = ?2 AND json IS NULL AND version = "
                     "(SELECT r.version FROM resource r WHERE r.type = ?1 AND r.id = ?2 AND r.action IS NULL)"
                   : nullptr};
#undef EHR_SUPERSEDE_SQL
  for (const char* q : sql) {
    if (q == nullptr) continue;
    auto st = s.statement(q);
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, type));
    EHR_TRY((*st)->bind_text(2, id));
    auto done = (*st)->step();
    if (!done.ok()) return done.error();
  }
  return {};
}

// Patient rows take rids below kFirstRecordRid, every other resource rids
// from it up, so the patients sit together in the resource table rather than
// one among every ten observations: a patient search reads a few hundred
// rows in random order, and together they share far fewer table pages
// (leaves and the interior pages above them). Records are appended at the
// table's right end as before. A database written before this (all rids
// below the mark) keeps its rows where they are and continues so.
constexpr std::int64_t kFirstRecordRid = std::int64_t{1} << 40;

// The rid for a new row of `type`: one past the last of its range.
Result<std::int64_t> next_rid(SessionImpl& s, const std::string& type) {
  bool patient = type == "Patient";
  auto st = s.statement(patient ? "SELECT rid FROM resource WHERE rid < ? ORDER BY rid DESC LIMIT 1"
                                : "SELECT rid FROM resource WHERE rid >= ? ORDER BY rid DESC LIMIT 1");
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_int(1, kFirstRecordRid));
  auto row = (*st)->step();
  if (!row.ok()) return row.error();
  std::int64_t last = *row ? (*st)->column_int(0) : (patient ? 0 : kFirstRecordRid - 1);
  (void)(*st)->reset();
  if (patient && last + 1 >= kFirstRecordRid)
    return Error::internal("the resource table has no rid left for patients");
  return last + 1;
}

// Stores version `r` (new or replacing the current row) with its index
// (`index` when given, else computed) and its history entry (`action`, the
// session's user, `reason`).
Status store_version(SessionImpl& s, StoredResource& r, bool is_new, bool retracted, const std::string& action,
                     const std::string& reason, const IndexEntry* index) {
  IndexEntry e = index != nullptr ? *index : index_resource(r.resource);
  EHR_TRY(detail::resolve_patient(s, e));
  // A Patient's identifiers before and after: records keyed on either may move.
  std::vector<std::pair<std::string, std::string>> keys;
  if (r.type == "Patient") {
    if (!is_new) {
      auto held = held_identifiers(s, r.id);
      if (!held.ok()) return held.error();
      keys = std::move(*held);
    }
    keys.insert(keys.end(), e.identifiers.begin(), e.identifiers.end());
  }
  r.patient = e.patient;
  r.retracted = retracted;
  std::int64_t new_rid = 0;
  if (is_new) {
    auto rid = next_rid(s, r.type);
    if (!rid.ok()) return rid.error();
    new_rid = *rid;
  }
  auto st = s.statement(
      is_new ? "INSERT INTO resource(type, id, version, seq, last_updated, patient, status, "
               "code_system, code, clinical_date, security, retracted, json, sort_name, action, author, "
               "reason, rid, team) "
               "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, CASE WHEN ?1 = 'Patient' THEN "
               "(SELECT group_concat(user, ' ') FROM care_team WHERE patient = ?2) END)"
             : "UPDATE resource SET type = ?, id = ?, version = ?, seq = ?, last_updated = ?, "
               "patient = ?, status = ?, code_system = ?, code = ?, clinical_date = ?, "
               "security = ?, retracted = ?, json = ?, sort_name = ?, action = ?, author = ?, reason = ? "
               "WHERE type = ?1 AND id = ?2 RETURNING rid");
  if (!st.ok()) return st.error();
  store::Statement& q = **st;
  auto opt = [&](int i, const std::string& v) { return v.empty() ? q.bind_null(i) : q.bind_text(i, v); };
  EHR_TRY(q.bind_text(1, r.type));
  EHR_TRY(q.bind_text(2, r.id));
  EHR_TRY(q.bind_int(3, r.version));
  EHR_TRY(q.bind_int(4, r.seq));
  EHR_TRY(q.bind_text(5, r.last_updated));
  EHR_TRY(opt(6, e.patient));
  EHR_TRY(opt(7, e.status));
  EHR_TRY(opt(8, e.code_system));
  EHR_TRY(opt(9, e.code));
  EHR_TRY(opt(10, e.clinical_date));
  EHR_TRY(opt(11, e.security));
  EHR_TRY(q.bind_int(12, retracted ? 1 : 0));
  EHR_TRY(q.bind_text(13, to_json(r.resource)));
  EHR_TRY(opt(14, e.sort_name));
  EHR_TRY(q.bind_text(15, action));
  EHR_TRY(q.bind_text(16, s.user()));
  EHR_TRY(q.bind_text(17, reason));
  if (is_new) EHR_TRY(q.bind_int(18, new_rid));
  auto row = q.step();
  if (!row.ok()) return row.error();
  if (is_new) {
    EHR_TRY(write_index(s, new_rid, r.type, e, true));
  } else {
    if (!*row) return Error::internal("resource row was not written");
    std::int64_t rid = q.column_int(0);
    (void)q.step();
    EHR_TRY(write_index(s, rid, r.type, e, false));
  }
  return relink_records(s, r.id, keys, r.type == "Patient" && retracted);
}

std::string resource_ref(const StoredResource& r) {
  return fmt::format("{}/{}/_history/{}", r.type, r.id, r.version);
}

bool is_retracted_content(const Json& r) {
  if (text_of(r.find("status")) == "entered-in-error") return true;
  const Json* vs = r.find("verificationStatus");
  if (vs != nullptr)
    if (const Json* coding = vs->find("coding"); coding != nullptr && coding->is_array())
      for (const auto& c : coding->items())
        if (text_of(c.find("code")) == "entered-in-error") return true;
  return false;
}

}  // namespace

StoredResource parse_stored(StoredJson r) {
  StoredResource out;
  out.type = std::move(r.type);
  out.id = std::move(r.id);
  out.version = r.version;
  out.seq = r.seq;
  out.last_updated = std::move(r.last_updated);
  out.patient = std::move(r.patient);
  out.retracted = r.retracted;
  out.security = std::move(r.security);
  out.code = std::move(r.code);
  auto parsed = parse_json(r.json);
  out.resource = parsed.ok() ? std::move(*parsed) : Json();
  return out;
}

// --- writing -----------------------------------------------------------------

namespace {

// Checks, authorizes and validates one resource for creation; assigns an id.
Status prepare_create(SessionImpl& s, Json& resource) {
  if (!resource.is_object()) return Error::invalid_data("a resource must be a JSON object");
  std::string type = text_of(resource.find("resourceType"));
  if (!resource.find("id") || !resource.find("id")->is_string())
    resource.set("id", Json::string(new_id()));
  IndexEntry probe = index_resource(resource);
  EHR_TRY(detail::resolve_patient(s, probe));
  auto allowed = authorize(s, Action::kCreate, target_of(type, probe));
  if (!allowed.ok()) return allowed.error();
  EHR_TRY(first_validation_error(resource));
  // A patient merged into another is no longer charted on: a record added
  // there would stay off the surviving chart (its allergies unseen by the
  // checks on the target's orders). Imports of the source's records land on
  // the target through the merge's import alias instead.
  if (type != "Patient") {
    for (const std::string& p : probe.patients) {
      auto into = s.rows("SELECT target FROM patient_merge WHERE source = ?", {p});
      if (!into.ok()) return into.error();
      if (!into->empty())
        return Error::conflict(fmt::format("Patient/{} was merged into Patient/{}: record it for Patient/{}", p,
                                           (*into)[0][0], (*into)[0][0]));
    }
  }
  return {};
}

// Inserts one prepared resource. REQUIRES: inside a transaction.
// With `audit_entry` false the caller writes one entry for its whole batch.
Result<StoredResource> insert_new(SessionImpl& s, const Json& resource, const std::string& reason,
                                  bool audit_entry = true) {
  std::string type = text_of(resource.find("resourceType"));
  std::string id = resource.find("id")->text();
  auto existing = load(s, type, id);
  if (!existing.ok()) return existing.error();
  if (existing->has_value()) return Error::already_exists(fmt::format("{}/{} already exists", type, id));
  auto purged = detail::is_purged(s, type, id);
  if (!purged.ok()) return purged.error();
  if (*purged)
    return Error::already_exists(fmt::format("{}/{} was purged; its id cannot be reused", type, id));
  auto out = detail::write_created(s, resource, reason);
  if (!out.ok()) return out.error();
  if (audit_entry) EHR_TRY(write_audit(s, {"create", "ok", detail::audit_patients(*out), resource_ref(*out), "", 1, type}));
  return out;
}

}  // namespace

Result<StoredResource> create_resource(Session& session, Json resource, const std::string& reason) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(prepare_create(s, resource));
  Result<StoredResource> out = Error::internal("not written");
  Status st = s.transaction([&]() -> Status {
    out = insert_new(s, resource, reason);
    return out.ok() ? Status() : Status(out.error());
  });
  if (!st.ok()) return st.error();
  return out;
}

namespace {

// kAlreadyExists when another stored patient than `own_id` holds an MRN
// (an identifier of `mrn_system`) of `patient`. REQUIRES: in a transaction.
Status refuse_held_mrn(SessionImpl& s, const Json& patient, const std::string& mrn_system,
                       const std::string& own_id) {
  const Json* ids = patient.find("identifier");
  if (ids == nullptr || !ids->is_array()) return {};
  for (const auto& i : ids->items()) {
    std::string mrn = text_of(i.find("value"));
    if (text_of(i.find("system")) != mrn_system || mrn.empty()) continue;
    auto held = s.rows(
        "SELECT 1 FROM identifier i JOIN resource r ON r.rid = i.rid WHERE i.value = ? AND i.system = ? "
        "AND i.type = 'Patient' AND r.retracted = 0 AND r.id <> ? LIMIT 1",
        {mrn, mrn_system, own_id});
    if (!held.ok()) return held.error();
    if (!held->empty())
      return Error::already_exists(fmt::format(
          "a stored patient holds this MRN ({}); find them with ehr patient show MRN, or give another",
          mrn_system));
  }
  return {};
}

}  // namespace

Result<StoredResource> register_patient(Session& session, Json patient, const std::string& mrn_system) {
  SessionImpl& s = SessionImpl::of(session);
  EHR_TRY(prepare_create(s, patient));
  Result<StoredResource> out = Error::internal("not written");
  Status st = s.transaction([&]() -> Status {
    EHR_TRY(refuse_held_mrn(s, patient, mrn_system, text_of(patient.find("id"))));
    out = insert_new(s, patient, "");
    return out.ok() ? Status() : Status(out.error());
  });
  if (!st.ok()) return st.error();
  return out;
}

Result<std::vector<StoredResource>> create_resources(Session& session, std::vector<Json> resources,
                                                     const std::string& reason) {
  SessionImpl& s = SessionImpl::of(session);
  for (size_t i = 0; i < resources.size(); ++i) {
    Status p = prepare_create(s, resources[i]);
    if (!p.ok()) return p.error().with_context(fmt::format("resource {}", i + 1));
  }
  std::vector<StoredResource> out;
  out.reserve(resources.size());
  Status st = s.transaction([&]() -> Status {
    for (size_t i = 0; i < resources.size(); ++i) {
      auto r = insert_new(s, resources[i], reason, false);
      if (!r.ok()) return r.error().with_context(fmt::format("resource {}", i + 1));
      out.push_back(std::move(*r));
    }
    if (out.empty()) return {};
    // One compact entry for the batch: its patients, how many of each type.
    // Each resource's own creation (who, when, version) is in its history.
    std::set<std::string> patients;
    std::map<std::string, std::int64_t> types;
    for (const auto& r : out) {
      for (auto& p : detail::split_words(detail::audit_patients(r))) patients.insert(std::move(p));
      ++types[r.type];
    }
    std::string detail = "batch:";
    for (const auto& [type, n] : types) detail += fmt::format(" {} {}", type, n);
    return write_audit(s, {"create", "ok", detail::join_words({patients.begin(), patients.end()}), "", "",
                           static_cast<std::int64_t>(out.size()), detail});
  });
  if (!st.ok()) return st.error();
  return out;
}

namespace {

// update_resource, with `check` (when set) run on the content to be written
// inside the write transaction, before anything is written.
Result<StoredResource> update_checked(Session& session, Json resource, const std::string& reason,
                                      const std::function<Status(SessionImpl&, const Json&)>& check) {
  SessionImpl& s = SessionImpl::of(session);
  if (!resource.is_object()) return Error::invalid_data("a resource must be a JSON object");
  std::string type = text_of(resource.find("resourceType"));
  std::string id = text_of(resource.find("id"));
  if (id.empty()) return Error::invalid_data(type + ".id: an update needs the resource id");
  IndexEntry probe = index_resource(resource);
  EHR_TRY(detail::resolve_patient(s, probe));
  auto allowed = authorize(s, Action::kUpdate, target_of(type, probe));
  if (!allowed.ok()) return allowed.error();
  StoredResource out;
  Status st = s.transaction([&]() -> Status {
    auto existing = load(s, type, id);
    if (!existing.ok()) return existing.error();
    if (!existing->has_value()) return Error::not_found(fmt::format("{}/{} not found", type, id));
    StoredResource& cur = **existing;
    // The record as stored must be the user's to change too (its patient
    // and labels may differ from the new content's).
    auto was = authorize(s, Action::kUpdate, target_of(cur));
    if (!was.ok()) return was.error();
    // A user who sees only some fields changes only those: the others are
    // kept from the stored version, never dropped.
    auto view = decide(s, Action::kRead, target_of(cur));
    if (!view.ok()) return view.error();
    if (view->allowed && !view->fields.empty()) resource = merge_hidden(cur.resource, resource, view->fields);
    // Marking it entered-in-error by update is a retraction, with its permission.
    if (!cur.retracted && is_retracted_content(resource)) {
      auto retract = authorize(s, Action::kRetract, target_of(cur));
      if (!retract.ok()) return retract.error();
    }
    EHR_TRY(first_validation_error(resource, &cur.resource));
    if (content_key(cur.resource) == content_key(resource)) {
      out = cur;
      return {};
    }
    if (check) EHR_TRY(check(s, resource));
    auto written = detail::write_version(s, cur, resource, "update", reason);
    if (!written.ok()) return written.error();
    out = std::move(*written);
    return write_audit(s, {"update", "ok", detail::audit_patients(out), resource_ref(out), "", 1, type});
  });
  if (!st.ok()) return st.error();
  return out;
}

}  // namespace

Result<StoredResource> update_resource(Session& session, Json resource, const std::string& reason) {
  return update_checked(session, std::move(resource), reason, nullptr);
}

Result<StoredResource> update_patient(Session& session, Json patient, const std::string& mrn_system,
                                      const std::string& reason) {
  return update_checked(session, std::move(patient), reason, [&](SessionImpl& s, const Json& next) {
    return refuse_held_mrn(s, next, mrn_system, text_of(next.find("id")));
  });
}

Result<StoredResource> retract_resource(Session& session, const std::string& type,
                                        const std::string& id, const std::string& reason) {
  SessionImpl& s = SessionImpl::of(session);
  if (reason.empty()) return Error::invalid_argument("a retraction needs a reason");
  {
    auto before = load(s, type, id);
    if (!before.ok()) return before.error();
    if (!before->has_value()) return Error::not_found(fmt::format("{}/{} not found", type, id));
    auto allowed = authorize(s, Action::kRetract, target_of(**before));
    if (!allowed.ok()) return allowed.error();
  }
  StoredResource out;
  Status st = s.transaction([&]() -> Status {
    auto existing = load(s, type, id);
    if (!existing.ok()) return existing.error();
    if (!existing->has_value()) return Error::not_found(fmt::format("{}/{} not found", type, id));
    StoredResource& cur = **existing;
    if (cur.retracted) return Error::conflict(fmt::format("{}/{} is already retracted", type, id));
    Json r = detail::retracted_content(cur.resource);
    auto written = detail::write_version(s, cur, r, "retract", reason);
    if (!written.ok()) return written.error();
    out = std::move(*written);
    return write_audit(s, {"retract", "ok", detail::audit_patients(out), resource_ref(out), "", 1, type});
  });
  if (!st.ok()) return st.error();
  return out;
}

Status purge_resource(Session& session, const std::string& type, const std::string& id,
                      const std::string& reason) {
  SessionImpl& s = SessionImpl::of(session);
  if (reason.empty()) return Error::invalid_argument("a purge needs a reason");
  {
    auto before = load(s, type, id);
    if (!before.ok()) return before.error();
    if (!before->has_value()) return Error::not_found(fmt::format("{}/{} not found", type, id));
    auto allowed = authorize(s, Action::kPurge, target_of(**before));
    if (!allowed.ok()) return allowed.error();
  }
  return s.transaction([&]() -> Status {
    auto existing = load(s, type, id);
    if (!existing.ok()) return existing.error();
    if (!existing->has_value()) return Error::not_found(fmt::format("{}/{} not found", type, id));
    StoredResource cur = **existing;
    auto seq = next_seq(s);
    if (!seq.ok()) return seq.error();
    std::string now = s.now();
    std::vector<std::pair<std::string, std::string>> held;
    if (type == "Patient") {
      auto h = held_identifiers(s, id);
      if (!h.ok()) return h.error();
      held = std::move(*h);
    }
    EHR_TRY(supersede(s, type, id, false));
    for (const char* sql : {"DELETE FROM identifier WHERE rid IN (SELECT rid FROM resource WHERE type=?1 AND id=?2)",
                            "DELETE FROM reference WHERE rid IN (SELECT rid FROM resource WHERE type=?1 AND id=?2)",
                            "DELETE FROM name_token WHERE rid IN (SELECT rid FROM resource WHERE type=?1 AND id=?2)",
                            "DELETE FROM match_key WHERE rid IN (SELECT rid FROM resource WHERE type=?1 AND id=?2)",
                            "DELETE FROM patient_key WHERE rid IN (SELECT rid FROM resource WHERE type=?1 AND id=?2)",
                            "DELETE FROM resource_source WHERE type = ?1 AND id = ?2",
                            "DELETE FROM resource WHERE type = ?1 AND id = ?2",
                            "UPDATE history SET json = NULL WHERE type = ?1 AND id = ?2"}) {
      auto st = s.statement(sql);
      if (!st.ok()) return st.error();
      EHR_TRY((*st)->bind_text(1, type));
      EHR_TRY((*st)->bind_text(2, id));
      auto r = (*st)->step();
      if (!r.ok()) return r.error();
    }
    StoredResource tomb = cur;
    tomb.version = cur.version + 1;
    tomb.seq = *seq;
    tomb.last_updated = now;
    EHR_TRY(write_history(s, tomb, "purge", reason));
    auto st = s.statement(
        "INSERT INTO tombstone(type, id, seq, time, author, reason, patient) VALUES(?,?,?,?,?,?,?)");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, type));
    EHR_TRY((*st)->bind_text(2, id));
    EHR_TRY((*st)->bind_int(3, *seq));
    EHR_TRY((*st)->bind_text(4, now));
    EHR_TRY((*st)->bind_text(5, s.user()));
    EHR_TRY((*st)->bind_text(6, reason));
    EHR_TRY(cur.patient.empty() ? (*st)->bind_null(7) : (*st)->bind_text(7, cur.patient));
    auto r = (*st)->step();
    if (!r.ok()) return r.error();
    // The records its identifiers gave a chart go where they belong now.
    EHR_TRY(relink_records(s, id, held, true));
    return write_audit(s, {"purge", "ok", detail::audit_patients(cur), type + "/" + id, "", 1, type});
  });
}

// --- writers shared with the importer (record_writer.h) ----------------------

namespace detail {

Result<std::optional<StoredResource>> load_resource(SessionImpl& s, const std::string& type,
                                                    const std::string& id) {
  return load(s, type, id);
}

Result<bool> is_purged(SessionImpl& s, const std::string& type, const std::string& id) {
  auto tomb = s.statement("SELECT 1 FROM tombstone WHERE type = ? AND id = ?");
  if (!tomb.ok()) return tomb.error();
  EHR_TRY((*tomb)->bind_text(1, type));
  EHR_TRY((*tomb)->bind_text(2, id));
  auto purged = (*tomb)->step();
  if (!purged.ok()) return purged.error();
  bool out = *purged;
  (void)(*tomb)->reset();
  return out;
}

std::string resource_content_key(const Json& resource) { return content_key(resource); }

Result<std::vector<std::string>> patients_with_identifier(SessionImpl& s, const std::string& system,
                                                          const std::string& value) {
  return patients_holding(prepare_of(s), system, value);
}

Status resolve_patient(SessionImpl& s, IndexEntry& e) { return resolve_keys(prepare_of(s), e); }

std::string audit_patients(const StoredResource& r) {
  if (r.patient == kSeveralPatients) return join_words(index_resource(r.resource).patients);
  return is_single_patient(r.patient) ? r.patient : std::string();
}

bool is_retracted_resource(const Json& resource) { return is_retracted_content(resource); }

Result<StoredResource> write_created(SessionImpl& s, Json resource, const std::string& reason,
                                     const IndexEntry* index) {
  auto seq = next_seq(s);
  if (!seq.ok()) return seq.error();
  StoredResource out;
  out.type = text_of(resource.find("resourceType"));
  out.id = resource.find("id")->text();
  out.version = 1;
  out.seq = *seq;
  out.last_updated = s.now();
  out.resource = with_meta(std::move(resource), out.id, 1, out.last_updated);
  EHR_TRY(store_version(s, out, true, is_retracted_content(out.resource), "create", reason, index));
  if (out.type == "Patient" && s.policy().joins_care_team(s.roles())) {
    // The clinician who registers a patient cares for them.
    EHR_TRY(s.exec("INSERT OR IGNORE INTO care_team(patient, user, role, added, added_by) "
                   "VALUES(?, ?, 'creator', ?, ?)",
                   {out.id, s.user(), out.last_updated, s.user()}));
    s.forget_care_team();
  }
  return out;
}

Result<StoredResource> write_version(SessionImpl& s, const StoredResource& cur, Json resource,
                                     const std::string& action, const std::string& reason,
                                     const IndexEntry* index) {
  auto seq = next_seq(s);
  if (!seq.ok()) return seq.error();
  StoredResource out;
  out.type = cur.type;
  out.id = cur.id;
  out.version = cur.version + 1;
  out.seq = *seq;
  out.last_updated = s.now();
  out.resource = with_meta(std::move(resource), cur.id, out.version, out.last_updated);
  EHR_TRY(supersede(s, cur.type, cur.id, true));
  EHR_TRY(store_version(s, out, false, action == "retract" || is_retracted_content(out.resource), action,
                        reason, index));
  return out;
}

Json retracted_content(const Json& resource) {
  Json r = resource;
  std::string type = text_of(r.find("resourceType"));
  if (type == "Condition" || type == "AllergyIntolerance") {
    const char* system = type == "Condition"
                             ? "http://terminology.hl7.org/CodeSystem/condition-ver-status"
                             : "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
    Json coding = Json::object();
    coding.set("system", Json::string(system));
    coding.set("code", Json::string("entered-in-error"));
    Json codings = Json::array();
    codings.push_back(std::move(coding));
    Json vs = Json::object();
    vs.set("coding", std::move(codings));
    r.set("verificationStatus", std::move(vs));
    r.erase("clinicalStatus");  // con-3/ait-1: absent when entered-in-error
  } else if (r.find("status") != nullptr) {
    r.set("status", Json::string("entered-in-error"));
  }
  return r;
}

}  // namespace detail

// --- reading -----------------------------------------------------------------

Result<StoredResource> read_resource(Session& session, const std::string& type,
                                     const std::string& id) {
  SessionImpl& s = SessionImpl::of(session);
  auto r = load(s, type, id);
  if (!r.ok()) return r.error();
  if (!r->has_value()) return Error::not_found(fmt::format("{}/{} not found", type, id));
  auto d = authorize(s, Action::kRead, target_of(**r));
  if (!d.ok()) return d.error();
  EHR_TRY(write_audit(s, {"read", "ok", detail::audit_patients(**r), resource_ref(**r), "", 1, type}));
  (*r)->resource = apply_fields((*r)->resource, *d);
  return std::move(**r);
}

Result<std::vector<HistoryEntry>> resource_history(Session& session, const std::string& type,
                                                   const std::string& id) {
  SessionImpl& s = SessionImpl::of(session);
  auto st = s.statement(
      "SELECT h.version, h.action, h.author, h.time, h.reason, "
      "coalesce(h.json, CASE WHEN r.version = h.version THEN r.json END), coalesce(h.patient,'') "
      "FROM history h LEFT JOIN resource r ON r.type = h.type AND r.id = h.id "
      "WHERE h.type = ?1 AND h.id = ?2 "
      "UNION ALL SELECT version, action, author, last_updated, reason, json, coalesce(patient,'') "
      "FROM resource WHERE type = ?1 AND id = ?2 AND action IS NOT NULL "
      "ORDER BY 1");
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, type));
  EHR_TRY((*st)->bind_text(2, id));
  std::vector<HistoryEntry> out;
  std::string patient;
  for (;;) {
    auto row = (*st)->step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    HistoryEntry h;
    h.version = (*st)->column_int(0);
    h.action = (*st)->column_text(1);
    h.author = (*st)->column_text(2);
    h.time = (*st)->column_text(3);
    h.reason = (*st)->column_text(4);
    if (!(*st)->column_is_null(5)) {
      auto j = parse_json((*st)->column_text(5));
      if (j.ok()) h.resource = std::move(*j);
    }
    patient = (*st)->column_text(6);
    out.push_back(std::move(h));
  }
  if (out.empty()) return Error::not_found(fmt::format("{}/{} not found", type, id));
  s.reset_withheld();
  // The record is read as its newest version with content says (its
  // patient, labels and code): denied, the history is. Then each version is
  // decided on its own content, so that one a later version no longer
  // labels or codes as restricted (or that was another patient's) is
  // withheld, and counted (security finding 2). A purge entry has none.
  auto target_of_version = [&](const Json& content) {
    IndexEntry e = index_resource(content);
    if (!e.patient_keys.empty()) e.patient = patient;  // resolved when it was written
    return target_of(type, e);
  };
  auto it = std::find_if(out.rbegin(), out.rend(), [](const HistoryEntry& h) { return h.resource.has_value(); });
  const HistoryEntry* newest = it == out.rend() ? nullptr : &*it;
  Target target = newest == nullptr ? Target{type, patient, "", ""} : target_of_version(*newest->resource);
  auto d = authorize(s, Action::kRead, target);
  if (!d.ok()) return d.error();
  std::vector<HistoryEntry> shown;
  std::set<std::string> patients;
  for (auto& h : out) {
    Decision hd = *d;
    Target t = target;
    if (h.resource && &h != newest) {
      t = target_of_version(*h.resource);
      // An earlier version of another patient starts no grant of its own.
      auto v = decide(s, Action::kRead, t, false);
      if (!v.ok()) return v.error();
      hd = std::move(*v);
    }
    if (!hd.allowed) {
      s.add_withheld(1);
      continue;
    }
    if (h.resource) {
      StoredResource r;
      r.patient = t.patient;
      r.resource = *h.resource;
      for (auto& p : detail::split_words(detail::audit_patients(r))) patients.insert(std::move(p));
      h.resource = apply_fields(*h.resource, hd);
    }
    shown.push_back(std::move(h));
  }
  if (patients.empty() && is_single_patient(patient)) patients.insert(patient);
  EHR_TRY(write_audit(s, {"read", "ok", detail::join_words({patients.begin(), patients.end()}),
                          type + "/" + id + "/_history", "",
                          static_cast<std::int64_t>(shown.size()),
                          s.withheld() ? fmt::format("{} withheld {}", type, s.withheld()) : type}));
  return shown;
}

Result<StoredResource> find_patient(Session& session, const std::string& key,
                                    const std::string& mrn_system) {
  SessionImpl& s = SessionImpl::of(session);
  auto by_id = load(s, "Patient", key);
  if (!by_id.ok()) return by_id.error();
  std::optional<StoredResource> found = std::move(*by_id);
  if (!found) {
    // An MRN of the configured system first, then any identifier value.
    for (int pass = 0; pass < 2 && !found; ++pass) {
      auto st = s.statement(fmt::format(
          "SELECT DISTINCT {} FROM resource WHERE rid IN (SELECT rid FROM identifier WHERE "
          "value = ? AND type = 'Patient' {})",
          kColumns, pass == 0 ? "AND system = ?" : ""));
      if (!st.ok()) return st.error();
      EHR_TRY((*st)->bind_text(1, key));
      if (pass == 0) EHR_TRY((*st)->bind_text(2, mrn_system));
      std::vector<StoredResource> hits;
      for (;;) {
        auto row = (*st)->step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        hits.push_back(row_to_resource(**st));
      }
      if (hits.size() > 1) {
        record_unfound_patient(s, key, static_cast<std::int64_t>(hits.size()));
        return ambiguous_patient_key(key, hits.size());
      }
      if (hits.size() == 1) found = std::move(hits.front());
    }
  }
  if (!found) {
    record_unfound_patient(s, key, 0);
    return Error::not_found(fmt::format("no patient {}", key));
  }
  auto d = authorize(s, Action::kRead, target_of(*found));
  if (!d.ok()) return d.error();
  found->resource = apply_fields(found->resource, *d);
  return std::move(*found);
}

namespace {

Result<std::vector<StoredJson>> collect_json(store::Statement& q, int limit) {
  std::vector<StoredJson> out;
  for (;;) {
    auto row = q.step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    out.push_back(row_to_stored(q));
    if (limit > 0 && static_cast<int>(out.size()) >= limit) break;
  }
  return out;
}

std::vector<StoredResource> parse_all(std::vector<StoredJson> rows) {
  std::vector<StoredResource> out;
  out.reserve(rows.size());
  for (auto& r : rows) out.push_back(parse_stored(std::move(r)));
  return out;
}

std::string types_clause(const std::vector<std::string>& types) {
  if (types.empty()) return "";
  std::string in;
  for (size_t i = 0; i < types.size(); ++i) in += i ? ",?" : "?";
  return " AND type IN (" + in + ")";
}

}  // namespace

namespace {

// `r` reduced to what decision `d` lets the user see (apply_fields).
void filter_fields(StoredResource& r, const Decision& d) { r.resource = apply_fields(r.resource, d); }

// The same for a resource kept as text: unchanged without a field list (the
// common case, which then needs no parsing), else the filtered document as
// to_json writes it, so it prints as the filtered StoredResource does.
void filter_fields(StoredJson& r, const Decision& d) {
  if (d.fields.empty()) return;
  auto parsed = parse_json(r.json);
  r.json = to_json(apply_fields(parsed.ok() ? *parsed : Json(), d));
}

// Keeps of `rows` what the user may see for `action` (fields filtered) and
// counts the rest in the session's withheld().
template <typename Row>
Result<std::vector<Row>> visible(SessionImpl& s, Action action, std::vector<Row> rows) {
  std::vector<Row> out;
  out.reserve(rows.size());
  for (auto& r : rows) {
    auto d = decide(s, action, target_of(r));
    if (!d.ok()) return d.error();
    if (!d->allowed) {
      s.add_withheld(1);
      continue;
    }
    filter_fields(r, *d);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<std::vector<StoredResource>> patient_records(Session& session, const RecordQuery& q) {
  auto rows = patient_records_json(session, q);
  if (!rows.ok()) return rows.error();
  return parse_all(std::move(*rows));
}

// A type that names no R4 resource type is a usage error, as in export:
// otherwise a misspelt --type lists nothing and looks like an empty record.
static Status check_query_types(const RecordQuery& q) {
  for (const auto& t : q.types)
    if (!is_r4_resource_type(t))
      return Error::invalid_argument(fmt::format("--type {}: not a FHIR R4 resource type", t));
  return {};
}

Result<std::vector<StoredJson>> patient_records_json(Session& session, const RecordQuery& q) {
  EHR_TRY(check_query_types(q));
  SessionImpl& s = SessionImpl::of(session);
  s.reset_withheld();
  auto patient = load_json(s, "Patient", q.patient);
  if (!patient.ok()) return patient.error();
  if (!patient->has_value()) return Error::not_found(fmt::format("no patient {}", q.patient));
  // The gate: a user who may not read the patient reads none of the record.
  auto gate = authorize(s, Action::kRead, target_of(**patient));
  if (!gate.ok()) return gate.error();
  filter_fields(**patient, *gate);
  auto since = detail::time_bound("--since", q.since);
  if (!since.ok()) return since.error();
  std::string sql = fmt::format(
      "SELECT {} FROM resource WHERE patient = ? AND type <> 'Patient'{}{}{} "
      "ORDER BY type, clinical_date DESC, id",
      kColumns, types_clause(q.types), q.include_retracted ? "" : " AND retracted = 0",
      // A record dated by day, month or year counts by its last instant: one
      // dated 2026-01-01 is within --since 2026-01-01T06:00Z (QA finding
      // dates 05), as clinical_date_span has it.
      q.since.empty() ? ""
                      : " AND (CASE length(clinical_date) WHEN 10 THEN clinical_date || 'T23:59:59.999Z' "
                        "WHEN 7 THEN clinical_date || '-31T23:59:59.999Z' "
                        "WHEN 4 THEN clinical_date || '-12-31T23:59:59.999Z' ELSE clinical_date END) >= ?");
  auto st = s.db().prepare(sql);
  if (!st.ok()) return st.error();
  int i = 1;
  EHR_TRY(st->bind_text(i++, q.patient));
  for (const auto& t : q.types) EHR_TRY(st->bind_text(i++, t));
  if (!since->empty()) EHR_TRY(st->bind_text(i++, *since));
  auto rows = collect_json(*st, q.limit);
  if (!rows.ok()) return rows.error();
  auto shown = visible(s, Action::kRead, std::move(*rows));
  if (!shown.ok()) return shown.error();
  std::vector<StoredJson> out;
  bool want_patient = q.types.empty() ||
                      std::find(q.types.begin(), q.types.end(), "Patient") != q.types.end();
  if (want_patient) out.push_back(std::move(**patient));
  for (auto& r : *shown) out.push_back(std::move(r));
  EHR_TRY(write_audit(s, {"read", "ok", q.patient, "Patient/" + q.patient + "/$everything", "",
                          static_cast<std::int64_t>(out.size()),
                          s.withheld() ? fmt::format("record withheld {}", s.withheld()) : "record"}));
  return out;
}

Result<std::vector<StoredResource>> list_resources(Session& session, const RecordQuery& q) {
  EHR_TRY(check_query_types(q));
  SessionImpl& s = SessionImpl::of(session);
  s.reset_withheld();
  if (!q.patient.empty()) {
    // As for the whole record: reading the patient first (which is where
    // break-the-glass applies).
    auto patient = load(s, "Patient", q.patient);
    if (!patient.ok()) return patient.error();
    if (!patient->has_value()) return Error::not_found(fmt::format("no patient {}", q.patient));
    auto gate = authorize(s, Action::kRead, target_of(**patient));
    if (!gate.ok()) return gate.error();
  }
  if (q.types.empty()) {
    // Every type: refused outright only by an explicit deny of all types
    // (the service role); otherwise each record is decided below.
    auto d = decide(s, Action::kSearch, Target{"*", "", "", ""});
    if (!d.ok()) return d.error();
    if (d->explicit_deny) {
      auto denied = authorize(s, Action::kSearch, Target{"*", "", "", ""});
      if (!denied.ok()) return denied.error();
    }
  }
  for (const auto& t : q.types) {
    // A type the user may search for no patient at all is a denial, not an empty list.
    Target probe{t, q.patient, "", ""};
    auto d = decide(s, Action::kSearch, probe);
    if (!d.ok()) return d.error();
    if (!d->allowed) {
      Target any{t, "", "", ""};
      auto d2 = authorize(s, Action::kSearch, q.patient.empty() ? any : probe);
      if (!d2.ok()) return d2.error();
    }
  }
  auto since = detail::time_bound("--since", q.since);
  if (!since.ok()) return since.error();
  std::string sql = fmt::format("SELECT {} FROM resource WHERE 1=1{}{}{}{} ORDER BY seq DESC",
                                kColumns, types_clause(q.types),
                                q.patient.empty() ? "" : " AND patient = ?",
                                q.include_retracted ? "" : " AND retracted = 0",
                                q.since.empty() ? "" : " AND last_updated >= ?");
  auto st = s.db().prepare(sql);
  if (!st.ok()) return st.error();
  int i = 1;
  for (const auto& t : q.types) EHR_TRY(st->bind_text(i++, t));
  if (!q.patient.empty()) EHR_TRY(st->bind_text(i++, q.patient));
  if (!since->empty()) EHR_TRY(st->bind_text(i++, *since));
  // The limit applies to what the user sees.
  std::vector<StoredResource> out;
  for (;;) {
    auto row = st->step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    std::vector<StoredResource> one;
    one.push_back(row_to_resource(*st));
    auto shown = visible(s, Action::kSearch, std::move(one));
    if (!shown.ok()) return shown.error();
    for (auto& r : *shown) out.push_back(std::move(r));
    if (q.limit > 0 && static_cast<int>(out.size()) >= q.limit) break;
  }
  // The entry names the patients whose records were returned, as patient
  // searches do: an accounting of disclosures for a patient and the review of
  // break-the-glass (an emergency flag when any was read under a grant) find
  // it (security finding 3).
  std::set<std::string> patients;
  if (!q.patient.empty()) patients.insert(q.patient);
  for (const auto& r : out)
    for (auto& p : detail::split_words(detail::audit_patients(r))) patients.insert(std::move(p));
  std::string hash = crypto::blake2b_256_hex(fmt::format("list|{}|{}|{}", sql, q.patient, q.since));
  EHR_TRY(write_audit(s, {"search", "ok", detail::join_words({patients.begin(), patients.end()}), "", hash,
                          static_cast<std::int64_t>(out.size()),
                          s.withheld() ? fmt::format("list withheld {}", s.withheld()) : "list"}));
  return out;
}

Result<std::pair<std::string, std::string>> resolve_record_ref(Session& session,
                                                              const std::string& ref) {
  SessionImpl& s = SessionImpl::of(session);
  auto slash = ref.find('/');
  if (slash != std::string::npos) {
    std::string type = ref.substr(0, slash), id = ref.substr(slash + 1);
    auto hist = id.find("/_history/");
    if (hist != std::string::npos) id = id.substr(0, hist);
    return std::make_pair(type, id);
  }
  auto st = s.statement(
      "SELECT type FROM resource WHERE id = ?1 UNION SELECT type FROM tombstone WHERE id = ?1");
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, ref));
  std::vector<std::string> types;
  for (;;) {
    auto row = (*st)->step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    types.push_back((*st)->column_text(0));
  }
  if (types.empty()) return Error::not_found(fmt::format("no record {}", ref));
  if (types.size() > 1)
    return Error::conflict(fmt::format("{} names records of several types; write Type/{}", ref, ref));
  return std::make_pair(types.front(), ref);
}

Result<std::vector<StoredResource>> search_patients(Session& session, const PatientQuery& q) {
  auto rows = search_patients_json(session, q);
  if (!rows.ok()) return rows.error();
  return parse_all(std::move(*rows));
}

namespace {

// The order of patient search results: family name, given name, id (what a
// person scanning the list expects), of the first name, folded.
std::string sort_key(const Json& patient, const std::string& id) {
  return patient_sort_name(patient) + '\x01' + id;
}

}  // namespace

Result<std::vector<StoredJson>> search_patients_json(Session& session, const PatientQuery& q) {
  SessionImpl& s = SessionImpl::of(session);
  if (q.name.empty() && q.birth_date.empty() && q.identifier_value.empty() && q.phone.empty())
    return Error::invalid_argument("give at least one of --name, --birth-date, --identifier, --mrn, --phone");
  s.reset_withheld();
  {
    auto gate = authorize(s, Action::kSearch, Target{"Patient", "", "", ""});
    if (!gate.ok()) return gate.error();
  }
  std::string where = "type = 'Patient'";
  std::vector<std::string> binds;
  bool by_rid = false;  // a name or identifier subquery narrows the rows
  if (!q.name.empty()) {
    std::vector<std::string> tokens;
    std::string folded = fold_name(q.name), cur;
    for (char c : folded) {
      if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
        cur += c;
      } else if (!cur.empty()) {
        tokens.push_back(cur);
        cur.clear();
      }
    }
    if (!cur.empty()) tokens.push_back(cur);
    for (const auto& t : tokens) {
      by_rid = true;
      where += " AND rid IN (SELECT rid FROM name_token WHERE token >= ? AND token < ?)";
      binds.push_back(t);
      binds.push_back(t + "\xff");
    }
  }
  if (!q.birth_date.empty()) {
    where += " AND substr(clinical_date, 1, length(?)) = ?";
    binds.push_back(q.birth_date);
    binds.push_back(q.birth_date);
  }
  if (!q.identifier_value.empty()) {
    by_rid = true;
    where += q.identifier_system.empty()
                 ? " AND rid IN (SELECT rid FROM identifier WHERE value = ? AND type = 'Patient')"
                 : " AND rid IN (SELECT rid FROM identifier WHERE value = ? AND system = ? AND type = 'Patient')";
    binds.push_back(q.identifier_value);
    if (!q.identifier_system.empty()) binds.push_back(q.identifier_system);
  }
  // With a subquery, the rows come from its rids. Left to itself (no
  // statistics), SQLite would instead walk every Patient of the (type, id)
  // index to get ORDER BY id and test each rid against the subquery: a read
  // of all patients for every search. The unary + keeps it off that index.
  // The rows are sorted below by a key that ends in the (unique) id, so
  // their order here matters only to which `limit` matches are kept: the
  // first by id. Without a limit SQLite need not sort them.
  // The sort key's names come from the row's sort_name (written with the
  // row), so the documents need not be parsed here.
  std::string sql = fmt::format("SELECT {}, coalesce(sort_name, ''), coalesce(team, '') FROM resource WHERE {}{}{}", kColumns,
                                by_rid ? "+" : "", where,
                                q.limit > 0 ? " ORDER BY id" : "");
  auto st = s.db().prepare(sql);
  if (!st.ok()) return st.error();
  for (size_t i = 0; i < binds.size(); ++i) EHR_TRY(st->bind_text(static_cast<int>(i + 1), binds[i]));
  auto digits = [](const std::string& v) {
    std::string d;
    for (char c : v)
      if (std::isdigit(static_cast<unsigned char>(c))) d += c;
    return d;
  };
  std::string want_phone = digits(q.phone);
  // Matches with their sort_key, each computed once (folding names per
  // comparison cost more than the search itself for a few hundred patients).
  std::vector<std::pair<std::string, StoredJson>> found;
  for (;;) {
    auto row = st->step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    StoredJson r = row_to_stored(*st);
    if (!want_phone.empty() || !q.include_inactive) {
      auto parsed = parse_json(r.json);
      Json resource = parsed.ok() ? std::move(*parsed) : Json();
      if (!want_phone.empty()) {
        bool hit = false;
        if (const Json* tel = resource.find("telecom"); tel != nullptr && tel->is_array())
          for (const auto& t : tel->items()) {
            std::string d = digits(text_of(t.find("value")));
            if (!d.empty() && d.size() >= want_phone.size() &&
                d.compare(d.size() - want_phone.size(), want_phone.size(), want_phone) == 0)
              hit = true;
          }
        if (!hit) continue;
      }
      if (const Json* active = resource.find("active");
          !q.include_inactive && active != nullptr && active->is_bool() && !active->as_bool())
        continue;
    }
    // The row names the patient's care team (migration 4): the decision
    // needs no read of care_team for it.
    s.note_care_team(r.patient, detail::has_word(st->column_text(11), s.user()));
    auto d = decide(s, Action::kSearch, target_of(r));
    if (!d.ok()) return d.error();
    if (!d->allowed) {
      s.add_withheld(1);
      continue;
    }
    // Sorted by the names the user sees: the stored ones unless the
    // decision filters fields (which may leave no name).
    std::string key;
    if (d->fields.empty()) {
      key = st->column_text(10) + '\x01' + r.id;
    } else {
      auto parsed = parse_json(r.json);
      Json shown = apply_fields(parsed.ok() ? *parsed : Json(), *d);
      key = sort_key(shown, r.id);
      r.json = to_json(shown);  // as filter_fields writes it
    }
    found.emplace_back(std::move(key), std::move(r));
    if (q.limit > 0 && static_cast<int>(found.size()) >= q.limit) break;
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<StoredJson> out;
  out.reserve(found.size());
  for (auto& [key, r] : found) out.push_back(std::move(r));
  std::string patients;
  for (const auto& r : out) patients += (patients.empty() ? "" : " ") + r.id;
  std::string hash = crypto::blake2b_256_hex(fmt::format("find|{}|{}|{}|{}|{}", q.name, q.birth_date,
                                                     q.identifier_system, q.identifier_value, q.phone));
  EHR_TRY(write_audit(s, {"search", "ok", patients, "", hash, static_cast<std::int64_t>(out.size()), "Patient"}));
  return out;
}

}  // namespace ehr
