// Audit rows (audit_log.h): chained as ehr/audit.h describes.
#include "audit_log.h"

#include <fmt/format.h>

#include "ehr/version.h"
#include "words.h"

namespace ehr {

namespace {

// Appends `r` as the next entry. REQUIRES: inside a write transaction.
Status append_entry(SessionImpl& s, const AuditRecord& r) { return append_audit_entry(s, audit_entry_of(s, r)); }

}  // namespace

AuditEntry audit_entry_of(SessionImpl& s, const AuditRecord& r) {
  AuditEntry e;
  e.time = s.now();
  e.user = r.as_user.empty() ? s.user() : r.as_user;
  e.roles = r.as_user.empty() ? detail::join_words(s.roles()) : "";
  e.action = r.action;
  e.outcome = r.outcome;
  e.purpose = s.purpose();
  e.patients = r.patients;
  e.resources = r.resources;
  e.query_hash = r.query_hash;
  e.count = r.count;
  e.detail = r.detail;
  e.emergency = r.emergency || s.emergency_for(r.patients);
  e.tool = fmt::format("ehr {}", version());
  e.recipient = s.recipient();
  return e;
}

Status append_audit_entry(SessionImpl& s, AuditEntry e) {
  AuditChain& chain = s.chain();
  if (!chain.loaded()) return Error::internal("the audit chain is not loaded");
  if (!chain.head) {
    auto st = s.statement("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!st.ok()) return st.error();
    auto row = (*st)->step();
    if (!row.ok()) return row.error();
    std::pair<std::int64_t, ChainHash> head{0, chain_genesis(chain)};
    if (*row) {
      head.first = (*st)->column_int(0);
      std::vector<std::uint8_t> h = (*st)->column_blob(1);
      if (h.size() != head.second.size())
        return Error::invalid_data(fmt::format(
            "audit entry {} has no chain hash; run 'ehr audit verify'", head.first));
      std::copy(h.begin(), h.end(), head.second.begin());
    }
    (void)(*st)->reset();
    chain.head = head;
  }
  e.seq = chain.head->first + 1;
  ChainHash h = chain_step(chain, chain.head->second, e);
  auto st = s.statement(
      "INSERT INTO audit(seq, time, user, roles, action, outcome, purpose, patients, resources, "
      "query_hash, count, detail, emergency, tool, recipient, hash) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st.ok()) return st.error();
  store::Statement& q = **st;
  EHR_TRY(q.bind_int(1, e.seq));
  EHR_TRY(q.bind_text(2, e.time));
  EHR_TRY(q.bind_text(3, e.user));
  EHR_TRY(q.bind_text(4, e.roles));
  EHR_TRY(q.bind_text(5, e.action));
  EHR_TRY(q.bind_text(6, e.outcome));
  EHR_TRY(q.bind_text(7, e.purpose));
  EHR_TRY(q.bind_text(8, e.patients));
  EHR_TRY(q.bind_text(9, e.resources));
  EHR_TRY(q.bind_text(10, e.query_hash));
  EHR_TRY(q.bind_int(11, e.count));
  EHR_TRY(q.bind_text(12, e.detail));
  EHR_TRY(q.bind_int(13, e.emergency ? 1 : 0));
  EHR_TRY(q.bind_text(14, e.tool));
  EHR_TRY(q.bind_text(15, e.recipient));
  EHR_TRY(q.bind_blob(16, crypto::Bytes(h.data(), h.size())));
  auto done = q.step();
  if (!done.ok()) return done.error();
  chain.head = {e.seq, h};
  return {};
}


Status write_audit(SessionImpl& s, const AuditRecord& r) {
#ifdef EHR_BENCH_NO_AUDIT
  // scripts/bench audit's baseline build only (its version says so).
  (void)s;
  (void)r;
  return {};
#endif
  if (s.in_snapshot()) {
    s.hold_audit(r);  // appended when the read transaction ends
    return {};
  }
  if (s.in_transaction()) return append_entry(s, r);
  // On its own (a denial after its operation rolled back): the head must
  // not move between reading it and appending.
  return s.transaction([&]() { return append_entry(s, r); });
}

namespace {
constexpr std::string_view kUndeliveredPrefix = "bulk export not delivered: entries ";
}  // namespace

std::string undelivered_export_detail(std::int64_t first, std::int64_t last) {
  return fmt::format("{}{} to {} record it", kUndeliveredPrefix, first, last);
}

std::optional<std::pair<std::int64_t, std::int64_t>> undelivered_export_range(std::string_view detail) {
  if (!detail.starts_with(kUndeliveredPrefix)) return std::nullopt;
  detail.remove_prefix(kUndeliveredPrefix.size());
  std::int64_t first = 0, last = 0;
  auto number = [&](std::int64_t& v) {
    size_t n = 0;
    while (n < detail.size() && detail[n] >= '0' && detail[n] <= '9' && n < 18) v = v * 10 + (detail[n++] - '0');
    detail.remove_prefix(n);
    return n > 0;
  };
  if (!number(first) || !detail.starts_with(" to ")) return std::nullopt;
  detail.remove_prefix(4);
  if (!number(last) || detail != " record it" || last < first) return std::nullopt;
  return std::pair{first, last};
}

}  // namespace ehr
