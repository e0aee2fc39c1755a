// The decision point inside core (access.h).
#include "access.h"

#include <cstdint>
#include <cstdio>

#include <fmt/format.h>

#include "audit_log.h"
#include "crypto_sodium.h"
#include "ehr/records.h"
#include "instant.h"
#include "words.h"

namespace ehr {

namespace {

// The roles for a denial message: space-separated, as everywhere else that
// lists them (audit rows, user add, user list), or "none".
std::string roles_text(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : " ") + x;
  return out.empty() ? "none" : out;
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ" plus `minutes`; the input unchanged if it does
// not parse (a test clock in another shape).
std::string add_minutes(const std::string& instant, int minutes) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
  if (std::sscanf(instant.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi, &sec, &ms) != 7 ||
      mo < 1 || mo > 12)
    return instant;
  return detail::format_instant(detail::instant_ms(y, static_cast<unsigned>(mo), d, h, mi, sec, ms) +
                                std::int64_t{minutes} * 60'000);
}

}  // namespace

Result<bool> SessionImpl::on_care_team(const std::string& patient) {
  if (auto it = team_cache_.find(patient); it != team_cache_.end()) return it->second;
  auto st = statement("SELECT 1 FROM care_team WHERE patient = ? AND user = ?");
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, patient));
  EHR_TRY((*st)->bind_text(2, user_));
  auto row = (*st)->step();
  if (!row.ok()) return row.error();
  (void)(*st)->reset();  // release the read snapshot (see load_user)
  team_cache_[patient] = *row;
  return *row;
}

Result<std::int64_t> SessionImpl::emergency_grant(const std::string& patient) {
  if (auto it = grants_.find(patient); it != grants_.end()) {
    if (it->second.second > now()) return it->second.first;
    grants_.erase(it);
  }
  auto st = statement(
      "SELECT id, expires FROM emergency WHERE user = ? AND patient = ? AND expires > ? "
      "ORDER BY id DESC LIMIT 1");
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, user_));
  EHR_TRY((*st)->bind_text(2, patient));
  EHR_TRY((*st)->bind_text(3, now()));
  auto row = (*st)->step();
  if (!row.ok()) return row.error();
  std::int64_t id = *row ? (*st)->column_int(0) : 0;
  std::string expires = *row ? (*st)->column_text(1) : "";
  (void)(*st)->reset();
  if (id != 0) grants_[patient] = {id, expires};
  return id;
}

Result<Decision> decide(SessionImpl& s, Action action, const Target& target, bool start_grant) {
  AccessFacts f;
  f.roles = s.roles();
  f.action = action;
  f.type = target.type;
  f.has_patient = !target.patient.empty();
  f.labels = detail::split_words(target.security);
  f.code = target.code;
  std::int64_t grant = 0;
  // The care team and break-the-glass matter only to care-team rules: for
  // roles without one (registrar, admin, ...) they are not looked up, which
  // spares a search an index lookup per patient it finds.
  // A record of several patients, or of one no stored patient is known to
  // be (ehr/records.h kSeveralPatients, kUnknownPatient), is on no care team
  // and under no grant: only rules not limited to the care team allow it.
  bool nobodys = f.has_patient && !is_single_patient(target.patient);
  if (f.has_patient && !nobodys && s.policy().scopes_to_care_team(f.roles)) {
    auto team = s.on_care_team(target.patient);
    if (!team.ok()) return team.error();
    f.on_care_team = *team;
    if (!f.on_care_team) {
      auto g = s.emergency_grant(target.patient);
      if (!g.ok()) return g.error();
      grant = *g;
      // A new grant only for reading one named patient (record show, patient
      // show, history): never for searches across patients, which would
      // break the glass on everyone they match.
      f.emergency = grant != 0 || (action == Action::kRead && start_grant && !s.emergency_reason().empty());
    }
  }
  Decision d = s.policy().decide(f);
  if (nobodys && !d.allowed && !d.explicit_deny && d.reason.find("care team") != std::string::npos) {
    d.emergency_would_allow = false;
    d.reason = target.patient == kSeveralPatients
                   ? "the record belongs to several patients; rules limited to the care team never allow it"
                   : "the record's patient is given by an identifier that names no one stored patient; "
                     "rules limited to the care team never allow it";
  }
  if (d.allowed && d.emergency) {
    if (grant == 0) {
      // Break the glass: one grant per user and patient, for the policy's minutes.
      std::string now = s.now();
      std::string expires = add_minutes(now, s.policy().emergency_minutes());
      auto st = s.statement(
          "INSERT INTO emergency(user, patient, reason, started, expires) VALUES(?,?,?,?,?) RETURNING id");
      if (!st.ok()) return st.error();
      EHR_TRY((*st)->bind_text(1, s.user()));
      EHR_TRY((*st)->bind_text(2, target.patient));
      EHR_TRY((*st)->bind_text(3, s.emergency_reason()));
      EHR_TRY((*st)->bind_text(4, now));
      EHR_TRY((*st)->bind_text(5, expires));
      auto row = (*st)->step();
      if (!row.ok()) return row.error();
      grant = (*st)->column_int(0);
      (void)(*st)->reset();
      s.note_grant(target.patient, grant, expires);
      s.note_emergency(target.patient);
      // The reason stays in the emergency table (the trail holds no clinical
      // content); the chained entry seals it (security finding 4).
      EHR_TRY(write_audit(s, {"emergency", "ok", target.patient, "",
                              emergency_reason_seal(s.chain(), s.emergency_reason()), 0,
                              fmt::format("grant {} until {}", grant, expires)}));
    }
    s.note_emergency(target.patient);
  }
  return d;
}

