// The record schema and its migrations (PRAGMA user_version).
//
// Migration 1: resources with lookup columns, their history, identifier,
// reference and name-token tables, the change sequence, users and the audit
// table. Migration 2: the name-token and identifier indexes cover rid.
// Migration 3: the access model. Migration 4: Patient rows carry their care
// team and sort key. Migration 5: the audit chain. Migration 6: import aliases.
// Migration 7: export jobs. Migration 8: the members of an export job's group.
// Migration 9: the current version's history entry is kept in its resource
// row; no index of references by target. Migration 10: patient matching
// and merges. Migration 11: no reference rows to a record's own patient.
// Migration 12: every record's patient computed again (recompute_patients).
// Migration 13: clinical dates with a time and a zone in UTC.
// Migration 14: the identifiers by which records name their patient.
// Each later migration appends to kMigrations; released ones never change.

#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "ehr/json.h"
#include "ehr/matching.h"
#include "ehr/session.h"
#include "patient_keys.h"
#include "resource_index.h"
#include "session_impl.h"

namespace ehr {

namespace {

const char* const kMigrations[] = {
    // 1
    R"sql(
CREATE TABLE resource(
  rid           INTEGER PRIMARY KEY,
  type          TEXT NOT NULL,
  id            TEXT NOT NULL,
  version       INTEGER NOT NULL,
  seq           INTEGER NOT NULL,
  last_updated  TEXT NOT NULL,
  patient       TEXT,
  status        TEXT,
  code_system   TEXT,
  code          TEXT,
  clinical_date TEXT,
  security      TEXT,
  retracted     INTEGER NOT NULL DEFAULT 0,
  json          TEXT NOT NULL,
  UNIQUE(type, id)
);
CREATE INDEX resource_patient ON resource(patient, type, clinical_date);
CREATE INDEX resource_seq ON resource(seq);
CREATE INDEX resource_code ON resource(code_system, code);
CREATE INDEX resource_type_seq ON resource(type, seq);

CREATE TABLE history(
  type     TEXT NOT NULL,
  id       TEXT NOT NULL,
  version  INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  action   TEXT NOT NULL,
  author   TEXT NOT NULL,
  time     TEXT NOT NULL,
  reason   TEXT NOT NULL DEFAULT '',
  patient  TEXT,
  json     TEXT,
  PRIMARY KEY(type, id, version)
) WITHOUT ROWID;
CREATE INDEX history_seq ON history(seq);

CREATE TABLE tombstone(
  type TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, time TEXT NOT NULL,
  author TEXT NOT NULL, reason TEXT NOT NULL, patient TEXT,
  PRIMARY KEY(type, id)
) WITHOUT ROWID;
CREATE INDEX tombstone_seq ON tombstone(seq);

CREATE TABLE identifier(
  rid INTEGER NOT NULL REFERENCES resource(rid) ON DELETE CASCADE,
  type TEXT NOT NULL, system TEXT NOT NULL, value TEXT NOT NULL
);
CREATE INDEX identifier_value ON identifier(value, system, type);
CREATE INDEX identifier_rid ON identifier(rid);

CREATE TABLE reference(
  rid INTEGER NOT NULL REFERENCES resource(rid) ON DELETE CASCADE,
  target_type TEXT NOT NULL, target_id TEXT NOT NULL
);
CREATE INDEX reference_target ON reference(target_type, target_id);
CREATE INDEX reference_rid ON reference(rid);

CREATE TABLE name_token(
  rid INTEGER NOT NULL REFERENCES resource(rid) ON DELETE CASCADE,
  token TEXT NOT NULL
);
CREATE INDEX name_token_token ON name_token(token);
CREATE INDEX name_token_rid ON name_token(rid);

CREATE TABLE counter(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counter VALUES('seq', 0), ('audit', 0);

CREATE TABLE users(
  name     TEXT PRIMARY KEY,
  roles    TEXT NOT NULL DEFAULT '',
  disabled INTEGER NOT NULL DEFAULT 0,
  created  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit(
  seq       INTEGER PRIMARY KEY,
  time      TEXT NOT NULL,
  user      TEXT NOT NULL,
  roles     TEXT NOT NULL,
  action    TEXT NOT NULL,
  outcome   TEXT NOT NULL,
  purpose   TEXT NOT NULL,
  patients  TEXT NOT NULL DEFAULT '',
  resources TEXT NOT NULL DEFAULT '',
  query_hash TEXT NOT NULL DEFAULT '',
  count     INTEGER NOT NULL DEFAULT 0,
  detail    TEXT NOT NULL DEFAULT ''
);
)sql",
    // 2: the name and identifier subqueries of patient search and lookup
    // select rid, which these indexes did not hold: every match cost a read
    // of its name_token or identifier table row too. Now they cover it.
    R"sql(
DROP INDEX name_token_token;
CREATE INDEX name_token_token ON name_token(token, rid);
DROP INDEX identifier_value;
CREATE INDEX identifier_value ON identifier(value, system, type, rid);
)sql",
    // 3: the access model: installed policy versions, care teams,
    // break-the-glass grants, who made and changed users, and the emergency
    // flag of audit entries.
    R"sql(
ALTER TABLE users ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN changed TEXT NOT NULL DEFAULT '';
CREATE TABLE policy(
  version      INTEGER PRIMARY KEY,
  installed    TEXT NOT NULL,
  installed_by TEXT NOT NULL,
  source       TEXT NOT NULL,
  digest       TEXT NOT NULL,
  text         TEXT NOT NULL
);
CREATE TABLE care_team(
  patient  TEXT NOT NULL,
  user     TEXT NOT NULL,
  role     TEXT NOT NULL,
  added    TEXT NOT NULL,
  added_by TEXT NOT NULL,
  PRIMARY KEY(patient, user)
) WITHOUT ROWID;
CREATE INDEX care_team_user ON care_team(user, patient);
CREATE TABLE emergency(
  id      INTEGER PRIMARY KEY,
  user    TEXT NOT NULL,
  patient TEXT NOT NULL,
  reason  TEXT NOT NULL,
  started TEXT NOT NULL,
  expires TEXT NOT NULL
);
CREATE INDEX emergency_user ON emergency(user, patient, expires);
ALTER TABLE audit ADD COLUMN emergency INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: a patient search decides each match by the care team, which cost a
    // read of a care_team page per match (they sit in patient-id order, the
    // matches in name order). The Patient row now carries its team's user
    // names (space-separated), kept by triggers from care_team, which stays
    // the record of who added whom and when; the row is read anyway. And its
    // sort key (folded family and given name), which the search took from
    // the JSON of each match.
    R"sql(
ALTER TABLE resource ADD COLUMN sort_name TEXT;
UPDATE resource SET sort_name = ehr_patient_sort_name(json) WHERE type = 'Patient';
ALTER TABLE resource ADD COLUMN team TEXT;
UPDATE resource SET team = (SELECT group_concat(user, ' ') FROM care_team WHERE patient = resource.id)
  WHERE type = 'Patient';
CREATE TRIGGER care_team_added AFTER INSERT ON care_team BEGIN
  UPDATE resource SET team = (SELECT group_concat(user, ' ') FROM care_team WHERE patient = NEW.patient)
    WHERE type = 'Patient' AND id = NEW.patient;
END;
CREATE TRIGGER care_team_removed AFTER DELETE ON care_team BEGIN
  UPDATE resource SET team = (SELECT group_concat(user, ' ') FROM care_team WHERE patient = OLD.patient)
    WHERE type = 'Patient' AND id = OLD.patient;
END;
)sql",
    // 5: the tamper-evident audit trail (ehr/audit.h): each entry's chain
    // hash, the tool that wrote it and the recipient of a disclosure; the
    // chain key and trail id (made, and the entries before chained, by
    // ensure_audit_chain at the first open); triggers that refuse to change
    // or delete an entry once chained, or the chain key ever.
    R"sql(
ALTER TABLE audit ADD COLUMN tool TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN recipient TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash BLOB;
CREATE INDEX audit_time ON audit(time);
CREATE TABLE audit_chain(
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  trail_id  TEXT NOT NULL,
  chain_key BLOB NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit WHEN OLD.hash IS NOT NULL BEGIN
  SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
  SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain BEGIN
  SELECT RAISE(ABORT, 'the audit chain key never changes');
END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain BEGIN
  SELECT RAISE(ABORT, 'the audit chain key never changes');
END;
)sql",
    // 6: import (ehr/import.h): another source's id for a record stored
    // here under its own id (matched by identifier), so that the source's
    // references to it land on the stored record.
    R"sql(
CREATE TABLE import_alias(
  type    TEXT NOT NULL,
  from_id TEXT NOT NULL,
  to_id   TEXT NOT NULL,
  PRIMARY KEY(type, from_id)
) WITHOUT ROWID;
)sql",
    // 7: export jobs (ehr/export.h ExportOptions::job): each named job's
    // filters and checkpoint, the change sequence and transactionTime its
    // last successful run reached.
    R"sql(
CREATE TABLE export_job(
  name             TEXT PRIMARY KEY,
  filters          TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  transaction_time TEXT NOT NULL,
  runs             INTEGER NOT NULL,
  created          TEXT NOT NULL,
  created_by       TEXT NOT NULL,
  last_out         TEXT NOT NULL,
  last_user        TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    // 8: an export job's group as its last successful run read it (ehr/export.h
    // ExportOptions::job): the next run gives members new since then their
    // whole history. Patient ids only, no clinical content.
    R"sql(
CREATE TABLE export_job_member(
  job     TEXT NOT NULL,
  patient TEXT NOT NULL,
  PRIMARY KEY(job, patient)
) WITHOUT ROWID;
)sql",
    // 9: the current version's history entry is kept in its resource row
    // (action, author, reason beside its seq, last_updated, patient and json):
    // writing a version writes one row, not two, and its content is stored
    // once; history holds superseded versions and purges (records.cc,
    // supersede). An older database keeps its history rows of current
    // versions (their resource row's action is NULL), but not their second
    // copy of the content: the resource row's json is it. (Pages freed go to
    // the free list; ehr db backup writes a compact copy.)
    // And the reference table loses its index by target: no query looks a
    // reference up by what it points to (the table is read by rid), and each
    // insert into it, in the random order of the targets' ids, cost a page
    // read and write (an import's Provenance names a thousand records).
    // A later feature that needs it creates it again.
    R"sql(
DROP INDEX IF EXISTS reference_target;
ALTER TABLE resource ADD COLUMN action TEXT;
ALTER TABLE resource ADD COLUMN author TEXT;
ALTER TABLE resource ADD COLUMN reason TEXT;
UPDATE history SET json = NULL
  WHERE json IS NOT NULL
    AND EXISTS (SELECT 1 FROM resource r WHERE r.type = history.type AND r.id = history.id
                  AND r.version = history.version AND r.json = history.json);
)sql",
    // 10: patient matching and merges (ehr/patient_merge.h).
    // match_key: each Patient row's blocking keys (ehr/matching.h
    // blocking_keys), written with its other index rows; two patients are
    // compared only when they share a key. Existing patients get theirs here.
    // match_review: pairs an import found alike (possible-match, or match
    // under --match review) for a person to decide; a < b.
    // match_decision: pairs a person ruled not to be one patient.
    // patient_link: an incoming patient's id that import matching linked to
    // a stored patient (import --match auto), found again on re-import.
    // patient_merge: each merge in force, with what it changed so that
    // unmerge can undo exactly that (JSON: the rewritten references by
    // resource and path, and the patients' prior active and link).
    // reference_patient: references to patients by target, for a merge to
    // find every record that points at its source (only Patient targets:
    // the rest of the reference table stays without an index by target).
    R"sql(
