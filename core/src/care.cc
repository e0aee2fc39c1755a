// Decision support over the records (ehr/care.h): rule evaluation, the due
// list across patients, medication-allergy conflicts and lab flags.
//
// Sections: rule evaluation (pure); the due list (one pass over the patients,
// one index scan per code list); medication-allergy conflicts (pure);
// lab flags (pure); one patient's check; audit of allergy alerts.

#include "ehr/care.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "access.h"
#include "audit_log.h"
#include "care_internal.h"
#include "crypto_sodium.h"
#include "ehr/records.h"
#include "record_writer.h"
#include "resource_index.h"
#include "session_impl.h"
#include "words.h"

namespace ehr {

std::string care_status_name(CareStatus s) {
  switch (s) {
    case CareStatus::kNotApplicable: return "not-applicable";
    case CareStatus::kSatisfied: return "satisfied";
    case CareStatus::kDue: return "due";
    case CareStatus::kOverdue: return "overdue";
    case CareStatus::kConsider: return "consider";
  }
  return "not-applicable";
}

// --- rule evaluation -------------------------------------------------------------

namespace {

// Whether `age` (an age band bound) is reached by someone born on `birth` on `on`.
int completed(const CivilDate& birth, const CivilDate& on, const CarePeriod& p) {
  return p.unit == CarePeriod::Unit::kMonths ? age_in_months(birth, on) : age_in_years(birth, on);
}

bool in_band(const CareBand& b, const CivilDate& birth, const CivilDate& on) {
  if (b.min_age && completed(birth, on, *b.min_age) < b.min_age->count) return false;
  if (b.max_age && completed(birth, on, *b.max_age) > b.max_age->count) return false;
  return true;
}

// Records that did not happen, do not hold or do not count: statuses of
// that kind; a Procedure not completed (in preparation, on hold, in
// progress: QA finding care 10); an Immunization not completed or marked
// isSubpotent (a partial dose, an expired vaccine: QA finding care 12).
bool unusable(const CareEvidence& e) {
  static const std::set<std::string> kBad = {"not-done", "entered-in-error", "cancelled", "stopped",
                                             "refuted", "registered", "revoked"};
  if (e.type == "Procedure" && e.status != "completed") return true;
  if (e.type == "Immunization" && (e.status != "completed" || e.subpotent)) return true;
  return kBad.count(e.status) > 0 || e.verification == "refuted" || e.verification == "entered-in-error";
}

bool matches_any(const std::vector<CareCodeSet>& sets, const CareEvidence& e) {
  for (const auto& s : sets)
    if ((s.types.empty() || std::find(s.types.begin(), s.types.end(), e.type) != s.types.end()) &&
        s.matches(e.system, e.code))
      return true;
  return false;
}

CivilDate season_start(const std::string& mmdd, const CivilDate& on) {
  int m = std::atoi(mmdd.substr(0, 2).c_str()), d = std::atoi(mmdd.substr(3, 2).c_str());
  int year = std::make_pair(on.month, on.day) >= std::make_pair(m, d) ? on.year : on.year - 1;
  auto start = parse_civil_date(fmt::format("{:04}-{:02}-{:02}", year, m, d));
  // 29 February in a common year: the 28th.
  return start ? *start : CivilDate{year, m, 28};
}

std::string ref_of(const CareEvidence& e) { return e.type + "/" + e.id; }

// Whether dated evidence `a` is later than `b` (any is later than none): by
// day, then within a day by the instant (QA finding dates 03: of two HbA1c
// results the same day, the first read was taken as the last).
bool later(const CareEvidence& a, const CareEvidence* b) {
  return b == nullptr || *a.date > *b->date || (*a.date == *b->date && a.when > b->when);
}

// A record's date as shown: a partial date as written ("2020"), else the day.
std::string shown_date(const CareEvidence& e) { return e.date_text.empty() ? format_civil_date(*e.date) : e.date_text; }

}  // namespace

CareResult evaluate_care_rule(const CareRule& rule, const CarePatient& p,
                              const std::vector<CareEvidence>& evidence, const CivilDate& as_of) {
  CareResult res;
  res.patient = p.id;
  res.patient_name = p.name;
  res.rule = &rule;
  if (!p.birth) {
    res.detail = "no birth date";
    res.not_evaluated = true;
    return res;
  }
  if (p.birth_latest) {
    // A partial birth date ("1950"): the rule for the earliest and the
    // latest birthday it allows; when both say the same, that is the
    // answer (QA finding dates 13: "1950" was no birth date at all).
    CarePatient earliest = p, latest = p;
    earliest.birth_latest.reset();
    latest.birth = p.birth_latest;
    latest.birth_latest.reset();
    CareResult older = evaluate_care_rule(rule, earliest, evidence, as_of);
    CareResult younger = evaluate_care_rule(rule, latest, evidence, as_of);
    std::string ages = older.age == younger.age ? fmt::format("{}", *younger.age)
                                                : fmt::format("{} or {}", *younger.age, *older.age);
    if (older.status == younger.status && older.not_evaluated == younger.not_evaluated) {
      // The younger age's details: a dose counts from an age only if it surely does.
      younger.detail += fmt::format("{}birth date {}: age {}", younger.detail.empty() ? "" : "; ", p.birth_text, ages);
      return younger;
    }
    res.not_evaluated = true;
    res.detail = fmt::format("birth date {} is not precise enough for this rule: age {} on {}", p.birth_text, ages,
                             format_civil_date(as_of));
    return res;
  }
  res.age = age_in_years(*p.birth, as_of);
  if (p.deceased || !p.active) {
    res.detail = p.deceased ? "deceased" : "inactive record";
    return res;
  }
  // Neither female nor male (other, unknown, not recorded): whether a
  // sex-specific rule applies is the clinician's call, not a silent "not
  // applicable" (QA finding care 13); said only within the rule's ages.
  bool sex_unknown = rule.sex != "any" && p.sex != "female" && p.sex != "male";
  if (rule.sex != "any" && p.sex != rule.sex && !sex_unknown) {
    res.detail = "sex";
    return res;
  }
  const CareBand* band = nullptr;
  for (const auto& b : rule.bands)
    if (in_band(b, *p.birth, as_of)) {
      band = &b;
      break;
    }
  if (band == nullptr) {
    res.detail = "age";
    return res;
  }
  if (sex_unknown) {
    res.not_evaluated = true;
    res.detail = fmt::format("sex {}: the rule is for {} patients", p.sex.empty() ? "not recorded" : p.sex, rule.sex);
    return res;
  }
  // The patient's usable records up to the as-of date.
  std::vector<const CareEvidence*> mine;
  for (const auto& e : evidence)
    if (e.patient == p.id && !unusable(e) && (!e.date || *e.date <= as_of)) mine.push_back(&e);
  if (!rule.conditions.empty()) {
    bool has = false;
    for (const auto* e : mine)
      if (matches_any(rule.conditions, *e) && e->status != "resolved" && e->status != "inactive" &&
          e->status != "remission")
        has = true;
    if (!has) {
      res.detail = "no qualifying condition";
      return res;
    }
  }
  for (const auto* e : mine)
    if (matches_any(rule.exclusions, *e)) {
      res.detail = "excluded by " + ref_of(*e);
      return res;
    }
  std::optional<CivilDate> season;
  if (!rule.season_start.empty()) season = season_start(rule.season_start, as_of);

  // A shorter window: last value at or above goal, or a recent medication change.
  std::optional<CarePeriod> tightened;
  std::string tighten_reason;
  if (rule.tighten) {
    const CareEvidence* last_value = nullptr;
    for (const auto* e : mine)
      for (const auto& o : rule.satisfied_by)
        if (e->value && e->date && matches_any(o.codes, *e) && later(*e, last_value)) last_value = e;
    if (rule.tighten->value_at_least && last_value != nullptr) {
      // A value with a comparator ("<8", ">6.5") is at or above the goal
      // unless its bound says it is below: ">6.5" may be 12.
      double goal = *rule.tighten->value_at_least, v = *last_value->value;
      const std::string& c = last_value->comparator;
      bool above = c == ">" || c == ">=" ? true : c == "<" ? v > goal : v >= goal;
      if (above) {
        tightened = rule.tighten->within;
        tighten_reason = c.empty() ? fmt::format("last value {} at or above {}", v, goal)
                                   : fmt::format("last value {}{} may be at or above {}", c, v, goal);
      }
    }
    if (!tightened && rule.tighten->medications_within) {
      CivilDate since = subtract_period(as_of, *rule.tighten->medications_within);
      for (const auto* e : mine)
        if (e->date && *e->date >= since && matches_any(rule.tighten->medications, *e)) {
          tightened = rule.tighten->within;
          tighten_reason = fmt::format("medication {} on {}", ref_of(*e), shown_date(*e));
          break;
        }
    }
  }

  // Per option: its window's start; the latest record at all and within it.
  const CareEvidence* last = nullptr;
  const CareOption* last_option = nullptr;
  const CareEvidence* within_last = nullptr;
  const CareOption* within_option = nullptr;
  std::vector<CivilDate> season_doses;
  bool dose_before_season = false;
  const CareEvidence* positive = nullptr;  // the latest positive result of a negative_only option
  const CareOption* positive_option = nullptr;
  const CareEvidence* follow_up = nullptr;  // the latest record of any other option
  for (const auto& o : rule.satisfied_by) {
    CarePeriod w = tightened ? *tightened : band->within ? *band->within : o.within;
    if (o.within.unit == CarePeriod::Unit::kEver || o.within.unit == CarePeriod::Unit::kSeason) w = o.within;
    // A record covers the as-of date when its date plus the window reaches
    // it (the day of the month clamped: 28 February plus 6 months is 28
    // August), the same sum that due_since counts from (QA finding dates
    // 12: the two disagreed at a month's end); a season, from its start.
    auto covers = [&](const CivilDate& d) {
      if (w.unit == CarePeriod::Unit::kEver) return true;
      if (w.unit == CarePeriod::Unit::kSeason) return d >= *season;
      return add_period(d, w) >= as_of;
    };
    std::optional<CivilDate> min_date;
    if (o.min_age_at) min_date = add_period(*p.birth, *o.min_age_at);
    for (const auto* e : mine) {
      if (!e->date || !matches_any(o.codes, *e)) continue;
      if (min_date && *e->date < *min_date) continue;
      if (o.negative_only && e->positive) {
        if (later(*e, positive)) {
          positive = e;
          positive_option = &o;
        }
        continue;
      }
      if (!o.negative_only && later(*e, follow_up)) follow_up = e;
      if (later(*e, last)) {
        last = e;
        last_option = &o;
      }
      if (w.unit == CarePeriod::Unit::kSeason) {
        if (*e->date >= *season) season_doses.push_back(*e->date);
        else dose_before_season = true;
      }
      if (covers(*e->date) && later(*e, within_last)) {
        within_last = e;
        within_option = &o;
      }
    }
  }
  // A positive stool test calls for a follow-up (a colonoscopy: a record of
  // an option that is not a stool test, on or after it), which a repeat
  // stool test is not: until then the rule is due (QA finding care 11).
  if (positive != nullptr && (follow_up == nullptr || *follow_up->date < *positive->date)) {
    res.last_ref = ref_of(*positive);
    res.last_date = shown_date(*positive);
    res.last_what = positive_option->name + " (positive)";
    res.due_since = format_civil_date(*positive->date);
    res.status = band->result == "consider" ? CareStatus::kConsider : CareStatus::kDue;
    res.detail = fmt::format("positive {} {}: a follow-up is due (a repeat does not count)", positive_option->name,
                             res.last_date);
    return res;
  }
  const CareEvidence* shown = within_last != nullptr ? within_last : last;
  if (shown != nullptr) {
    res.last_ref = ref_of(*shown);
    res.last_date = shown_date(*shown);
    res.last_what = (within_last != nullptr ? within_option : last_option)->name;
  }
  bool satisfied = within_last != nullptr;
  if (satisfied && rule.first_season && !season_doses.empty() && !dose_before_season &&
      completed(*p.birth, as_of, rule.first_season->max_age) <= rule.first_season->max_age.count) {
    // First season of a young child: `doses` doses, each min_days_apart after the last counted.
    std::sort(season_doses.begin(), season_doses.end());
    int counted = 1;
    CivilDate prev = season_doses.front();
    for (size_t i = 1; i < season_doses.size(); ++i)
      if (add_days(prev, rule.first_season->min_days_apart) <= season_doses[i]) {
        ++counted;
        prev = season_doses[i];
      }
    if (counted < rule.first_season->doses) {
      satisfied = false;
      res.due_since = format_civil_date(add_days(prev, rule.first_season->min_days_apart));
      res.status = band->result == "consider" ? CareStatus::kConsider : CareStatus::kDue;
      res.detail = fmt::format("first season: dose {} of {} due {} days after the last", counted + 1,
                               rule.first_season->doses, rule.first_season->min_days_apart);
      return res;
    }
  }
  if (satisfied) {
    res.status = CareStatus::kSatisfied;
    res.detail = tighten_reason.empty() ? "" : "window shortened: " + tighten_reason;
    return res;
  }
  if (last != nullptr) {
    CarePeriod w = tightened ? *tightened : band->within ? *band->within : last_option->within;
    if (last_option->within.unit == CarePeriod::Unit::kSeason) res.due_since = format_civil_date(*season);
    else if (w.unit != CarePeriod::Unit::kEver) res.due_since = format_civil_date(add_days(add_period(*last->date, w), 1));
  } else if (season) {
    res.due_since = format_civil_date(*season);
  }
  if (band->result == "consider") {
    res.status = CareStatus::kConsider;
    res.detail = band->note;
  } else {
    res.status = last != nullptr ? CareStatus::kOverdue : CareStatus::kDue;
    if (last == nullptr) {
      std::string names;
      for (const auto& o : rule.satisfied_by) names += (names.empty() ? "" : ", ") + o.name;
      res.detail = "none on record: " + names;
    } else {
      res.detail = fmt::format("last {} {} is outside the window", last_option->name, res.last_date);
    }
  }
  if (!tighten_reason.empty()) res.detail += (res.detail.empty() ? "" : "; ") + ("window shortened: " + tighten_reason);
  return res;
}

// --- the due list --------------------------------------------------------------------

namespace {

struct PatientRow {
  CarePatient p;
  std::string sort_key;
  bool on_team = false;  // the user is on the patient's care team
};

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : " ") + id;
  return out;
}

