// Duplicates, the review queue, merge, unmerge and not-duplicate
// (ehr/patient_merge.h), and the candidate search the importer shares
// (patient_match_store.h).
//
// Divisions: candidates and the queue; the duplicate report; reference
// rewriting; merge; unmerge; not-duplicate.

#include "ehr/patient_merge.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "access.h"
#include "audit_log.h"
#include "crypto_sodium.h"
#include "csv_mapping.h"
#include "ehr/records.h"
#include "ehr/version.h"
#include "patient_match_store.h"
#include "record_writer.h"
#include "resource_index.h"
#include "session_impl.h"
#include "words.h"

namespace ehr {

namespace {


// The pair's key with its ids in order.
std::pair<std::string, std::string> ordered(const std::string& a, const std::string& b) {
  return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
}

// A stored patient as the comparisons and the report need it.
struct PatientRow {
  std::string id;
  std::string security;
  MatchFeatures features;
  DuplicateSide side;
};

DuplicateSide side_of(const Json& p) {
  DuplicateSide d;
  d.id = text_of(p.find("id"));
  d.birth_date = text_of(p.find("birthDate"));
  d.sex = text_of(p.find("gender"));
  const Json* names = p.find("name");
  if (names != nullptr && names->is_array() && !names->items().empty()) {
    const Json& n = names->items().front();
    std::string given;
    if (const Json* g = n.find("given"); g != nullptr && g->is_array())
      for (const auto& x : g->items())
        if (x.is_string()) given += (given.empty() ? "" : " ") + x.text();
    std::string family = text_of(n.find("family"));
    d.name = family.empty() ? given : given.empty() ? family : family + ", " + given;
    if (d.name.empty()) d.name = text_of(n.find("text"));
  }
  return d;
}

Result<std::optional<PatientRow>> load_patient_row(SessionImpl& s, const std::string& sql, std::int64_t rid,
                                                   const std::string& id) {
  auto st = s.statement(sql);
  if (!st.ok()) return st.error();
  if (rid != 0) EHR_TRY((*st)->bind_int(1, rid));
  else EHR_TRY((*st)->bind_text(1, id));
  auto row = (*st)->step();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<PatientRow>();
  PatientRow p;
  p.id = (*st)->column_text(0);
  p.security = (*st)->column_text(1);
  std::string json = (*st)->column_text(2);
  (void)(*st)->reset();
  auto parsed = parse_json(json);
  if (!parsed.ok()) return std::optional<PatientRow>();
  p.features = match_features(*parsed);
  p.side = side_of(*parsed);
  return std::optional<PatientRow>(std::move(p));
}

Result<std::optional<PatientRow>> patient_by_rid(SessionImpl& s, std::int64_t rid) {
  return load_patient_row(
      s, "SELECT id, coalesce(security,''), json FROM resource WHERE rid = ? AND type = 'Patient'", rid, "");
}

Result<std::optional<PatientRow>> patient_by_id(SessionImpl& s, const std::string& id) {
  return load_patient_row(
      s, "SELECT id, coalesce(security,''), json FROM resource WHERE type = 'Patient' AND id = ?", 0, id);
}

// Every pair decided not-duplicate.
Result<std::set<std::pair<std::string, std::string>>> decided_pairs(SessionImpl& s) {
  auto rows = s.rows("SELECT a, b FROM match_decision");
  if (!rows.ok()) return rows.error();
  std::set<std::pair<std::string, std::string>> out;
  for (auto& r : *rows) out.insert({r[0], r[1]});
  return out;
}

}  // namespace

// --- candidates and the queue ----------------------------------------------------

namespace detail {

std::string agreed_fields(const MatchScore& m) { return join_words(m.agreed); }

Result<std::vector<MatchCandidate>> match_candidates(SessionImpl& s, const MatchFeatures& f,
                                                     const MatchConfig& config) {
  std::set<std::int64_t> rids;
  for (const auto& key : blocking_keys(f)) {
    auto st = s.statement("SELECT rid FROM match_key WHERE key = ? LIMIT ?");
    if (!st.ok()) return st.error();
    EHR_TRY((*st)->bind_text(1, key));
    EHR_TRY((*st)->bind_int(2, config.max_block + 1));
    std::vector<std::int64_t> found;
    for (;;) {
      auto row = (*st)->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      found.push_back((*st)->column_int(0));
    }
    if (static_cast<int>(found.size()) > config.max_block) continue;  // too common to block on
    rids.insert(found.begin(), found.end());
  }
  std::vector<MatchCandidate> out;
  if (rids.empty()) return out;
  auto decided = s.rows("SELECT CASE WHEN a = ?1 THEN b ELSE a END FROM match_decision WHERE a = ?1 OR b = ?1",
                        {f.id});
  if (!decided.ok()) return decided.error();
  std::set<std::string> not_same;
  for (auto& r : *decided) not_same.insert(r[0]);
  for (std::int64_t rid : rids) {
    auto p = patient_by_rid(s, rid);
    if (!p.ok()) return p.error();
    if (!p->has_value() || (*p)->id == f.id || (*p)->features.retired || not_same.count((*p)->id)) continue;
    MatchScore m = compare_patients(f, (*p)->features, config);
    if (m.result == MatchResult::kNoMatch) continue;
    out.push_back({(*p)->id, (*p)->security, std::move(m)});
  }
  std::sort(out.begin(), out.end(), [](const MatchCandidate& x, const MatchCandidate& y) {
    return x.score.score != y.score.score ? x.score.score > y.score.score : x.id < y.id;
  });
  return out;
}

Status queue_for_review(SessionImpl& s, const std::string& a, const std::string& b, const MatchScore& m,
                        const std::string& found_by) {
  auto [x, y] = ordered(a, b);
  return s.exec(
      "INSERT INTO match_review(a, b, score, result, fields, found_by, time, user) VALUES(?,?,?,?,?,?,?,?) "
      "ON CONFLICT(a, b) DO UPDATE SET score = excluded.score, result = excluded.result, "
      "fields = excluded.fields",
      {x, y, fmt::format("{}", m.score), std::string(match_result_name(m.result)), agreed_fields(m), found_by,
       s.now(), s.user()});
}

}  // namespace detail

// --- the duplicate report ------------------------------------------------------------

Result<DuplicateReport> find_duplicates(Session& session, const MatchConfig& config, const DuplicateQuery& q) {
  SessionImpl& s = SessionImpl::of(session);
  double min_score = q.min_score.value_or(config.possible_threshold);
  if (q.limit < 0) return Error::invalid_argument("--limit must be 0 or more");
  auto gate = authorize(s, Action::kMerge, Target{"Patient", "", "", ""});
  if (!gate.ok()) return gate.error();
  s.reset_withheld();
  DuplicateReport report;
  auto decided = decided_pairs(s);
  if (!decided.ok()) return decided.error();

  std::unordered_map<std::string, std::optional<PatientRow>> by_id;
  auto patient = [&](const std::string& id) -> Result<const PatientRow*> {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      auto p = patient_by_id(s, id);
      if (!p.ok()) return p.error();
      it = by_id.emplace(id, std::move(*p)).first;
    }
    return it->second ? &*it->second : nullptr;
  };
  std::map<std::pair<std::string, std::string>, DuplicatePair> found;
  auto consider = [&](const PatientRow& a, const PatientRow& b, const std::string& found_by,
                      const std::string& queued) {
    auto key = ordered(a.id, b.id);
    if (decided->count(key) || a.features.retired || b.features.retired) return;
    if (found.count(key) && found_by == "scan") return;
    ++report.compared;
    MatchScore m = compare_patients(a.features, b.features, config);
    // A pair an import found holding one identifier is listed whatever its
    // score: the identifier or the demographics are wrong, and a person
    // must say which.
    if (m.score < min_score && found_by != "identifier") return;
    DuplicatePair d;
    d.a = a.id == key.first ? a.side : b.side;
    d.b = a.id == key.first ? b.side : a.side;
    d.score = std::move(m);
    d.found_by = found_by;
    d.queued = queued;
    found[key] = std::move(d);
  };