CREATE TABLE match_key(
  key TEXT NOT NULL,
  rid INTEGER NOT NULL REFERENCES resource(rid) ON DELETE CASCADE
);
CREATE INDEX match_key_key ON match_key(key, rid);
CREATE INDEX match_key_rid ON match_key(rid);
INSERT INTO match_key(key, rid)
  SELECT k.value, r.rid FROM resource r, json_each(ehr_match_keys(r.json)) k WHERE r.type = 'Patient';
CREATE TABLE match_review(
  a          TEXT NOT NULL,
  b          TEXT NOT NULL,
  score      REAL NOT NULL,
  result     TEXT NOT NULL,
  fields     TEXT NOT NULL,
  found_by   TEXT NOT NULL,
  time       TEXT NOT NULL,
  user       TEXT NOT NULL,
  PRIMARY KEY(a, b)
) WITHOUT ROWID;
CREATE TABLE match_decision(
  a        TEXT NOT NULL,
  b        TEXT NOT NULL,
  decision TEXT NOT NULL,
  time     TEXT NOT NULL,
  user     TEXT NOT NULL,
  reason   TEXT NOT NULL,
  PRIMARY KEY(a, b)
) WITHOUT ROWID;
CREATE TABLE patient_merge(
  source  TEXT PRIMARY KEY,
  target  TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  time    TEXT NOT NULL,
  user    TEXT NOT NULL,
  reason  TEXT NOT NULL,
  changes TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX patient_merge_target ON patient_merge(target);
CREATE TABLE patient_link(
  from_id TEXT PRIMARY KEY,
  to_id   TEXT NOT NULL,
  score   REAL NOT NULL,
  fields  TEXT NOT NULL,
  time    TEXT NOT NULL,
  user    TEXT NOT NULL,
  file    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX reference_patient ON reference(target_id) WHERE target_type = 'Patient';
)sql",
    // 11: the reference table holds no row for a reference to the record's
    // own patient (its patient column): a merge finds those records by the
    // column (patient_merge.cc), and every Observation's subject cost an
    // insert into reference_patient in random id order, 7% of an import's
    // CPU (issue 7). Who refers to patient P is now the records whose
    // patient is P and those with a reference row to P. The rows written
    // before go here; a database still at 10 merges the same (its extra
    // rows find records the patient column finds too).
    R"sql(
DELETE FROM reference
  WHERE target_type = 'Patient'
    AND target_id = (SELECT r.patient FROM resource r WHERE r.rid = reference.rid);
)sql",
    // 12: a record's patient follows every reference to a Patient, not only
    // subject, patient and beneficiary (Appointment.participant.actor,
    // Task.for, ...), a patient given by identifier is looked up, and a
    // record of several patients or an unidentified one is marked so
    // (resource_index.h index_resource, ehr/records.h kSeveralPatients).
    // Nothing to do in SQL: recompute_patients (below) rewrites the patient
    // column of every stored record and superseded version whose patient
    // changes, and the reference rows of those records.
    R"sql(