std::string in_list(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i ? ",?" : "?";
  return out;
}

bool wants_value(const CareRule& r) { return r.tighten && r.tighten->value_at_least; }

// A birth date, exact or partial ("1950", "1950-06": the earliest and the
// latest day it may be).
void set_birth(CarePatient& p, const std::string& text) {
  p.birth = parse_civil_date(text);
  if (p.birth) return;
  p.birth = partial_date_start(text);
  if (!p.birth) return;
  p.birth_latest = text.size() == 4 ? parse_civil_date(text + "-12-31")
                                    : add_days(add_period(*p.birth, CarePeriod{CarePeriod::Unit::kMonths, 1, "1m"}), -1);
  p.birth_text = text;
}

}  // namespace

Result<CareDueList> care_due(Session& session, const CareDueQuery& q) {
  SessionImpl& s = SessionImpl::of(session);
  s.reset_withheld();
  if (q.rules.empty()) return Error::invalid_argument("no care rule selected");
  // What the rules read: the codes by system, the types.
  struct Codes {
    std::set<std::string> exact, prefixes, value_codes, result_codes;
  };
  std::map<std::string, Codes> by_system;
  std::set<std::string> types = {"Patient"};
  auto add_sets = [&](const std::vector<CareCodeSet>& sets, bool value, bool result = false) {
    for (const auto& cs : sets) {
      Codes& c = by_system[cs.system];
      c.exact.insert(cs.codes.begin(), cs.codes.end());
      c.prefixes.insert(cs.prefixes.begin(), cs.prefixes.end());
      if (value) c.value_codes.insert(cs.codes.begin(), cs.codes.end());
      if (result) c.result_codes.insert(cs.codes.begin(), cs.codes.end());
      types.insert(cs.types.begin(), cs.types.end());
    }
  };
  for (const CareRule* r : q.rules) {
    add_sets(r->conditions, false);
    add_sets(r->exclusions, false);
    for (const auto& o : r->satisfied_by) add_sets(o.codes, wants_value(*r), o.negative_only);
    if (r->tighten) add_sets(r->tighten->medications, false);
  }
  // The gate: searching patients and each type the rules read.
  for (const auto& t : types) {
    auto d = decide(s, Action::kSearch, Target{t, "", "", ""});
    if (!d.ok()) return d.error();
    if (!d->allowed) {
      auto denied = authorize(s, Action::kSearch, Target{t, "", "", ""});
      if (!denied.ok()) return denied.error();
    }
  }

  // The patients.
  std::string psql =
      "SELECT id, coalesce(clinical_date, ''), coalesce(security, ''), coalesce(team, ''), "
      "coalesce(json_extract(json, '$.gender'), ''), "
      "CASE WHEN instr(json, 'us-core-birthsex') > 0 THEN "
      "coalesce((SELECT json_extract(e.value, '$.valueCode') FROM json_each(json, '$.extension') e "
      "  WHERE json_extract(e.value, '$.url') = "
      "'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex'), '') ELSE '' END, "
      "coalesce(json_extract(json, '$.deceasedBoolean'), 0), "
      "coalesce(json_extract(json, '$.deceasedDateTime'), ''), "
      "coalesce(json_extract(json, '$.active'), 1), "
      "coalesce(json_extract(json, '$.name[0].family'), ''), "
      "coalesce(json_extract(json, '$.name[0].given[0]'), ''), coalesce(sort_name, '') "
      "FROM resource WHERE type = 'Patient' AND retracted = 0";
  if (!q.patients.empty()) psql += " AND id IN (" + in_list(q.patients.size()) + ")";
  auto pst = s.db().prepare(psql);
  if (!pst.ok()) return pst.error();
  for (size_t i = 0; i < q.patients.size(); ++i) EHR_TRY(pst->bind_text(static_cast<int>(i + 1), q.patients[i]));
  std::vector<PatientRow> patients;
  std::unordered_map<std::string, size_t> index;
  for (;;) {
    auto row = pst->step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    std::string id = pst->column_text(0);
    bool on_team = detail::has_word(pst->column_text(3), s.user());
    s.note_care_team(id, on_team);
    auto d = decide(s, Action::kSearch, Target{"Patient", id, pst->column_text(2), ""});
    if (!d.ok()) return d.error();
    if (!d->allowed) {
      s.add_withheld(1);
      continue;
    }
    auto sees = [&](const char* field) {
      return d->fields.empty() || std::find(d->fields.begin(), d->fields.end(), field) != d->fields.end();
    };
    PatientRow r;
    r.p.id = id;
    r.on_team = on_team;
    if (sees("birthDate")) set_birth(r.p, pst->column_text(1));
    std::string birth_sex = pst->column_text(5);
    r.p.sex = birth_sex == "F" ? "female" : birth_sex == "M" ? "male" : pst->column_text(4);
    std::string deceased_at = pst->column_text(7);
    // By the UTC day, as every date of the list (QA finding dates 09).
    auto dd = parse_civil_date(clinical_date_key(deceased_at));
    r.p.deceased = pst->column_text(6) == "1" || (dd && *dd <= q.as_of) || (!deceased_at.empty() && !dd);
    r.p.active = pst->column_text(8) != "0";
    if (sees("name")) {
      std::string family = pst->column_text(9), given = pst->column_text(10);
      r.p.name = family.empty() ? given : given.empty() ? family : family + ", " + given;
    }
    r.sort_key = pst->column_text(11) + '\x01' + id;
    index.emplace(id, patients.size());
    patients.push_back(std::move(r));
  }
  for (const auto& id : q.patients)
    if (!index.count(id)) {
      bool withheld = s.withheld() > 0;
      if (!withheld) return Error::not_found(fmt::format("no patient {}", id));
    }

  // The evidence: one index scan per system's exact codes and per prefix.
  std::vector<std::vector<CareEvidence>> evidence(patients.size());
  std::vector<bool> incomplete(patients.size());  // a record of a patient the user sees was withheld
  // For a search, the decision is a function of the record's type, labels
  // and code and of the care-team relation (a search never breaks the
  // glass); for patients on the user's care team it is cached by the first
  // three, which spares the decision point a call per record.
  std::unordered_map<std::string, bool> decided;
  // One pass over the table: the rids of every code list from the code
  // index, then the rows in rid order, so each table page is read (and
  // decrypted) once however many code lists touch it.
  std::string rids, values, results;
  std::vector<std::string> rid_binds, value_binds, result_binds;
  for (const auto& [system, codes] : by_system) {
    if (!codes.exact.empty()) {
      rids += std::string(rids.empty() ? "" : " UNION ALL ") +
              "SELECT rid FROM resource WHERE code_system = ? AND code IN (" + in_list(codes.exact.size()) + ")";
      rid_binds.push_back(system);
      rid_binds.insert(rid_binds.end(), codes.exact.begin(), codes.exact.end());
    }
    for (const auto& prefix : codes.prefixes) {
      rids += std::string(rids.empty() ? "" : " UNION ALL ") +
              "SELECT rid FROM resource WHERE code_system = ? AND code >= ? AND code < ?";
      rid_binds.insert(rid_binds.end(), {system, prefix, prefix + "\xff"});
    }
    if (!codes.value_codes.empty()) {
      values += std::string(values.empty() ? "" : " OR ") + "(code_system = ? AND code IN (" +
                in_list(codes.value_codes.size()) + "))";
      value_binds.push_back(system);
      value_binds.insert(value_binds.end(), codes.value_codes.begin(), codes.value_codes.end());
    }
    if (!codes.result_codes.empty()) {
      results += std::string(results.empty() ? "" : " OR ") + "(code_system = ? AND code IN (" +
                 in_list(codes.result_codes.size()) + "))";
      result_binds.push_back(system);
      result_binds.insert(result_binds.end(), codes.result_codes.begin(), codes.result_codes.end());
    }
  }
  auto scan = [&]() -> Status {
    std::string sql = fmt::format(
        "SELECT patient, type, id, code, coalesce(clinical_date, ''), coalesce(status, ''), "
        "coalesce(security, ''), "
        "CASE WHEN type = 'Condition' THEN json_extract(json, '$.verificationStatus.coding[0].code') END, "
        "CASE WHEN type = 'Observation' AND ({0}) THEN json_extract(json, '$.valueQuantity.value') END, "
        "code_system, "
        "CASE WHEN type = 'Immunization' THEN json_extract(json, '$.isSubpotent') END, "
        "CASE WHEN type = 'Observation' AND ({0}) THEN json_extract(json, '$.valueQuantity.comparator') END, "
        "CASE WHEN type IN ('Observation', 'DiagnosticReport') AND ({2}) THEN json END "
        "FROM resource WHERE rid IN ({1}) AND retracted = 0 AND patient IS NOT NULL",
        values.empty() ? "0" : values, rids, results.empty() ? "0" : results);
    auto st = s.db().prepare(sql);
    if (!st.ok()) return st.error();
    int i = 1;
    for (int pass = 0; pass < 2; ++pass)  // the value's and the comparator's columns
      for (const auto& v : value_binds) EHR_TRY(st->bind_text(i++, v));
    for (const auto& v : result_binds) EHR_TRY(st->bind_text(i++, v));
    for (const auto& b : rid_binds) EHR_TRY(st->bind_text(i++, b));
    for (;;) {
      auto row = st->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      auto it = index.find(std::string(st->column_view(0)));
      if (it == index.end()) continue;
      CareEvidence e;
      e.patient = it->first;
      e.type = st->column_text(1);
      e.id = st->column_text(2);
      e.system = st->column_text(9);
      e.code = st->column_text(3);
      bool allowed = false;
      std::string key;
      if (patients[it->second].on_team) {
        key.append(e.type).append(1, '\x01').append(st->column_view(6)).append(1, '\x01').append(e.code).append(1, '\x01').append(e.system);
        if (auto hit = decided.find(key); hit != decided.end()) allowed = hit->second;
        else key.insert(0, 1, '?');
      }
      if (key.empty() || key[0] == '?') {
        auto d = decide(s, Action::kSearch, Target{e.type, e.patient, st->column_text(6), e.system + "|" + e.code});
        if (!d.ok()) return d.error();
        allowed = d->allowed;
        if (!key.empty()) decided.emplace(key.substr(1), allowed);
      }
      if (!allowed) {
        s.add_withheld(1);
        incomplete[it->second] = true;
        continue;
      }
      // The clinical date is stored in UTC when it has a time (its day is
      // the UTC day); a partial date ("2020", "2020-05") counts from its
      // first day, so that its window ends no later than it can (QA
      // finding dates 08: it was left out, and "none on record" said).
      e.when = st->column_text(4);
      e.date = parse_civil_date(e.when);
      if (!e.date) {
        if (auto first = partial_date_start(e.when)) {
          e.date = first;
          e.date_text = e.when;
        }
      }
      e.status = st->column_text(5);
      e.verification = st->column_text(7);
      e.subpotent = st->column_text(10) == "1";
      std::string value = st->column_text(8);
      if (!value.empty()) {
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        if (end != nullptr && *end == '\0') e.value = v;
        e.comparator = st->column_text(11);
      }
      // A stool test's result: the document, parsed only for these codes.
      if (std::string_view doc = st->column_view(12); !doc.empty()) {
        auto parsed = parse_json(doc);
        e.positive = parsed.ok() && result_positive(*parsed);
      }
      evidence[it->second].push_back(std::move(e));
    }
    return {};
  };
  if (!rids.empty()) EHR_TRY(scan());

  // Evaluate, in patient order.
  std::vector<size_t> order(patients.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return patients[a].sort_key < patients[b].sort_key; });
  CareDueList list;
  std::vector<CareResult>& out = list.results;
  std::vector<std::string> reported;
  for (size_t i : order) {
    if (incomplete[i]) list.incomplete.push_back(patients[i].p.id);
    bool any = false;
    for (const CareRule* r : q.rules) {
      CareResult res = evaluate_care_rule(*r, patients[i].p, evidence[i], q.as_of);
      bool listed = res.status == CareStatus::kDue || res.status == CareStatus::kOverdue ||
                    res.status == CareStatus::kConsider || res.not_evaluated ||
                    (q.include_satisfied && res.status == CareStatus::kSatisfied);
      if (!listed) continue;
      any = true;
      out.push_back(std::move(res));
    }
    if (any) reported.push_back(patients[i].p.id);
  }
  std::string names;
  for (const CareRule* r : q.rules) names += r->name() + ",";
  std::string hash = crypto::blake2b_256_hex(
      fmt::format("care due|{}|{}|{}|{}", format_civil_date(q.as_of), names, join_ids(q.patients), q.include_satisfied));
  EHR_TRY(write_audit(s, {"search", "ok", join_ids(reported), "", hash, static_cast<std::int64_t>(out.size()),
                          s.withheld() ? fmt::format("care due withheld {}", s.withheld()) : "care due"}));
  return list;
}

