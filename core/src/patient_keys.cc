// Records waiting for their patient by identifier: see patient_keys.h.

#include "patient_keys.h"

#include <algorithm>

#include "ehr/json.h"
#include "ehr/records.h"

namespace ehr::detail {

namespace {

// Runs `st` (bound) to its end, passing each row to `row`.
template <typename Row>
Status step_rows(store::Statement& st, Row&& row) {
  for (;;) {
    auto more = st.step();
    if (!more.ok()) return more.error();
    if (!*more) break;
    row(st);
  }
  return st.reset();
}

Status run_on_rid(const Prepare& prepare, const std::string& sql, std::int64_t rid) {
  auto st = prepare(sql);
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_int(1, rid));
  return step_rows(**st, [](store::Statement&) {});
}

}  // namespace

Result<std::vector<std::string>> patients_holding(const Prepare& prepare, const std::string& system,
                                                  const std::string& value, bool follow_merges) {
  // Two statements each, so that each uses identifier_value(value, system, ...).
  static const char* const kSql[2][2] = {
      {"SELECT DISTINCT r.id FROM identifier i JOIN resource r ON r.rid = i.rid "
       "WHERE i.value = ?1 AND i.type = 'Patient' AND r.retracted = 0",
       "SELECT DISTINCT r.id FROM identifier i JOIN resource r ON r.rid = i.rid "
       "WHERE i.value = ?1 AND i.system = ?2 AND i.type = 'Patient' AND r.retracted = 0"},
      {"SELECT DISTINCT coalesce(m.target, r.id) FROM identifier i JOIN resource r ON r.rid = i.rid "
       "LEFT JOIN patient_merge m ON m.source = r.id "
       "WHERE i.value = ?1 AND i.type = 'Patient' AND r.retracted = 0",
       "SELECT DISTINCT coalesce(m.target, r.id) FROM identifier i JOIN resource r ON r.rid = i.rid "
       "LEFT JOIN patient_merge m ON m.source = r.id "
       "WHERE i.value = ?1 AND i.system = ?2 AND i.type = 'Patient' AND r.retracted = 0"}};
  auto st = prepare(kSql[follow_merges ? 1 : 0][system.empty() ? 0 : 1]);
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, value));
  if (!system.empty()) EHR_TRY((*st)->bind_text(2, system));
  std::vector<std::string> ids;
  EHR_TRY(step_rows(**st, [&](store::Statement& q) { ids.push_back(q.column_text(0)); }));
  return ids;
}

Status resolve_keys(const Prepare& prepare, IndexEntry& e) {
  if (e.patient_keys.empty()) return {};
  Status failed;
  resolve_patient_keys(e, [&](const std::string& system, const std::string& value) {
    auto ids = patients_holding(prepare, system, value, true);
    if (!ids.ok()) {
      failed = ids.error();
      return std::vector<std::string>{};
    }
    return std::move(*ids);
  });
  return failed;
}

Status write_record_keys(const Prepare& prepare, std::int64_t rid, const IndexEntry& e, bool fresh) {
  if (!fresh) EHR_TRY(run_on_rid(prepare, "DELETE FROM patient_key WHERE rid = ?1", rid));
  for (const auto& [system, value] : e.patient_keys) {
    // The same key twice in one record is kept once.
    auto st = prepare("INSERT OR IGNORE INTO patient_key(value, system, rid) VALUES(?1, ?2, ?3)");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, value));
    EHR_TRY((*st)->bind_text(2, system));
    EHR_TRY((*st)->bind_int(3, rid));
    EHR_TRY(step_rows(**st, [](store::Statement&) {}));
  }
  return {};
}

Status rewrite_patient(const Prepare& prepare, std::int64_t rid, const IndexEntry& e, std::optional<std::int64_t> seq) {
  {
    auto up = prepare("UPDATE resource SET patient = ?2, seq = coalesce(?3, seq) WHERE rid = ?1");
    if (!up.ok()) return up.error();
    EHR_TRY((*up)->bind_int(1, rid));
    EHR_TRY(e.patient.empty() ? (*up)->bind_null(2) : (*up)->bind_text(2, e.patient));
    EHR_TRY(seq ? (*up)->bind_int(3, *seq) : (*up)->bind_null(3));
    EHR_TRY(step_rows(**up, [](store::Statement&) {}));
  }
  EHR_TRY(run_on_rid(prepare, "DELETE FROM reference WHERE rid = ?1", rid));
  return insert_references(prepare, rid, e);
}