SELECT 1;
)sql",
    // 13: a clinical date with a time and a zone is kept in UTC
    // (clinical_date_key), so that a patient's records sort by the instant,
    // not by the text: 20:00-05:00 is after 23:00Z of the same day, and the
    // latest result `care check` flags is the latest one.
    R"sql(
UPDATE resource SET clinical_date = ehr_clinical_date(clinical_date) WHERE clinical_date GLOB '*T*';
)sql",
    // 14: the identifiers by which records name their patient (a logical
    // reference), so that writing a Patient can move the records keyed on
    // an identifier it gains or loses (patient_keys.h): a lab result that
    // arrived before its patient's registration joins the chart, one
    // linked by a mistyped MRN leaves it when the MRN is corrected. The
    // stored records' keys are written by index_stored_keys (below).
    R"sql(
CREATE TABLE patient_key(
  value  TEXT NOT NULL,
  system TEXT NOT NULL,
  rid    INTEGER NOT NULL,
  PRIMARY KEY(value, system, rid)
) WITHOUT ROWID;
CREATE INDEX patient_key_rid ON patient_key(rid);
)sql",
    // 15: the source's meta.lastUpdated of each record an import wrote, so
    // that an update delivered out of order (an older copy after a newer
    // one, as feeds and retries do) is skipped as stale, not written over
    // the newer copy (import.cc, QA interop finding 02).
    R"sql(