// --- medication-allergy conflicts -------------------------------------------------------

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Whether `phrase` occurs in `text` (both lower case) at word boundaries.
bool has_phrase(const std::string& text, const std::string& phrase) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1)) {
    bool start = at == 0 || !word(text[at - 1]);
    size_t end = at + phrase.size();
    bool stop = end == text.size() || !word(text[end]);
    if (start && stop) return true;
  }
  return false;
}

// The codes ("system|code") and the words (lower case) of a CodeableConcept.
void concept_terms(const Json* c, std::vector<std::string>& codes, std::string& words) {
  if (c == nullptr || !c->is_object()) return;
  if (const Json* t = c->find("text"); t != nullptr && t->is_string()) words += " " + lower(t->text());
  if (const Json* cs = c->find("coding"); cs != nullptr && cs->is_array())
    for (const auto& coding : cs->items()) {
      const Json* sys = coding.find("system");
      const Json* code = coding.find("code");
      if (sys != nullptr && sys->is_string() && code != nullptr && code->is_string())
        codes.push_back(sys->text() + "|" + code->text());
      if (const Json* d = coding.find("display"); d != nullptr && d->is_string()) words += " " + lower(d->text());
    }
}

const Json* medication_concept(const Json& med) {
  if (const Json* c = med.find("medicationCodeableConcept")) return c;
  const Json* ref = med.find("medicationReference");
  const Json* r = ref != nullptr ? ref->find("reference") : nullptr;
  if (r == nullptr || !r->is_string() || r->text().empty() || r->text()[0] != '#') return nullptr;
  if (const Json* contained = med.find("contained"); contained != nullptr && contained->is_array())
    for (const auto& c : contained->items()) {
      const Json* id = c.find("id");
      if (id != nullptr && id->is_string() && "#" + id->text() == r->text()) return c.find("code");
    }
  return nullptr;
}