  std::string only;
  if (!q.patient.empty()) {
    auto id = resolve_patient_key(s, q.patient);
    if (!id.ok()) return id.error();
    only = *id;
  }
  // The review queue first: its pairs keep their "import" origin.
  {
    auto rows = only.empty() ? s.rows("SELECT a, b, time, found_by FROM match_review")
                             : s.rows("SELECT a, b, time, found_by FROM match_review WHERE a = ?1 OR b = ?1", {only});
    if (!rows.ok()) return rows.error();
    for (auto& r : *rows) {
      auto a = patient(r[0]);
      if (!a.ok()) return a.error();
      auto b = patient(r[1]);
      if (!b.ok()) return b.error();
      if (*a != nullptr && *b != nullptr) consider(**a, **b, r[3] == "identifier" ? "identifier" : "import", r[2]);
    }
  }
  if (!q.queue_only && !only.empty()) {
    auto self = patient(only);
    if (!self.ok()) return self.error();
    if (*self != nullptr) {
      report.patients = 1;
      const PatientRow me = **self;
      auto cands = detail::match_candidates(s, me.features, config);
      if (!cands.ok()) return cands.error();
      for (const auto& c : *cands) {
        auto other = patient(c.id);
        if (!other.ok()) return other.error();
        if (*other != nullptr) consider(me, **other, "scan", "");
      }
    }
  } else if (!q.queue_only) {
    // The whole database: the match_key index in key order, one block at a time.
    std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
    std::unordered_set<std::int64_t> seen_rids;
    auto st = s.statement("SELECT key, rid FROM match_key ORDER BY key, rid");
    if (!st.ok()) return st.error();
    std::string block_key;
    std::vector<std::int64_t> block;
    auto close_block = [&]() {
      if (static_cast<int>(block.size()) > config.max_block) {
        ++report.common_keys;
      } else {
        for (size_t i = 0; i < block.size(); ++i)
          for (size_t j = i + 1; j < block.size(); ++j) pairs.emplace_back(block[i], block[j]);
      }
      block.clear();
    };
    for (;;) {
      auto row = (*st)->step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      std::string key = (*st)->column_text(0);
      std::int64_t rid = (*st)->column_int(1);
      seen_rids.insert(rid);
      if (key != block_key) {
        close_block();
        block_key = std::move(key);
      }
      block.push_back(rid);
    }
    close_block();
    report.patients = static_cast<std::int64_t>(seen_rids.size());
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    std::unordered_map<std::int64_t, std::optional<PatientRow>> by_rid;
    auto row_of = [&](std::int64_t rid) -> Result<const PatientRow*> {
      auto it = by_rid.find(rid);
      if (it == by_rid.end()) {
        auto p = patient_by_rid(s, rid);
        if (!p.ok()) return p.error();
        it = by_rid.emplace(rid, std::move(*p)).first;
      }
      return it->second ? &*it->second : nullptr;
    };
    for (const auto& [x, y] : pairs) {
      auto a = row_of(x);
      if (!a.ok()) return a.error();
      auto b = row_of(y);
      if (!b.ok()) return b.error();
      if (*a != nullptr && *b != nullptr) consider(**a, **b, "scan", "");
    }
  }