CREATE TABLE IF NOT EXISTS resource_source(
  type    TEXT NOT NULL,
  id      TEXT NOT NULL,
  updated TEXT NOT NULL,
  PRIMARY KEY(type, id)
) WITHOUT ROWID;
)sql",
    // 16: the clinical date of records whose date element the index did not
    // read (clinical_date_text's later keys: MedicationDispense.whenHandedOver,
    // ImagingStudy.started, QuestionnaireResponse.authored, ...), so that
    // they sort by date and --since sees them. Only rows without one change.
    R"sql(
UPDATE resource SET clinical_date = nullif(ehr_record_clinical_date(json), '')
WHERE clinical_date IS NULL AND json IS NOT NULL;
)sql",
    // 17: a record's security labels include those of its contained
    // resources (index_resource), so that a contained Medication labelled
    // substance-use withholds the order that holds it.
    R"sql(
UPDATE resource SET security = nullif(ehr_security_labels(json), '')
WHERE json LIKE '%"contained"%' AND json LIKE '%"security"%';
)sql",
};

constexpr std::int64_t kRecomputePatients = 12;
constexpr std::int64_t kIndexPatientKeys = 14;

constexpr std::int64_t kLatest = sizeof kMigrations / sizeof kMigrations[0];

// ehr_patient_sort_name(json): patient_sort_name of a stored Patient ('' for
// JSON that does not parse).
std::string patient_sort_name_of(std::string_view json) {
  auto parsed = parse_json(json);
  return parsed.ok() ? patient_sort_name(*parsed) : std::string();
}