std::vector<const Drug*> drugs_in(const DrugClassMap& map, const std::vector<std::string>& codes,
                                  const std::string& words, bool by_words) {
  std::vector<const Drug*> out;
  for (const auto& d : map.drugs) {
    bool hit = std::any_of(codes.begin(), codes.end(), [&](const std::string& c) {
      return std::find(d.codes.begin(), d.codes.end(), c) != d.codes.end();
    });
    if (!hit && by_words)
      hit = std::any_of(d.names.begin(), d.names.end(), [&](const std::string& n) { return has_phrase(words, n); });
    if (hit) out.push_back(&d);
  }
  return out;
}

std::string code_of(const Json* c, const char* key) {
  if (c == nullptr) return "";
  const Json* cs = c->find("coding");
  if (cs == nullptr || !cs->is_array()) return "";
  for (const auto& coding : cs->items())
    if (const Json* v = coding.find(key); v != nullptr && v->is_string()) return v->text();
  return "";
}

int rank(const std::string& severity) { return severity == "high" ? 3 : severity == "moderate" ? 2 : 1; }

bool same_family(const DrugClass* a, const DrugClass* b) {
  return a != nullptr && b != nullptr && !a->family.empty() && a->family == b->family;
}

// The conflict of drug `m` with an allergen that is drug `a` (or nullptr)
// of class `ac` (or nullptr); "" severity when none.
AllergyConflict relate(const DrugClassMap& map, const Drug& m, const Drug* a, const DrugClass* ac) {
  AllergyConflict c;
  c.medication = m.name;
  const DrugClass* mc = map.class_of(m);
  if (a != nullptr && a->name == m.name) {
    c.severity = "high";
    c.basis = "same drug";
  } else if (ac != nullptr && mc == ac) {
    c.severity = "high";
    c.basis = fmt::format("same class ({})", ac->name);
  } else if (a != nullptr && !m.side_chain.empty() && a->side_chain == m.side_chain) {
    c.severity = "high";
    c.basis = fmt::format("shared side chain ({}) with {}", m.side_chain, a->name);
  } else if (ac != nullptr && !m.side_chain.empty() &&
             std::any_of(map.drugs.begin(), map.drugs.end(), [&](const Drug& d) {
               return d.side_chain == m.side_chain && map.class_of(d) == ac;
             })) {
    c.severity = "moderate";
    c.basis = fmt::format("shared side chain ({}) with {}", m.side_chain, ac->name);
  } else if (ac != nullptr &&
             std::find(m.raised_with.begin(), m.raised_with.end(), ac->name) != m.raised_with.end()) {
    c.severity = "moderate";
    c.basis = fmt::format("raised reaction rate with {}", ac->name);
  } else if (same_family(mc, ac)) {
    c.severity = "info";
    c.basis = fmt::format("other {} ({})", mc->family, mc->name);
  }
  return c;
}

// Whether words (lower case) report a positive or abnormal result; a
// negation ("not detected", "non-reactive", "negative") is not.
bool words_positive(const std::string& w) {
  for (const char* no : {"negative", "not detected", "none detected", "not present", "absent", "non-reactive",
                         "nonreactive", "not reactive"})
    if (has_phrase(w, no)) return false;
  for (const char* yes : {"positive", "detected", "present", "abnormal", "reactive"})
    if (has_phrase(w, yes)) return true;
  return false;
}