Status insert_references(const Prepare& prepare, std::int64_t rid, const IndexEntry& e) {
  for (const auto& [t, id] : e.references) {
    if (t == "Patient" && id == e.patient) continue;
    auto ins = prepare("INSERT INTO reference(rid, target_type, target_id) VALUES(?1, ?2, ?3)");
    if (!ins.ok()) return ins.error();
    EHR_TRY((*ins)->bind_int(1, rid));
    EHR_TRY((*ins)->bind_text(2, t));
    EHR_TRY((*ins)->bind_text(3, id));
    EHR_TRY(step_rows(**ins, [](store::Statement&) {}));
  }
  return {};
}

Result<std::vector<LinkedRecord>> link_keyed_records(
    const Prepare& prepare, const std::vector<std::pair<std::string, std::string>>& identifiers,
    const MayMove& may_move, const std::function<Result<std::int64_t>()>& next_seq) {
  std::vector<std::int64_t> rids;
  for (const auto& [system, value] : identifiers) {
    if (value.empty()) continue;
    auto st = prepare("SELECT rid FROM patient_key WHERE value = ?1 AND system IN (?2, '')");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, value));
    EHR_TRY((*st)->bind_text(2, system));
    EHR_TRY(step_rows(**st, [&](store::Statement& q) { rids.push_back(q.column_int(0)); }));
  }
  std::sort(rids.begin(), rids.end());
  rids.erase(std::unique(rids.begin(), rids.end()), rids.end());
  std::vector<LinkedRecord> out;
  for (std::int64_t rid : rids) {
    auto st = prepare(
        "SELECT type, id, json, coalesce(patient, ''), coalesce(security, ''), "
        "CASE WHEN code IS NULL THEN '' ELSE coalesce(code_system, '') || '|' || code END "
        "FROM resource WHERE rid = ?1");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_int(1, rid));
    auto row = (*st)->step();
    if (!row.ok()) return row.error();
    if (!*row) {
      (void)(*st)->reset();
      continue;  // gone (a purge removes its keys too)
    }
    LinkedRecord r{(*st)->column_text(0), (*st)->column_text(1), (*st)->column_text(3), ""};
    std::string security = (*st)->column_text(4);
    std::string code = (*st)->column_text(5);
    auto parsed = parse_json((*st)->column_view(2));
    EHR_TRY((*st)->reset());
    if (!parsed.ok()) continue;  // db check reports it; nothing to compute
    IndexEntry e = index_resource(*parsed);
    EHR_TRY(resolve_keys(prepare, e));
    if (e.patient == r.was) continue;
    auto allowed = may_move(r.type, r.was, security, code);
    if (!allowed.ok()) return allowed.error();
    if (!*allowed) continue;
    auto seq = next_seq();
    if (!seq.ok()) return seq.error();
    EHR_TRY(rewrite_patient(prepare, rid, e, *seq));
    r.patient = e.patient;
    out.push_back(std::move(r));
  }
  return out;
}

Status index_stored_keys(store::Connection& db) {
  store::StatementCache cache;
  Prepare prepare = [&](const std::string& sql) { return cache.get(db, sql); };
  // Only a record whose JSON holds an identifier can name its patient by one.
  auto st = db.prepare("SELECT rid, json FROM resource WHERE type <> 'Patient' AND json LIKE '%\"identifier\"%'");
  if (!st.ok()) return st.error();
  for (;;) {
    auto row = st->step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    auto parsed = parse_json(st->column_view(1));
    if (!parsed.ok()) continue;
    IndexEntry e = index_resource(*parsed);
    if (!e.patient_keys.empty()) EHR_TRY(write_record_keys(prepare, st->column_int(0), e, true));
  }
  return {};
}

}  // namespace ehr::detail