  // The access decision for each patient shown.
  std::map<std::string, bool> may;
  auto allowed = [&](const DuplicateSide& side) -> Result<bool> {
    auto it = may.find(side.id);
    if (it != may.end()) return it->second;
    auto p = patient(side.id);
    if (!p.ok()) return p.error();
    std::string security = *p != nullptr ? (*p)->security : "";
    auto d = decide(s, Action::kMerge, Target{"Patient", side.id, security, ""});
    if (!d.ok()) return d.error();
    may[side.id] = d->allowed;
    return d->allowed;
  };
  std::set<std::string> shown;
  for (auto& [key, d] : found) {
    auto a = allowed(d.a);
    if (!a.ok()) return a.error();
    auto b = allowed(d.b);
    if (!b.ok()) return b.error();
    if (!*a || !*b) {
      ++report.withheld;
      continue;
    }
    report.pairs.push_back(std::move(d));
  }
  std::stable_sort(report.pairs.begin(), report.pairs.end(), [](const DuplicatePair& x, const DuplicatePair& y) {
    return x.score.score > y.score.score;
  });
  if (q.limit > 0 && static_cast<int>(report.pairs.size()) > q.limit) report.pairs.resize(q.limit);
  for (const auto& d : report.pairs) {
    shown.insert(d.a.id);
    shown.insert(d.b.id);
  }
  s.add_withheld(report.withheld);
  std::string hash = crypto::blake2b_256_hex(fmt::format("duplicates|{}|{}|{}|{}", min_score, only, q.queue_only,
                                                         q.limit));
  EHR_TRY(write_audit(s, {"search", "ok", detail::join_words({shown.begin(), shown.end()}), "", hash,
                          static_cast<std::int64_t>(report.pairs.size()),
                          report.withheld ? fmt::format("duplicates withheld {}", report.withheld)
                                          : std::string("duplicates")}));
  return report;
}