// Whether a CodeableConcept (a coded value, a conclusion, an
// interpretation when `interpretation`) reports a positive result.
bool concept_positive(const Json* c, bool interpretation) {
  static const std::set<std::string> kInterpretations = {"POS", "DET", "A", "AA", "H", "HH", "HU"};
  static const std::set<std::string> kSnomed = {"10828004", "260373001", "52101004", "263654008"};
  std::vector<std::string> codes;
  std::string words;
  concept_terms(c, codes, words);
  for (const auto& sc : codes) {
    size_t bar = sc.rfind('|');
    std::string system = sc.substr(0, bar), code = sc.substr(bar + 1);
    if (interpretation && (system.find("ObservationInterpretation") != std::string::npos ||
                           system.find("0078") != std::string::npos) && kInterpretations.count(code))
      return true;
    if (system == "http://snomed.info/sct" && kSnomed.count(code)) return true;
  }
  return words_positive(words);
}

}  // namespace

bool result_positive(const Json& resource) {
  if (!resource.is_object()) return false;
  for (const char* list : {"interpretation", "conclusionCode"})
    if (const Json* items = resource.find(list); items != nullptr && items->is_array())
      for (const auto& c : items->items())
        if (concept_positive(&c, std::string_view(list) == "interpretation")) return true;
  if (concept_positive(resource.find("valueCodeableConcept"), false)) return true;
  for (const char* text : {"valueString", "conclusion"})
    if (words_positive(lower(text_of(resource.find(text))))) return true;
  return false;
}

bool drug_allergy_in_force(const Json& allergy) {
  if (!allergy.is_object()) return false;
  std::string verification = code_of(allergy.find("verificationStatus"), "code");
  std::string clinical = code_of(allergy.find("clinicalStatus"), "code");
  if (verification == "refuted" || verification == "entered-in-error" || clinical == "resolved" ||
      clinical == "inactive")
    return false;
  const Json* cat = allergy.find("category");
  return cat == nullptr || !cat->is_array() || cat->items().empty() ||
         std::any_of(cat->items().begin(), cat->items().end(),
                     [](const Json& c) { return c.is_string() && c.text() == "medication"; });
}

bool medication_known(const DrugClassMap& map, const Json& medication) {
  if (!medication.is_object()) return false;
  std::vector<std::string> codes;
  std::string words;
  concept_terms(medication_concept(medication), codes, words);
  return !drugs_in(map, codes, words, true).empty();
}

std::vector<AllergyConflict> check_medication_allergies(const DrugClassMap& map, const Json& medication,
                                                        const std::vector<Json>& allergies) {
  std::vector<AllergyConflict> out;
  if (!medication.is_object()) return out;
  std::vector<std::string> med_codes;
  std::string med_words;
  concept_terms(medication_concept(medication), med_codes, med_words);
  std::vector<const Drug*> meds = drugs_in(map, med_codes, med_words, true);
  if (meds.empty()) return out;
  for (const Json& allergy : allergies) {
    if (!drug_allergy_in_force(allergy)) continue;
    std::vector<std::string> codes;
    std::string words;
    concept_terms(allergy.find("code"), codes, words);
    // Codes first; the words only when no code is known to the map.
    std::vector<const Drug*> drugs = drugs_in(map, codes, words, false);
    std::vector<const DrugClass*> classes;
    for (const auto& c : map.classes)
      if (std::any_of(codes.begin(), codes.end(), [&](const std::string& x) {
            return std::find(c.codes.begin(), c.codes.end(), x) != c.codes.end();
          }))
        classes.push_back(&c);
    if (drugs.empty() && classes.empty()) {
      drugs = drugs_in(map, {}, words, true);
      if (drugs.empty())
        for (const auto& c : map.classes)
          if (std::any_of(c.names.begin(), c.names.end(), [&](const std::string& n) { return has_phrase(words, n); }))
            classes.push_back(&c);
    }
    std::string shown = concept_text(allergy.find("code"));
    const Json* id = allergy.find("id");
    std::string ref = id != nullptr && id->is_string() ? "AllergyIntolerance/" + id->text() : "";
    for (const Drug* m : meds) {
      AllergyConflict best;
      auto consider = [&](AllergyConflict c) {
        if (!c.severity.empty() && (best.severity.empty() || rank(c.severity) > rank(best.severity))) best = c;
      };
      for (const Drug* a : drugs) consider(relate(map, *m, a, map.class_of(*a)));
      for (const DrugClass* c : classes) consider(relate(map, *m, nullptr, c));
      if (best.severity.empty()) continue;
      best.allergy = shown;
      best.allergy_ref = ref;
      out.push_back(std::move(best));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const AllergyConflict& a, const AllergyConflict& b) { return rank(a.severity) > rank(b.severity); });
  return out;
}

namespace detail {

Result<Json> resolve_medication_reference(SessionImpl& s, const Json& medication) {
  if (!medication.is_object() || medication.find("medicationCodeableConcept") != nullptr) return medication;
  const Json* ref = medication.find("medicationReference");
  if (ref == nullptr || !ref->is_object()) return medication;
  std::string target = text_of(ref->find("reference"));
  // A contained Medication with a code: medication_concept reads it.
  if (!target.empty() && target[0] == '#' && medication_concept(medication) != nullptr) return medication;
  Json concept_of_drug;
  static const std::string kPrefix = "Medication/";
  if (target.compare(0, kPrefix.size(), kPrefix) == 0) {
    std::string id = target.substr(kPrefix.size());
    id = id.substr(0, id.find('/'));  // "Medication/ID/_history/N"
    auto stored = load_resource(s, "Medication", id);
    if (!stored.ok()) return stored.error();
    if (stored->has_value() && !(*stored)->retracted)
      if (const Json* code = (*stored)->resource.find("code"); code != nullptr && code->is_object())
        concept_of_drug = *code;
  }
  if (!concept_of_drug.is_object()) {
    std::string display = text_of(ref->find("display"));
    if (display.empty()) return medication;
    concept_of_drug = Json::object();
    concept_of_drug.set("text", Json::string(display));
  }
  Json out = medication;
  out.set("medicationCodeableConcept", std::move(concept_of_drug));
  return out;
}

}  // namespace detail

Result<std::vector<AllergyConflict>> medication_allergy_alerts(Session& s, const CareRules& rules,
                                                               const Json& medication) {
  std::string patient = index_resource(medication).patient;
  if (patient.empty()) return std::vector<AllergyConflict>();
  RecordQuery q;
  q.patient = patient;
  q.types = {"AllergyIntolerance"};
  auto records = patient_records(s, q);
  if (!records.ok()) return records.error();
  std::vector<Json> allergies;
  for (auto& r : *records) allergies.push_back(std::move(r.resource));
  // QA finding care 02: an order naming a stored Medication was never checked.
  auto resolved = detail::resolve_medication_reference(SessionImpl::of(s), medication);
  if (!resolved.ok()) return resolved.error();
  return check_medication_allergies(rules.drugs, *resolved, allergies);
}

Status record_allergy_alert(Session& session, const Json& medication,
                            const std::vector<AllergyConflict>& conflicts, bool refused) {
  SessionImpl& s = SessionImpl::of(session);
  std::string type;
  if (const Json* t = medication.find("resourceType"); t != nullptr && t->is_string()) type = t->text();
  std::string worst = conflicts.empty() ? "none" : conflicts.front().severity;
  return write_audit(s, {refused ? "create" : "care-alert", refused ? "refused" : "ok",
                         index_resource(medication).patient, "", "", static_cast<std::int64_t>(conflicts.size()),
                         fmt::format("{}: allergy conflict {}", type, worst)});
}

// --- lab flags -------------------------------------------------------------------

