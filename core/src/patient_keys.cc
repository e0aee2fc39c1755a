// Records waiting for their patient by identifier: see patient_keys.h.

#include "patient_keys.h"

#include <algorithm>

#include "ehr/json.h"
#include "ehr/records.h"

namespace ehr::detail {

Result<store::Statement*> StatementCache::operator()(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto st = db_.prepare(sql);
    if (!st.ok()) return st.error();
    it = cache_.emplace(sql, std::make_unique<store::Statement>(std::move(*st))).first;
  } else {
    EHR_TRY(it->second->reset());
  }
  return it->second.get();
}

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
                                                  const std::string& value) {
  // Two statements, so that each uses identifier_value(value, system, ...).
  auto st = prepare(system.empty()
                        ? "SELECT DISTINCT r.id FROM identifier i JOIN resource r ON r.rid = i.rid "
                          "WHERE i.value = ?1 AND i.type = 'Patient'"
                        : "SELECT DISTINCT r.id FROM identifier i JOIN resource r ON r.rid = i.rid "
                          "WHERE i.value = ?1 AND i.system = ?2 AND i.type = 'Patient'");
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
    auto ids = patients_holding(prepare, system, value);
    if (!ids.ok()) {
      failed = ids.error();
      return std::vector<std::string>{};
    }
    return std::move(*ids);
  });
  return failed;
}

Status write_waiting_keys(const Prepare& prepare, std::int64_t rid, const IndexEntry& e, bool fresh) {
  if (!fresh) EHR_TRY(run_on_rid(prepare, "DELETE FROM patient_key_wait WHERE rid = ?1", rid));
  for (const auto& [system, value] : e.unresolved_keys) {
    // The same key twice in one record waits once.
    auto st = prepare("INSERT OR IGNORE INTO patient_key_wait(value, system, rid) VALUES(?1, ?2, ?3)");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, value));
    EHR_TRY((*st)->bind_text(2, system));
    EHR_TRY((*st)->bind_int(3, rid));
    EHR_TRY(step_rows(**st, [](store::Statement&) {}));
  }
  return {};
}

Status rewrite_patient(const Prepare& prepare, std::int64_t rid, const IndexEntry& e) {
  {
    auto up = prepare("UPDATE resource SET patient = ?2 WHERE rid = ?1");
    if (!up.ok()) return up.error();
    EHR_TRY((*up)->bind_int(1, rid));
    EHR_TRY(e.patient.empty() ? (*up)->bind_null(2) : (*up)->bind_text(2, e.patient));
    EHR_TRY(step_rows(**up, [](store::Statement&) {}));
  }
  EHR_TRY(run_on_rid(prepare, "DELETE FROM reference WHERE rid = ?1", rid));
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

namespace {

// Computes the patient of the records `rids` again; rewrites and returns
// those whose patient changed. Unchanged ones keep their waiting keys
// unless `rewrite_keys` (the migration, which writes them first).
Result<std::vector<LinkedRecord>> recompute_waiting(const Prepare& prepare, const std::vector<std::int64_t>& rids,
                                            bool rewrite_keys) {
  std::vector<LinkedRecord> out;
  for (std::int64_t rid : rids) {
    auto st = prepare("SELECT type, id, json, coalesce(patient, '') FROM resource WHERE rid = ?1");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_int(1, rid));
    auto row = (*st)->step();
    if (!row.ok()) return row.error();
    if (!*row) {
      (void)(*st)->reset();
      continue;  // gone (purge removes its keys too)
    }
    std::string type = (*st)->column_text(0);
    std::string id = (*st)->column_text(1);
    std::string was = (*st)->column_text(3);
    auto parsed = parse_json((*st)->column_view(2));
    EHR_TRY((*st)->reset());
    if (!parsed.ok()) continue;  // db check reports it; nothing to link
    IndexEntry e = index_resource(*parsed);
    EHR_TRY(resolve_keys(prepare, e));
    if (e.patient != was) EHR_TRY(rewrite_patient(prepare, rid, e));
    if (e.patient != was || rewrite_keys) EHR_TRY(write_waiting_keys(prepare, rid, e, false));
    if (e.patient == was) continue;
    out.push_back({std::move(type), std::move(id), e.patient});
  }
  return out;
}

}  // namespace

Result<std::vector<LinkedRecord>> link_waiting_records(
    const Prepare& prepare, const std::vector<std::pair<std::string, std::string>>& identifiers) {
  std::vector<std::int64_t> rids;
  for (const auto& [system, value] : identifiers) {
    if (value.empty()) continue;
    auto st = prepare("SELECT rid FROM patient_key_wait WHERE value = ?1 AND system IN (?2, '')");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, value));
    EHR_TRY((*st)->bind_text(2, system));
    EHR_TRY(step_rows(**st, [&](store::Statement& q) { rids.push_back(q.column_int(0)); }));
  }
  if (rids.empty()) return std::vector<LinkedRecord>{};
  std::sort(rids.begin(), rids.end());
  rids.erase(std::unique(rids.begin(), rids.end()), rids.end());
  return recompute_waiting(prepare, rids, false);
}

Status wait_on_stored_keys(store::Connection& db) {
  StatementCache cache(db);
  Prepare prepare = [&cache](const std::string& sql) { return cache(sql); };
  std::vector<std::int64_t> rids;
  {
    auto st = prepare("SELECT rid FROM resource WHERE patient IN (?1, ?2) AND type <> 'Patient' ORDER BY rid");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, kUnknownPatient));
    EHR_TRY((*st)->bind_text(2, kSeveralPatients));
    EHR_TRY(step_rows(**st, [&](store::Statement& q) { rids.push_back(q.column_int(0)); }));
  }
  auto linked = recompute_waiting(prepare, rids, true);
  return linked.ok() ? Status() : Status(linked.error());
}

}  // namespace ehr::detail