// ehr_clinical_date(text): clinical_date_key of a stored clinical date.
std::string clinical_date_of(std::string_view date) { return clinical_date_key(date); }

// ehr_record_clinical_date(json): index_resource's clinical date of a stored
// record ('' for none, or JSON that does not parse).
std::string record_clinical_date_of(std::string_view json) {
  auto j = parse_json(json);
  return j.ok() ? index_resource(*j).clinical_date : std::string();
}

// ehr_security_labels(json): index_resource's security of a stored record
// ('' for JSON that does not parse).
std::string security_labels_of(std::string_view json) {
  auto j = parse_json(json);
  return j.ok() ? index_resource(*j).security : std::string();
}

// ehr_match_keys(json): the blocking keys of a stored Patient as a JSON
// array ('[]' for JSON that does not parse).
std::string match_keys_of(std::string_view json) {
  Json keys = Json::array();
  auto parsed = parse_json(json);
  MatchFeatures features = parsed.ok() ? match_features(*parsed) : MatchFeatures();
  if (parsed.ok() && !features.retired)
    for (auto& k : blocking_keys(features)) keys.push_back(Json::string(std::move(k)));
  return to_json(keys);
}

// Migration 12: the patient column of every record (and of each superseded
// version with content) as index_resource and resolve_patient_keys compute
// it now; a record whose patient changes gets its reference rows again (a
// reference to its own patient has none: migration 11). REQUIRES: inside
// the migration's transaction.
Status recompute_patients(store::Connection& db) {
  store::StatementCache cache;
  detail::Prepare prepare = [&](const std::string& sql) { return cache.get(db, sql); };
  Status failed;
  auto index_of = [&](std::string_view json, IndexEntry& e) {
    auto parsed = parse_json(json);
    if (!parsed.ok()) return false;
    e = index_resource(*parsed);
    failed = detail::resolve_keys(prepare, e);
    return true;
  };
  struct Change {
    std::int64_t rid;
    IndexEntry e;
  };
  std::vector<Change> changes;
  {
    auto st = db.prepare("SELECT rid, json, coalesce(patient, '') FROM resource WHERE type <> 'Patient'");
    if (!st.ok()) return st.error();
    for (;;) {
      auto row = st->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      IndexEntry e;
      if (!index_of(st->column_view(1), e)) continue;
      if (!failed.ok()) return failed;
      if (e.patient != st->column_text(2)) changes.push_back({st->column_int(0), std::move(e)});
    }
  }
  for (const auto& c : changes) EHR_TRY(detail::rewrite_patient(prepare, c.rid, c.e));
  // Superseded versions: history's patient column (record history decides
  // each version on its own content; this keeps the column in step).
  std::vector<std::tuple<std::string, std::string, std::int64_t, std::string>> versions;
  {
    auto st = db.prepare(
        "SELECT type, id, version, json, coalesce(patient, '') FROM history "
        "WHERE json IS NOT NULL AND type <> 'Patient'");
    if (!st.ok()) return st.error();
    for (;;) {
      auto row = st->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      IndexEntry e;
      if (!index_of(st->column_view(3), e)) continue;
      if (!failed.ok()) return failed;
      if (e.patient != st->column_text(4))
        versions.emplace_back(st->column_text(0), st->column_text(1), st->column_int(2), e.patient);
    }
  }
  for (const auto& [type, id, version, patient] : versions) {
    auto up = db.prepare("UPDATE history SET patient = ?4 WHERE type = ?1 AND id = ?2 AND version = ?3");
    if (!up.ok()) return up.error();
    EHR_TRY(up->bind_text(1, type));
    EHR_TRY(up->bind_text(2, id));
    EHR_TRY(up->bind_int(3, version));
    EHR_TRY(patient.empty() ? up->bind_null(4) : up->bind_text(4, patient));
    auto done = up->step();
    if (!done.ok()) return done.error();
  }
  return {};
}

}  // namespace