namespace {

std::optional<double> number_of(const Json* v) {
  if (v == nullptr || !v->is_number()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(v->text().c_str(), &end);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return d;
}

std::string unit_of(const Json* q) {
  if (q == nullptr || !q->is_object()) return "";
  if (const Json* c = q->find("code"); c != nullptr && c->is_string()) return c->text();
  if (const Json* u = q->find("unit"); u != nullptr && u->is_string()) return u->text();
  return "";
}

std::string num(double v) { return fmt::format("{}", v); }

std::string describe(const std::optional<LabBound>& lo, const std::optional<LabBound>& hi, const std::string& unit) {
  std::string out;
  if (lo) out += fmt::format("{} {}", lo->inclusive ? ">=" : ">", num(lo->value));
  if (hi) out += fmt::format("{}{} {}", out.empty() ? "" : " and ", hi->inclusive ? "<=" : "<", num(hi->value));
  return out + (unit.empty() ? "" : " " + unit);
}

// A result: its value and Quantity.comparator ("", "<", "<=", ">=", ">"), a
// modifier: ">500" stands for every value above 500.
struct Reading {
  double value = 0;
  std::string comparator;
};

// Whether every value `r` stands for is below `bound` (strictly when
// `strict`) or, with `high`, above it: a flag is raised only when certain,
// so ">500" is above a critical bound "> 500" and "<50" below "< 50", while
// "<10" is below no bound of 5 (it may be 7) and never above any.
bool certainly(const Reading& r, bool high, double bound, bool strict) {
  const std::string& c = r.comparator;
  if (high) {
    if (c == "<" || c == "<=") return false;
    if (c == ">") return r.value >= bound;
    return strict ? r.value > bound : r.value >= bound;
  }
  if (c == ">" || c == ">=") return false;
  if (c == "<") return r.value <= bound;
  return strict ? r.value < bound : r.value <= bound;
}

// Outside the normal range (inclusive bounds are normal), or at or past a
// critical bound (inclusive bounds are critical).
bool below(const Reading& r, const LabBound& b) { return certainly(r, false, b.value, b.inclusive); }
bool above(const Reading& r, const LabBound& b) { return certainly(r, true, b.value, b.inclusive); }
bool crit_low(const Reading& r, const LabBound& b) { return certainly(r, false, b.value, !b.inclusive); }
bool crit_high(const Reading& r, const LabBound& b) { return certainly(r, true, b.value, !b.inclusive); }

// The date of an Observation as the index takes it (resource_index.cc):
// effective[x], else issued; "" when none.
// (an Observation has effective[x] and issued of the dates clinical_date_text reads)
std::string observation_date(const Json& obs) { return clinical_date_text(obs); }

bool applies(const LabRange& r, const CarePatient& p, const CivilDate& on) {
  if (r.sex != "any" && r.sex != p.sex) return false;
  if ((r.min_age || r.max_age) && !p.birth) return false;
  if (r.min_age && completed(*p.birth, on, *r.min_age) < r.min_age->count) return false;
  if (r.max_age && completed(*p.birth, on, *r.max_age) > r.max_age->count) return false;
  return true;
}

// How a value of `loinc` in `unit` is read against a table row in
// `row_unit`: the same unit whatever its case ("mmol/l"); mEq/L as mmol/L
// for the monovalent ions (potassium, sodium, bicarbonate: one equivalent
// is one mole); glucose and calcium in mmol/L converted to mg/dL by their
// molar mass. nullopt when the units are not known to agree (QA finding
// care 08: potassium 7.4 meq/L and glucose 1.5 mmol/L were only
// unit-mismatch).
struct UnitReading {
  double factor = 1;
  std::string note;  // "" for the same unit
};
std::optional<UnitReading> unit_reading(const std::string& loinc, const std::string& unit,
                                        const std::string& row_unit) {
  std::string from = lower(unit), to = lower(row_unit);
  if (from == to) return UnitReading{};
  static const std::set<std::string> kMonovalent = {"2823-3", "6298-4", "2951-2", "2947-0", "2028-9"};
  if (kMonovalent.count(loinc) && ((from == "meq/l" && to == "mmol/l") || (from == "mmol/l" && to == "meq/l")))
    return UnitReading{1, fmt::format("{} read as {}", unit, row_unit)};
  static const std::map<std::string, double> kMgPerMmol = {
      {"2345-7", 18.016}, {"2339-0", 18.016},    // glucose, 180.16 g/mol
      {"17861-6", 4.008}, {"49765-1", 4.008}};  // calcium, 40.08 g/mol
  if (auto it = kMgPerMmol.find(loinc); it != kMgPerMmol.end() && from == "mmol/l" && to == "mg/dl")
    return UnitReading{it->second, ""};
  return std::nullopt;
}

// The flag the table gives reading `v` (in `unit`) of `f.loinc`: the most
// specific row for the code, sex and age, one in the result's unit before
// one it converts to; "unit-mismatch" when only rows in another unit apply;
// nullopt when it is normal or no row applies.
std::optional<LabFlag> table_flag(const LabRanges& ranges, LabFlag f, const Reading& v, const std::string& unit,
                                  const CarePatient& patient, const CivilDate& on) {
  const LabRange* best = nullptr;
  UnitReading best_reading;
  const LabRange* other_unit = nullptr;
  int best_score = -1;
  for (const auto& r : ranges.rows) {
    if (r.loinc != f.loinc || !applies(r, patient, on)) continue;
    auto reading = unit_reading(r.loinc, unit, r.unit);
    if (!reading) {
      if (other_unit == nullptr) other_unit = &r;
      continue;
    }
    int score = (reading->factor == 1 && reading->note.empty() ? 10 : 0) + (r.sex != "any" ? 1 : 0) +
                (r.min_age ? 1 : 0) + (r.max_age ? 1 : 0);
    if (score > best_score) {
      best = &r;
      best_reading = *reading;
      best_score = score;
    }
  }
  f.source = fmt::format("table ({} {})", ranges.file, ranges.version);
  if (best == nullptr) {
    if (other_unit == nullptr) return std::nullopt;
    f.flag = "unit-mismatch";
    f.severity = "unit-mismatch";
    f.range = describe(other_unit->low, other_unit->high, other_unit->unit);
    return f;
  }
  f.range = describe(best->low, best->high, best->unit);
  Reading in_row = v;
  if (best_reading.factor != 1) {
    in_row.value = v.value * best_reading.factor;
    best_reading.note = fmt::format("{} {} x {} = {:.6g} {}", num(v.value), unit, num(best_reading.factor),
                                    in_row.value, best->unit);
  }
  if (best->critical_low && crit_low(in_row, *best->critical_low)) f.flag = "LL";
  else if (best->critical_high && crit_high(in_row, *best->critical_high)) f.flag = "HH";
  else if (best->low && below(in_row, *best->low)) f.flag = "L";
  else if (best->high && above(in_row, *best->high)) f.flag = "H";
  else return std::nullopt;
  f.severity = f.flag.size() == 2 ? "critical" : "abnormal";
  f.note = best_reading.note;
  return f;
}

// The order of lab severities, the worst highest: critical, abnormal, then
// the rest (unchecked, unit-mismatch). Also the order care_check lists them.
int severity_rank(const std::string& severity) {
  return severity == "critical" ? 3 : severity == "abnormal" ? 2 : 1;
}
int severity_rank(const std::optional<LabFlag>& f) { return f ? severity_rank(f->severity) : 0; }

// table_flag for a patient whose sex is neither female nor male (other,
// unknown, not recorded): when only sex-specific rows apply, the result is
// judged against the female and the male rows and the more severe flag
// kept, its note saying so (QA finding care 07: no row applied at all and
// hemoglobin 5.0 g/dL went unflagged).
std::optional<LabFlag> table_flag_any_sex(const LabRanges& ranges, const LabFlag& f, const Reading& v,
                                          const std::string& unit, const CarePatient& patient, const CivilDate& on) {
  if (patient.sex == "female" || patient.sex == "male" ||
      std::any_of(ranges.rows.begin(), ranges.rows.end(),
                  [&](const LabRange& r) { return r.loinc == f.loinc && r.sex == "any" && applies(r, patient, on); }))
    return table_flag(ranges, f, v, unit, patient, on);
  std::optional<LabFlag> worst;
  std::string worst_sex;
  for (const char* sex : {"female", "male"}) {
    CarePatient as = patient;
    as.sex = sex;
    auto got = table_flag(ranges, f, v, unit, as, on);
    if (severity_rank(got) > severity_rank(worst)) {
      worst = std::move(got);
      worst_sex = sex;
    }
  }
  if (!worst) return std::nullopt;
  worst->note += (worst->note.empty() ? "" : "; ") +
                 fmt::format("gender {}: the {} row (the more severe of the female and male rows)",
                             patient.sex.empty() ? "not recorded" : patient.sex, worst_sex);
  return worst;
}

// What a row says of an Observation before it is judged: its reference,
// test, LOINC code, date and value as recorded.
LabFlag describe_result(const Json& obs) {
  LabFlag f;
  if (const Json* id = obs.find("id"); id != nullptr && id->is_string()) f.observation_ref = "Observation/" + id->text();
  const Json* code = obs.find("code");
  f.test = concept_text(code);
  if (code != nullptr)
    if (const Json* cs = code->find("coding"); cs != nullptr && cs->is_array())
      for (const auto& c : cs->items()) {
        const Json* sys = c.find("system");
        const Json* v = c.find("code");
        if (sys != nullptr && sys->is_string() && sys->text() == "http://loinc.org" && v != nullptr && v->is_string()) {
          f.loinc = v->text();
          break;
        }
      }
  f.date = observation_date(obs).substr(0, 10);
  const Json* q = obs.find("valueQuantity");
  if (q != nullptr && number_of(q->find("value"))) {
    std::string unit = unit_of(q);
    f.value = text_of(q->find("comparator")) + q->find("value")->text() + (unit.empty() ? "" : " " + unit);
  }
  return f;
}

}  // namespace

std::optional<LabFlag> flag_lab_result(const LabRanges& ranges, const Json& obs, const CarePatient& patient,
                                       const CivilDate& on) {
  if (!obs.is_object()) return std::nullopt;
  LabFlag f = describe_result(obs);
  // Age-specific rows take the patient's age when the sample was taken, not
  // on the as-of date (QA finding care 14: a teenager's ALP was judged by
  // the adult row once she turned 18); a date after `on` does not count.
  CivilDate age_on = on;
  if (auto drawn = parse_civil_date(f.date); drawn && *drawn < on) age_on = *drawn;
  const Json* q = obs.find("valueQuantity");
  std::optional<double> value = q != nullptr ? number_of(q->find("value")) : std::nullopt;
  std::string unit = unit_of(q);
  const std::string comparator = q != nullptr ? text_of(q->find("comparator")) : "";
  const Reading v{value.value_or(0), comparator};

  // The lab's own interpretation: its first code known here.
  std::string interpretation, interpretation_severity;
  if (const Json* interp = obs.find("interpretation"); interp != nullptr && interp->is_array()) {
    static const std::map<std::string, std::string> kSeverity = {
        {"N", ""},         {"L", "abnormal"},  {"H", "abnormal"},  {"A", "abnormal"},  {"LU", "abnormal"},
        {"HU", "abnormal"}, {"<", "abnormal"}, {">", "abnormal"}, {"LL", "critical"}, {"HH", "critical"},
        {"AA", "critical"}};
    for (const auto& c : interp->items())
      if (auto it = kSeverity.find(code_of(&c, "code")); it != kSeverity.end()) {
        interpretation = it->first;
        interpretation_severity = it->second;
        break;
      }
  }
  auto by_interpretation = [&]() -> std::optional<LabFlag> {
    if (interpretation_severity.empty()) return std::nullopt;  // N: normal
    LabFlag out = f;
    out.flag = interpretation;
    out.severity = interpretation_severity;
    out.source = "lab interpretation";
    return out;
  };
  // 1. A critical interpretation of the lab stands.
  if (interpretation_severity == "critical") return by_interpretation();
  // 2. A value past the table's critical bound is critical whatever the lab
  // says of it (QA finding care 01: a lab range or an interpretation N or H
  // turned potassium 7.4 mmol/L into H or no finding).
  std::optional<LabFlag> table;
  if (value && !f.loinc.empty()) table = table_flag_any_sex(ranges, f, v, unit, patient, age_on);
  if (table && table->severity == "critical") {
    if (!interpretation.empty())
      table->note += (table->note.empty() ? "" : "; ") + ("the lab's interpretation: " + interpretation);
    return table;
  }
  // 3. The lab's interpretation, then its own range, in the result's unit.
  if (!interpretation.empty()) return by_interpretation();
  if (!value) return std::nullopt;
  if (const Json* rr = obs.find("referenceRange"); rr != nullptr && rr->is_array() && !rr->items().empty()) {
    const Json& r0 = rr->items().front();
    const Json* lo = r0.find("low");
    const Json* hi = r0.find("high");
    std::optional<double> l = lo != nullptr ? number_of(lo->find("value")) : std::nullopt;
    std::optional<double> h = hi != nullptr ? number_of(hi->find("value")) : std::nullopt;
    auto same = [&](const Json* bound) { return unit_of(bound).empty() || lower(unit_of(bound)) == lower(unit); };
    bool same_unit = (!l || same(lo)) && (!h || same(hi));
    if ((l || h) && same_unit) {
      std::optional<LabBound> lb, hb;
      if (l) lb = LabBound{*l, true};
      if (h) hb = LabBound{*h, true};
      f.range = describe(lb, hb, unit);
      f.source = "lab range";
      if (lb && below(v, *lb)) f.flag = "L";
      else if (hb && above(v, *hb)) f.flag = "H";
      else return std::nullopt;
      f.severity = "abnormal";
      return f;
    }
  }
  // 4. The table.
  return table;
}

// --- one patient's check -------------------------------------------------------------

namespace {

// A lab result of the patient and the instant of its date (clinical_date_key).
struct LabResult {
  const StoredResource* r;
  std::string when, until;  // the first and last instant its date may stand for (clinical_date_span)
  bool undated = false;
  bool after = false;  // dated after the as-of date (by its UTC day)
};

// The code a lab result is grouped by for "the latest of each code": its
// LOINC coding when it has one, else its main code (the first coding,
// `main`). QA finding care 15: a result coded [local K, LOINC 2823-3] and a
// newer LOINC-only one were two codes, and the older was reported as current.
std::string lab_code(const Json& obs, const std::string& main) {
  if (const Json* code = obs.find("code"); code != nullptr && code->is_object())
    if (const Json* cs = code->find("coding"); cs != nullptr && cs->is_array())
      for (const auto& c : cs->items())
        if (text_of(c.find("system")) == "http://loinc.org" && !text_of(c.find("code")).empty())
          return "http://loinc.org|" + text_of(c.find("code"));
  return main;
}

// Whether an Observation holds a result: a value[x] or the lab's
// interpretation, and no dataAbsentReason.
bool has_result(const Json& obs) {
  if (!obs.is_object() || obs.find("dataAbsentReason") != nullptr) return false;
  for (const auto& [key, v] : obs.members())
    if (key.size() > 5 && key.compare(0, 5, "value") == 0) return true;
  const Json* interp = obs.find("interpretation");
  return interp != nullptr && interp->is_array() && !interp->items().empty();
}

// Whether an Observation's result is only words: no valueQuantity with a
// number and no interpretation (a valueString "<2.0", a valueCodeableConcept).
bool text_only(const Json& obs) {
  if (const Json* q = obs.find("valueQuantity"); q != nullptr && q->is_object()) {
    const Json* v = q->find("value");
    if (v != nullptr && v->is_number()) return false;
  }
  const Json* interp = obs.find("interpretation");
  return interp == nullptr || !interp->is_array() || interp->items().empty();
}

// Whether the table has a row for the Observation's LOINC code.
bool has_row(const LabRanges& ranges, const Json& obs) {
  std::string code = lab_code(obs, "");
  const std::string prefix = "http://loinc.org|";
  if (code.compare(0, prefix.size(), prefix) != 0) return false;
  std::string loinc = code.substr(prefix.size());
  return std::any_of(ranges.rows.begin(), ranges.rows.end(), [&](const LabRange& r) { return r.loinc == loinc; });
}

}  // namespace

Result<CareCheck> care_check(Session& s, const CareRules& rules, const std::string& patient, const CivilDate& on) {
  RecordQuery q;
  q.patient = patient;
  q.types = {"Patient", "AllergyIntolerance", "MedicationRequest", "MedicationStatement", "Observation"};
  auto records = patient_records(s, q);
  if (!records.ok()) return records.error();
  CareCheck out;
  std::vector<Json> allergies;
  std::vector<const StoredResource*> meds;
  // The results of each lab code, in the order the codes are first met.
  std::vector<std::string> lab_codes;
  std::map<std::string, std::vector<LabResult>> labs;
  std::deque<StoredResource> components;  // an Observation's components as results of their own
  auto add_result = [&](const StoredResource& r, const std::string& main) {
    const Json& j = r.resource;
    // A result without a value does not hide an earlier one (QA finding
    // care 05: a haemolysed sample after a critical potassium).
    if (!has_result(j)) return;
    std::string code = lab_code(j, main);
    if (code.empty()) return;
    auto [at, added] = labs.try_emplace(code);
    if (added) lab_codes.push_back(code);
    std::string date = clinical_date_key(observation_date(j));
    // After the as-of date by its UTC day, as the as-of date is one (QA
    // finding dates 02: 09:00+13:00 on the 2nd is the 1st in UTC); a
    // partial date ("2062") by what it gives.
    std::string day = date.substr(0, 10);
    bool after = !day.empty() && day > format_civil_date(on).substr(0, day.size());
    auto [when, until] = clinical_date_span(date);
    at->second.push_back({&r, std::move(when), std::move(until), date.empty(), after});
  };
  for (const auto& r : *records) {
    const Json& j = r.resource;
    if (r.type == "Patient") {
      out.patient.id = r.id;
      if (const Json* names = j.find("name"); names != nullptr && names->is_array() && !names->items().empty()) {
        const Json& n = names->items().front();
        std::string family = text_of(n.find("family"));
        std::string given;
        if (const Json* g = n.find("given"); g != nullptr && g->is_array() && !g->items().empty() && g->items()[0].is_string())
          given = g->items()[0].text();
        out.patient.name = family.empty() ? given : given.empty() ? family : family + ", " + given;
      }
      if (const Json* b = j.find("birthDate"); b != nullptr && b->is_string()) out.patient.birth = parse_civil_date(b->text());
      if (const Json* g = j.find("gender"); g != nullptr && g->is_string()) out.patient.sex = g->text();
      if (const Json* ext = j.find("extension"); ext != nullptr && ext->is_array())
        for (const auto& e : ext->items()) {
          const Json* url = e.find("url");
          const Json* v = e.find("valueCode");
          if (url != nullptr && url->is_string() &&
              url->text() == "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex" && v != nullptr &&
              v->is_string())
            out.patient.sex = v->text() == "F" ? "female" : v->text() == "M" ? "male" : out.patient.sex;
        }
    } else if (r.type == "AllergyIntolerance") {
      allergies.push_back(j);
    } else if (r.type == "MedicationRequest" || r.type == "MedicationStatement") {
      std::string status = text_of(j.find("status"));
      // "unknown": the source does not know whether it is still taken, so it
      // is checked as if it were (QA finding care 16).
      if (status == "active" || status == "on-hold" || status == "intended" || status == "draft" ||
          status == "unknown")
        meds.push_back(&r);
    } else if (r.type == "Observation") {
      std::string status = text_of(j.find("status"));
      if (status == "cancelled" || status == "entered-in-error" || status == "registered") continue;
      add_result(r, r.code);
      // Each component (a panel's potassium, a blood pressure's systolic)
      // is a result of its own code, dated as its Observation (QA finding
      // care 06: a critical potassium inside a panel was never judged).
      if (const Json* comps = j.find("component"); comps != nullptr && comps->is_array())
        for (const auto& c : comps->items()) {
          if (!c.is_object() || c.find("code") == nullptr) continue;
          StoredResource part = r;
          Json& pj = part.resource;
          for (const char* key : {"component", "interpretation", "referenceRange", "dataAbsentReason"}) pj.erase(key);
          std::vector<std::string> values;
          for (const auto& [key, v] : pj.members())
            if (key.size() > 5 && key.compare(0, 5, "value") == 0) values.push_back(key);
          for (const auto& key : values) pj.erase(key);
          for (const auto& [key, v] : c.members()) pj.set(key, v);
          std::string main;
          if (const Json* cs = c.find("code")->find("coding"); cs != nullptr && cs->is_array() && !cs->items().empty())
            main = text_of(cs->items().front().find("system")) + "|" + text_of(cs->items().front().find("code"));
          components.push_back(std::move(part));
          add_result(components.back(), main);
        }
    }
  }
  const auto in_force = static_cast<std::int64_t>(std::count_if(allergies.begin(), allergies.end(), drug_allergy_in_force));
  for (const auto* m : meds) {
    auto resolved = detail::resolve_medication_reference(SessionImpl::of(s), m->resource);
    if (!resolved.ok()) return resolved.error();
    std::string shown = concept_text(medication_concept(*resolved));
    for (auto& c : check_medication_allergies(rules.drugs, *resolved, allergies))
      out.allergies.push_back({m->type + "/" + m->id, shown, std::move(c)});
    // A medication the class map does not know (a brand name, a local
    // code) was checked against nothing, which read as no conflict (QA
    // finding care 06): with drug allergies on record it is an unchecked row.
    if (in_force > 0 && !medication_known(rules.drugs, *resolved)) {
      AllergyConflict c;
      c.severity = "unchecked";
      c.medication = shown;
      c.basis = fmt::format("not in the drug-class map ({}): not checked against {} drug allerg{}",
                            rules.drugs.file.empty() ? "care/drug-classes.yaml" : rules.drugs.file, in_force,
                            in_force == 1 ? "y" : "ies");
      out.allergies.push_back({m->type + "/" + m->id, shown, std::move(c)});
    }
  }
  // Worst first; the unchecked rows after the conflicts, as lab rows do.
  auto order = [](const std::string& severity) { return severity == "unchecked" ? 0 : rank(severity); };
  std::stable_sort(out.allergies.begin(), out.allergies.end(), [&](const auto& a, const auto& b) {
    return order(a.conflict.severity) > order(b.conflict.severity);
  });
  for (const auto& code : lab_codes) {
    // The latest: every result at the latest instant (QA finding care 03: of
    // a repeat at the same instant, one was picked by id and a critical value
    // could go unseen).
    // A result dated after the as-of date (by day) is not the latest but an
    // unchecked row, so that a typo year shows; an undated one cannot be
    // placed and is judged on its own (QA finding care 04: either hid a
    // critical result).
    // A result dated by day (or month) only may be later than a timed one
    // of the same day: it is judged too (QA finding dates 01: K+ 7.1 dated
    // 2026-01-15 was hidden by a normal one at 08:00 that day).
    const auto& results = labs[code];
    std::string latest;
    for (const auto& l : results)
      if (!l.undated && !l.after) latest = std::max(latest, l.when);
    for (const auto& l : results) {
      // A row for a result not judged, saying why.
      auto unchecked = [&](std::string why) {
        LabFlag f = describe_result(l.r->resource);
        f.flag = f.severity = "unchecked";
        f.source = "not checked";
        f.note = std::move(why);
        return f;
      };
      if (l.after) {
        out.labs.push_back(unchecked("dated after the as-of date " + format_civil_date(on)));
      } else if (l.undated || l.until >= latest) {
        auto f = flag_lab_result(rules.labs, l.r->resource, out.patient, on);
        // A value in words ("<2.0", "positive") of a test the table has
        // ranges for: not judged, which is no all-clear (QA finding care 06).
        if (!f && text_only(l.r->resource) && has_row(rules.labs, l.r->resource))
          f = unchecked("a value in words, which the ranges cannot judge");
        if (!f) continue;
        if (l.undated) f->note += std::string(f->note.empty() ? "" : "; ") + "undated: it may not be the latest";
        else if (l.until != l.when && l.when != latest)
          f->note += std::string(f->note.empty() ? "" : "; ") + "dated without a time: it may not be the latest";
        out.labs.push_back(std::move(*f));
      }
    }
  }
  std::stable_sort(out.labs.begin(), out.labs.end(), [](const LabFlag& a, const LabFlag& b) {
    return severity_rank(a.severity) > severity_rank(b.severity);
  });
  return out;
}

}  // namespace ehr