Result<Decision> authorize(SessionImpl& s, Action action, const Target& target) {
  auto d = decide(s, action, target);
  if (!d.ok()) return d.error();
  if (d->allowed) return d;
  AuditRecord rec;
  rec.action = std::string(action_name(action));
  rec.outcome = "denied";
  rec.patients = is_single_patient(target.patient) ? target.patient : "";
  rec.detail = target.type;
  s.record_denial(rec);
  std::string what = target.type;
  if (target.patient == kSeveralPatients) {
    what += " of several patients";
  } else if (target.patient == kUnknownPatient) {
    what += " of an unidentified patient";
  } else if (!target.patient.empty()) {
    if (target.type != "Patient") what += " of patient " + target.patient;
    else if (action != Action::kCreate) what += " " + target.patient;
  }
  std::string msg = fmt::format("user {} (roles: {}) may not {} {}: {}", s.user(), roles_text(s.roles()),
                                action_name(action), what, d->reason);
  if (d->emergency_would_allow) msg += " (break the glass with --emergency --reason TEXT)";
  return Error::access_denied(msg);
}

Result<std::vector<std::string>> patients_for_key(SessionImpl& s, const std::string& key) {
  auto p = s.rows("SELECT id FROM resource WHERE type = 'Patient' AND id = ?", {key});
  if (!p.ok()) return p.error();
  if (p->empty()) {
    p = s.rows("SELECT DISTINCT r.id FROM identifier i JOIN resource r ON r.rid = i.rid "
               "WHERE i.value = ? AND i.type = 'Patient' ORDER BY r.id",
               {key});
    if (!p.ok()) return p.error();
  }
  std::vector<std::string> out;
  for (const auto& r : *p) out.push_back(r[0]);
  return out;
}

Error ambiguous_patient_key(const std::string& key, std::size_t patients) {
  return Error::conflict(fmt::format("{} identifies {} patients; use the patient id", key, patients));
}

void record_unfound_patient(SessionImpl& s, const std::string& key, std::int64_t matches) {
  s.record_denial({"read", "not-found", "", "", crypto::blake2b_256_hex("patient-key|" + key), matches,
                   matches == 0 ? "Patient: no such patient" : fmt::format("Patient: {} patients match", matches)});
}

Result<std::string> resolve_patient_key(SessionImpl& s, const std::string& key) {
  auto p = patients_for_key(s, key);
  if (!p.ok()) return p.error();
  if (p->size() != 1) record_unfound_patient(s, key, static_cast<std::int64_t>(p->size()));
  if (p->size() > 1)
    return ambiguous_patient_key(key, p->size());
  if (p->empty()) return Error::not_found(fmt::format("no patient {}", key));
  return p->front();
}

Json apply_fields(const Json& resource, const Decision& d) {
  if (d.fields.empty() || !resource.is_object()) return resource;
  Json out = Json::object();
  for (const auto& [key, value] : resource.members()) {
    bool keep = key == "resourceType" || key == "id" || key == "meta" ||
                std::find(d.fields.begin(), d.fields.end(), key) != d.fields.end();
    if (keep) out.set(key, value);
  }
  Json* meta = out.find("meta");
  if (meta == nullptr || !meta->is_object()) meta = &out.set("meta", Json::object());
  Json* sec = meta->find("security");
  if (sec == nullptr || !sec->is_array()) sec = &meta->set("security", Json::array());
  Json tag = Json::object();
  tag.set("system", Json::string("http://terminology.hl7.org/CodeSystem/v3-ObservationValue"));
  tag.set("code", Json::string("REDACTED"));
  tag.set("display", Json::string("redacted"));
  sec->push_back(std::move(tag));
  return out;
}

}  // namespace ehr