// --- reference rewriting ----------------------------------------------------------

namespace {

// Whether `ref` is a literal reference to Patient/`id` (relative or
// absolute). A versioned reference names one version of the source, which
// stays as it was: it is left alone.
bool refers_to(const std::string& ref, const std::string& id) {
  std::string type, target;
  return ref.find('?') == std::string::npos && ref.find("/_history/") == std::string::npos &&
         parse_reference(ref, type, target) && type == "Patient" && target == id;
}

using Identifiers = std::vector<std::pair<std::string, std::string>>;

// The (system, value) pairs of a patient's identifiers.
Identifiers identifiers_of(const Json& patient) {
  Identifiers out;
  if (const Json* ids = patient.find("identifier"); ids != nullptr && ids->is_array())
    for (const Json& i : ids->items())
      if (i.is_object()) out.emplace_back(text_of(i.find("system")), text_of(i.find("value")));
  return out;
}

// Whether Reference `ref` names a patient only by identifier (a logical
// reference, as the index resolves it: typed Patient or untyped) that is one
// of `ids` (no system in the reference: any system).
bool identifier_is_one_of(const Json& ref, const Identifiers& ids);

bool names_by_identifier(const Json& ref, const Identifiers& ids) {
  if (ref.find("reference") != nullptr) return false;
  return identifier_is_one_of(ref, ids);
}

// Whether Reference `ref` (typed Patient or untyped) carries an identifier
// that is one of `ids` (no system in the reference: any system).
bool identifier_is_one_of(const Json& ref, const Identifiers& ids) {
  const Json* id = ref.find("identifier");
  if (id == nullptr || !id->is_object()) return false;
  std::string type = text_of(ref.find("type"));
  if (!type.empty() && type != "Patient" && type != "http://hl7.org/fhir/StructureDefinition/Patient") return false;
  std::string system = text_of(id->find("system")), value = text_of(id->find("value"));
  if (value.empty()) return false;
  return std::any_of(ids.begin(), ids.end(), [&](const auto& p) {
    return p.second == value && (system.empty() || p.first == system);
  });
}

// Replaces every reference to Patient/`from` in `node` by `to`, appending
// to `changes` each place ({"at": [keys and indexes], "was": old text}). A
// Reference naming `from` by one of its identifiers (`from_ids`) becomes a
// literal reference to `to` ({"at": the Reference, "was": the whole old
// Reference}): the identifier stays the source's, so kept beside the new
// reference it would make the record one of two patients. For the same
// reason a Reference with both a literal reference to `from` and one of its
// identifiers loses the identifier (a whole-Reference change too).
void move_references(Json& node, const std::string& from, const std::string& to, const Identifiers& from_ids,
                     Json& at, Json& changes, int depth) {
  if (depth > 64) return;
  const Json* literal = node.is_object() ? node.find("reference") : nullptr;
  const bool both = literal != nullptr && literal->is_string() && refers_to(literal->text(), from) &&
                    identifier_is_one_of(node, from_ids);
  if (node.is_object() && !at.items().empty() && (both || names_by_identifier(node, from_ids))) {
    Json change = Json::object();
    change.set("at", at);
    change.set("was", node);
    changes.push_back(std::move(change));
    node.erase("identifier");
    node.set("reference", Json::string("Patient/" + to));
    return;
  }
  if (node.is_array()) {
    auto& items = node.items();
    for (size_t i = 0; i < items.size(); ++i) {
      at.push_back(Json::number(static_cast<std::int64_t>(i)));
      move_references(items[i], from, to, from_ids, at, changes, depth + 1);
      at.items().pop_back();
    }
    return;
  }
  if (!node.is_object()) return;
  for (auto& [key, value] : node.members()) {
    if (key == "contained") continue;
    at.push_back(Json::string(key));
    if (key == "reference" && value.is_string() && refers_to(value.text(), from)) {
      Json change = Json::object();
      change.set("at", at);
      change.set("was", value);
      changes.push_back(std::move(change));
      value = Json::string("Patient/" + to);
    } else if (value.is_object() || value.is_array()) {
      move_references(value, from, to, from_ids, at, changes, depth + 1);
    }
    at.items().pop_back();
  }
}

// The element of `root` at path `at`, or nullptr.
Json* element_at(Json& root, const Json& at) {
  Json* cur = &root;
  for (const auto& step : at.items()) {
    if (step.is_string()) {
      cur = cur->find(step.text());
    } else {
      size_t i = static_cast<size_t>(std::stoll(step.text()));
      cur = cur->is_array() && i < cur->items().size() ? &cur->items()[i] : nullptr;
    }
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

Json link_to(const std::string& id, const char* type) {
  Json other = Json::object();
  other.set("reference", Json::string("Patient/" + id));
  Json link = Json::object();
  link.set("other", std::move(other));
  link.set("type", Json::string(type));
  return link;
}

void add_link(Json& patient, const std::string& id, const char* type) {
  Json* links = patient.find("link");
  if (links == nullptr || !links->is_array()) links = &patient.set("link", Json::array());
  links->push_back(link_to(id, type));
}

// Removes the last link of `type` to Patient/`id`; drops an emptied list.
void remove_link(Json& patient, const std::string& id, const char* type) {
  Json* links = patient.find("link");
  if (links == nullptr || !links->is_array()) return;
  auto& items = links->items();
  for (size_t i = items.size(); i-- > 0;) {
    if (text_of(items[i].find("type")) == type && items[i].find("other") != nullptr &&
        text_of(items[i].find("other")->find("reference")) == "Patient/" + id) {
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  if (items.empty()) patient.erase("link");
}

Json coded(const char* system, const char* code, const char* display) {
  Json c = Json::object();
  c.set("system", Json::string(system));
  c.set("code", Json::string(code));
  c.set("display", Json::string(display));
  Json cs = Json::array();
  cs.push_back(std::move(c));
  Json concept_ = Json::object();
  concept_.set("coding", std::move(cs));
  return concept_;
}

// The Provenance of a merge or unmerge: what it wrote, who, when, why.
Result<std::string> write_provenance(SessionImpl& s, const char* activity, const char* display,
                                     const std::vector<std::string>& targets, const std::string& reason) {
  std::string now = s.now();
  std::string id = detail::hashed_id(fmt::format("{}\x1f{}\x1f{}\x1f{}", activity, s.user(), now, targets.front()));
  Json prov = Json::object();
  prov.set("resourceType", Json::string("Provenance"));
  prov.set("id", Json::string(id));
  Json t = Json::array();
  for (const auto& ref : targets) {
    Json r = Json::object();
    r.set("reference", Json::string(ref));
    t.push_back(std::move(r));
  }
  prov.set("target", std::move(t));
  prov.set("recorded", Json::string(now));
  prov.set("activity", coded("http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle", activity, display));
  Json why = Json::object();
  why.set("text", Json::string(reason));
  Json reasons = Json::array();
  reasons.push_back(std::move(why));
  prov.set("reason", std::move(reasons));
  Json who = Json::object();
  who.set("display", Json::string("ehr user " + s.user()));
  Json agent = Json::object();
  agent.set("type", coded("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "enterer", "Enterer"));
  agent.set("who", std::move(who));
  Json agents = Json::array();
  agents.push_back(std::move(agent));
  prov.set("agent", std::move(agents));
  auto w = detail::write_created(s, std::move(prov), activity);
  if (!w.ok()) return w.error();
  return id;
}

std::string version_ref(const StoredResource& r) {
  return fmt::format("{}/{}/_history/{}", r.type, r.id, r.version);
}

// The patient named by `key` as stored, with the merge decision on it.
Result<StoredResource> patient_for_merge(SessionImpl& s, const std::string& key) {
  auto id = resolve_patient_key(s, key);
  if (!id.ok()) return id.error();
  auto p = detail::load_resource(s, "Patient", *id);
  if (!p.ok()) return p.error();
  if (!p->has_value()) return Error::not_found(fmt::format("no patient {}", key));
  auto d = authorize(s, Action::kMerge, Target{"Patient", (*p)->id, (*p)->security, ""});
  if (!d.ok()) return d.error();
  return std::move(**p);
}

Result<std::optional<std::string>> merged_into(SessionImpl& s, const std::string& id) {
  auto rows = s.rows("SELECT target FROM patient_merge WHERE source = ?", {id});
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return std::optional<std::string>();
  return std::optional<std::string>((*rows)[0][0]);
}

}  // namespace

// --- merge -------------------------------------------------------------------------

Result<MergeOutcome> merge_patients(Session& session, const std::string& source_key, const std::string& target_key,
                                    const std::string& reason) {
  SessionImpl& s = SessionImpl::of(session);
  if (reason.empty()) return Error::invalid_argument("a merge needs a reason (--reason)");
  MergeOutcome out;
  Status st = s.transaction([&]() -> Status {
    auto source = patient_for_merge(s, source_key);
    if (!source.ok()) return source.error();
    auto target = patient_for_merge(s, target_key);
    if (!target.ok()) return target.error();
    const std::string S = source->id, T = target->id;
    if (S == T) return Error::invalid_argument(fmt::format("{} and {} are the same patient (Patient/{})",
                                                           source_key, target_key, S));
    auto s_into = merged_into(s, S);
    if (!s_into.ok()) return s_into.error();
    if (s_into->has_value())
      return Error::conflict(fmt::format("Patient/{} was merged into Patient/{} already (ehr patient unmerge {} "
                                         "undoes it)", S, **s_into, S));
    auto t_into = merged_into(s, T);
    if (!t_into.ok()) return t_into.error();
    if (t_into->has_value())
      return Error::conflict(fmt::format("Patient/{} was merged into Patient/{}: merge into Patient/{}", T,
                                         **t_into, **t_into));
    auto held = s.rows("SELECT source FROM patient_merge WHERE target = ? ORDER BY source LIMIT 1", {S});
    if (!held.ok()) return held.error();
    if (!held->empty())
      return Error::conflict(fmt::format("Patient/{} holds the records of Patient/{} merged into it: unmerge {} "
                                         "first", S, (*held)[0][0], (*held)[0][0]));
    if (source->retracted) return Error::conflict(fmt::format("Patient/{} is retracted", S));
    if (target->retracted) return Error::conflict(fmt::format("Patient/{} is retracted", T));

    std::string why = fmt::format("merge of Patient/{} into Patient/{}: {}", S, T, reason);
    // Every record pointing at the source: its own records by the patient
    // column, the rest through the index of references to patients (which
    // holds no reference to a record's own patient: migration 11). Not
    // Provenance: it says what was done to the source, which stays true.
    auto refs = s.rows(
        "SELECT type, id FROM resource WHERE patient = ?1 AND type NOT IN ('Patient', 'Provenance') "
        "UNION SELECT r.type, r.id FROM reference f JOIN resource r ON r.rid = f.rid "
        "WHERE f.target_type = 'Patient' AND f.target_id = ?1 AND r.type <> 'Provenance' "
        "AND NOT (r.type = 'Patient' AND r.id IN (?1, ?2)) "
        "ORDER BY 1, 2",
        {S, T});
    if (!refs.ok()) return refs.error();
    Json records = Json::array();
    std::vector<std::string> written;
    const Identifiers source_ids = identifiers_of(source->resource);
    for (const auto& r : *refs) {
      auto cur = detail::load_resource(s, r[0], r[1]);
      if (!cur.ok()) return cur.error();
      if (!cur->has_value()) continue;
      Json content = (*cur)->resource;
      Json at = Json::array();
      Json changes = Json::array();
      move_references(content, S, T, source_ids, at, changes, 0);
      if (changes.size() == 0) continue;
      auto w = detail::write_version(s, **cur, std::move(content), "update", why);
      if (!w.ok()) return w.error();
      written.push_back(version_ref(*w));
      Json rec = Json::object();
      rec.set("type", Json::string(r[0]));
      rec.set("id", Json::string(r[1]));
      rec.set("changes", std::move(changes));
      records.push_back(std::move(rec));
    }
    // The two patients, linked.
    Json src = source->resource;
    const Json* active = src.find("active");
    Json active_was = active != nullptr ? *active : Json();
    src.set("active", Json::boolean(false));
    add_link(src, T, "replaced-by");
    auto ws = detail::write_version(s, *source, std::move(src), "update", why);
    if (!ws.ok()) return ws.error();
    Json tgt = target->resource;
    add_link(tgt, S, "replaces");
    auto wt = detail::write_version(s, *target, std::move(tgt), "update", why);
    if (!wt.ok()) return wt.error();
    written.insert(written.begin(), {version_ref(*wt), version_ref(*ws)});
    auto prov = write_provenance(s, "merge", "Merge Record Lifecycle Event", written, reason);
    if (!prov.ok()) return prov.error();
    // Imports of the source's records (its old export again) land on the
    // target: the source's id becomes an import alias of the target's.
    auto alias = s.rows("SELECT to_id FROM import_alias WHERE type = 'Patient' AND from_id = ?", {S});
    if (!alias.ok()) return alias.error();
    EHR_TRY(s.exec("INSERT OR REPLACE INTO import_alias(type, from_id, to_id) VALUES('Patient', ?, ?)", {S, T}));
    Json undo = Json::object();
    undo.set("active_was", std::move(active_was));
    undo.set("alias_was", alias->empty() ? Json() : Json::string((*alias)[0][0]));
    undo.set("records", std::move(records));
    auto seq = s.rows("SELECT value FROM counter WHERE name = 'seq'");
    if (!seq.ok()) return seq.error();
    EHR_TRY(s.exec("INSERT INTO patient_merge(source, target, seq, time, user, reason, changes) "
                   "VALUES(?,?,?,?,?,?,?)",
                   {S, T, std::to_string(ws->seq), s.now(), s.user(), reason, to_json(undo)}));
    auto [a, b] = ordered(S, T);
    EHR_TRY(s.exec("DELETE FROM match_review WHERE a = ? AND b = ?", {a, b}));
    out.source = S;
    out.target = T;
    out.records = static_cast<std::int64_t>(written.size()) - 2;
    out.provenance = *prov;
    return write_audit(s, {"merge", "ok", detail::join_words({S, T}), "Provenance/" + *prov, "",
                           static_cast<std::int64_t>(written.size()),
                           fmt::format("merge Patient/{} into Patient/{}", S, T)});
  });
  if (!st.ok()) return st.error();
  return out;
}

// --- unmerge -----------------------------------------------------------------------

namespace {

// Whether Reference `ref`, put back as it was before the merge, would name
// Patient/`source` alone: true for a literal reference (the merge's undo
// holds one only where it was the source's id), and for one by identifier
// when exactly the source holds that identifier now.
Result<bool> names_only_source(SessionImpl& s, const Json& ref, const std::string& source) {
  if (!ref.is_object() || ref.find("reference") != nullptr) return true;
  const Json* id = ref.find("identifier");
  if (id == nullptr || !id->is_object()) return true;
  auto holders = detail::patients_with_identifier(s, text_of(id->find("system")), text_of(id->find("value")));
  if (!holders.ok()) return holders.error();
  return holders->size() == 1 && (*holders)[0] == source;
}

}  // namespace

Result<MergeOutcome> unmerge_patient(Session& session, const std::string& source_key, const std::string& reason) {
  SessionImpl& s = SessionImpl::of(session);
  if (reason.empty()) return Error::invalid_argument("an unmerge needs a reason (--reason)");
  MergeOutcome out;
  Status st = s.transaction([&]() -> Status {
    auto source = patient_for_merge(s, source_key);
    if (!source.ok()) return source.error();
    const std::string S = source->id;
    auto rows = s.rows("SELECT target, changes FROM patient_merge WHERE source = ?", {S});
    if (!rows.ok()) return rows.error();
    if (rows->empty()) return Error::not_found(fmt::format("Patient/{} is not merged", S));
    const std::string T = (*rows)[0][0];
    auto undo = parse_json((*rows)[0][1]);
    if (!undo.ok()) return Error::internal(fmt::format("the record of the merge of Patient/{} does not parse", S));
    auto target = patient_for_merge(s, T);
    if (!target.ok()) return target.error();
    std::string why = fmt::format("unmerge of Patient/{} from Patient/{}: {}", S, T, reason);
    // First: from here on the source's identifiers name the source again,
    // not the target (patient_keys.h patients_holding follows merges), as
    // the records put back are written.
    EHR_TRY(s.exec("DELETE FROM patient_merge WHERE source = ?", {S}));
    std::vector<std::string> written;
    const std::string moved_to = "Patient/" + T;
    if (const Json* records = undo->find("records"); records != nullptr && records->is_array()) {
      for (const auto& rec : records->items()) {
        auto cur = detail::load_resource(s, text_of(rec.find("type")), text_of(rec.find("id")));
        if (!cur.ok()) return cur.error();
        if (!cur->has_value()) continue;  // purged since
        Json content = (*cur)->resource;
        bool changed = false;
        for (const auto& c : rec.find("changes")->items()) {
          Json* at = element_at(content, *c.find("at"));
          // A reference changed again after the merge is the later writer's.
          // A whole Reference (one that named the source by identifier) is
          // put back while it still points at the target.
          const Json* points = at != nullptr && at->is_object() ? at->find("reference") : at;
          if (points == nullptr || !points->is_string() || points->text() != moved_to) continue;
          Json put = *c.find("was");
          auto named = names_only_source(s, put, S);
          if (!named.ok()) return named.error();
          if (!*named) {
            // The identifier names someone else now (an MRN corrected since,
            // or given to a new patient), or nobody: put back a Reference
            // that names the source itself, never another patient's chart.
            put.erase("identifier");
            put.set("reference", Json::string("Patient/" + S));
          }
          *at = std::move(put);
          changed = true;
        }
        if (!changed) continue;
        auto w = detail::write_version(s, **cur, std::move(content), "update", why);
        if (!w.ok()) return w.error();
        written.push_back(version_ref(*w));
      }
    }
    Json src = source->resource;
    remove_link(src, T, "replaced-by");
    const Json* was = undo->find("active_was");
    if (was == nullptr || was->is_null()) src.erase("active");
    else src.set("active", *was);
    auto ws = detail::write_version(s, *source, std::move(src), "update", why);
    if (!ws.ok()) return ws.error();
    Json tgt = target->resource;
    remove_link(tgt, S, "replaces");
    auto wt = detail::write_version(s, *target, std::move(tgt), "update", why);
    if (!wt.ok()) return wt.error();
    written.insert(written.begin(), {version_ref(*ws), version_ref(*wt)});
    auto prov = write_provenance(s, "unmerge", "Unmerge Record Lifecycle Event", written, reason);
    if (!prov.ok()) return prov.error();
    const Json* alias_was = undo->find("alias_was");
    if (alias_was != nullptr && alias_was->is_string())
      EHR_TRY(s.exec("UPDATE import_alias SET to_id = ? WHERE type = 'Patient' AND from_id = ?", {alias_was->text(), S}));
    else
      EHR_TRY(s.exec("DELETE FROM import_alias WHERE type = 'Patient' AND from_id = ?", {S}));
    out.source = S;
    out.target = T;
    out.records = static_cast<std::int64_t>(written.size()) - 2;
    out.provenance = *prov;
    return write_audit(s, {"unmerge", "ok", detail::join_words({S, T}), "Provenance/" + *prov, "",
                           static_cast<std::int64_t>(written.size()),
                           fmt::format("unmerge Patient/{} from Patient/{}", S, T)});
  });
  if (!st.ok()) return st.error();
  return out;
}

// --- not-duplicate -----------------------------------------------------------------

Status mark_not_duplicate(Session& session, const std::string& a_key, const std::string& b_key,
                          const std::string& reason) {
  SessionImpl& s = SessionImpl::of(session);
  if (reason.empty()) return Error::invalid_argument("a not-duplicate decision needs a reason (--reason)");
  return s.transaction([&]() -> Status {
    auto a = patient_for_merge(s, a_key);
    if (!a.ok()) return a.error();
    auto b = patient_for_merge(s, b_key);
    if (!b.ok()) return b.error();
    if (a->id == b->id)
      return Error::invalid_argument(fmt::format("{} and {} are the same patient (Patient/{})", a_key, b_key, a->id));
    auto [x, y] = ordered(a->id, b->id);
    EHR_TRY(s.exec("INSERT INTO match_decision(a, b, decision, time, user, reason) "
                   "VALUES(?,?,'not-duplicate',?,?,?) ON CONFLICT(a, b) DO UPDATE SET "
                   "time = excluded.time, user = excluded.user, reason = excluded.reason",
                   {x, y, s.now(), s.user(), reason}));
    EHR_TRY(s.exec("DELETE FROM match_review WHERE a = ? AND b = ?", {x, y}));
    return write_audit(s, {"not-duplicate", "ok", detail::join_words({x, y}), "", "", 2, "not-duplicate"});
  });
}

}  // namespace ehr