std::int64_t current_schema_version() { return kLatest; }

Status migrate_schema(store::Connection& db) {
  auto v = db.query_text("PRAGMA user_version");
  if (!v.ok()) return v.error();
  std::int64_t have = std::stoll(*v);
  if (have > kLatest)
    return Error::conflict(fmt::format(
        "database schema version {} is newer than this ehr (which knows {}); upgrade ehr", have,
        kLatest));
  if (have == kLatest) return {};
  // Migrations may compute columns with ehr's own functions.
  EHR_TRY(db.define_text_function("ehr_patient_sort_name", patient_sort_name_of));
  EHR_TRY(db.define_text_function("ehr_match_keys", match_keys_of));
  EHR_TRY(db.define_text_function("ehr_clinical_date", clinical_date_of));
  EHR_TRY(db.define_text_function("ehr_record_clinical_date", record_clinical_date_of));
  EHR_TRY(db.define_text_function("ehr_security_labels", security_labels_of));
  EHR_TRY(db.exec("BEGIN IMMEDIATE"));
  // Another process may have migrated while we waited for the lock.
  auto again = db.query_text("PRAGMA user_version");
  if (!again.ok()) {
    (void)db.exec("ROLLBACK");
    return again.error();
  }
  for (std::int64_t i = std::stoll(*again); i < kLatest; ++i) {
    Status s = db.exec(kMigrations[i]);
    if (s.ok() && i + 1 == kRecomputePatients) s = recompute_patients(db);
    if (s.ok() && i + 1 == kIndexPatientKeys) s = detail::index_stored_keys(db);
    if (!s.ok()) {
      (void)db.exec("ROLLBACK");
      return s.error().with_context(fmt::format("schema migration {}", i + 1));
    }
  }
  Status s = db.exec(fmt::format("PRAGMA user_version={}", kLatest));
  if (s.ok()) s = db.exec("COMMIT");
  if (!s.ok()) {
    (void)db.exec("ROLLBACK");
    return s.error();
  }
  return {};
}

}  // namespace ehr
