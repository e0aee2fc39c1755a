// The audit hash chain (audit_chain.h).
#include "audit_chain.h"

#include <fmt/format.h>

#include "sqlite_store.h"

namespace ehr {

namespace {

void put_field(std::string& out, std::string_view v) {
  // 4-byte big-endian length, then the bytes.
  std::uint32_t n = static_cast<std::uint32_t>(v.size());
  out += static_cast<char>(n >> 24);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out.append(v);
}

}  // namespace

void encode_entry_fields(std::string& out, const std::array<std::string_view, kEntryFields>& fields) {
  for (std::string_view f : fields) put_field(out, f);
}

std::optional<std::array<std::string_view, kEntryFields>> split_entry_fields(std::string_view encoded) {
  std::array<std::string_view, kEntryFields> out;
  for (auto& field : out) {
    if (encoded.size() < 4) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(encoded.data());
    std::size_t n = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
    encoded.remove_prefix(4);
    if (encoded.size() < n) return std::nullopt;
    field = encoded.substr(0, n);
    encoded.remove_prefix(n);
  }
  if (!encoded.empty()) return std::nullopt;
  return out;
}

std::string canonical_entry(const AuditEntry& e) {
  std::string seq = std::to_string(e.seq), count = std::to_string(e.count);
  std::string out;
  out.reserve(160 + e.patients.size() + e.resources.size() + e.detail.size());
  encode_entry_fields(out, {seq, e.time, e.user, e.roles, e.action, e.outcome, e.purpose, e.patients,
                            e.resources, e.query_hash, count, e.detail, e.emergency ? "1" : "0", e.tool,
                            e.recipient});
  return out;
}

ChainHash chain_genesis(const AuditChain& c) {
  ChainHash h{};
  crypto::Blake2b b(crypto::kHashBytes, c.key.span());
  b.update(std::string_view("ehr audit chain v1"));
  b.update(std::string_view(c.trail_id));
  b.final(h);
  return h;
}

std::string emergency_reason_seal(const AuditChain& c, std::string_view reason) {
  ChainHash h{};
  crypto::Blake2b b(crypto::kHashBytes, c.key.span());
  b.update(std::string_view("emergency-reason:"));
  b.update(reason);
  b.final(h);
  return crypto::to_hex(crypto::Bytes(h.data(), h.size()));
}

ChainHash chain_step(const AuditChain& c, const ChainHash& prev, const AuditEntry& e) {
  return chain_step_encoded(c, prev, canonical_entry(e));
}

ChainHash chain_step_encoded(const AuditChain& c, const ChainHash& prev, std::string_view encoded) {
  ChainHash h{};
  crypto::Blake2b b = c.keyed ? crypto::Blake2b(*c.keyed) : crypto::Blake2b(crypto::kHashBytes, c.key.span());
  b.update(crypto::Bytes(prev.data(), prev.size()));
  b.update(encoded);
  b.final(h);
  return h;
}

AuditEntry audit_entry_of(store::Statement& q) {
  AuditEntry e;
  e.seq = q.column_int(0);
  e.time = q.column_text(1);
  e.user = q.column_text(2);
  e.roles = q.column_text(3);
  e.action = q.column_text(4);
  e.outcome = q.column_text(5);
  e.purpose = q.column_text(6);
  e.patients = q.column_text(7);
  e.resources = q.column_text(8);
  e.query_hash = q.column_text(9);
  e.count = q.column_int(10);
  e.detail = q.column_text(11);
  e.emergency = q.column_int(12) != 0;
  e.tool = q.column_text(13);
  e.recipient = q.column_text(14);
  std::vector<std::uint8_t> raw = q.column_blob(15);
  e.hash = crypto::to_hex(raw);
  return e;
}

namespace {

Status load_chain(store::Connection& db, AuditChain& c, bool& found) {
  auto st = db.prepare("SELECT trail_id, chain_key FROM audit_chain WHERE id = 1");
  if (!st.ok()) return st.error();
  auto row = st->step();
  if (!row.ok()) return row.error();
  found = *row;
  if (!found) return {};
  std::vector<std::uint8_t> key = st->column_blob(1);
  if (key.size() != 32) return Error::invalid_data("the audit chain key is damaged (not 32 bytes)");
  c.trail_id = st->column_text(0);
  c.key = crypto::SecureBytes::copy_of(key);
  c.keyed = std::make_shared<const crypto::Blake2b>(crypto::kHashBytes, c.key.span());
  crypto::wipe(key);
  return {};
}

// Chains the entries written before the chain existed (hash NULL), in order.
Status chain_unhashed(store::Connection& db, AuditChain& c) {
  auto last = db.prepare("SELECT seq, hash FROM audit WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1");
  if (!last.ok()) return last.error();
  auto row = last->step();
  if (!row.ok()) return row.error();
  ChainHash prev = chain_genesis(c);
  if (*row) {
    std::vector<std::uint8_t> h = last->column_blob(1);
    if (h.size() == prev.size()) std::copy(h.begin(), h.end(), prev.begin());
  }
  auto unhashed = db.prepare(fmt::format("SELECT {} FROM audit WHERE hash IS NULL ORDER BY seq", kAuditColumns));
  if (!unhashed.ok()) return unhashed.error();
  std::vector<std::pair<std::int64_t, ChainHash>> hashes;
  for (;;) {
    auto r = unhashed->step();
    if (!r.ok()) return r.error();
    if (!*r) break;
    AuditEntry e = audit_entry_of(*unhashed);
    prev = chain_step(c, prev, e);
    hashes.emplace_back(e.seq, prev);
  }
  auto set = db.prepare("UPDATE audit SET hash = ? WHERE seq = ?");
  if (!set.ok()) return set.error();
  for (const auto& [seq, h] : hashes) {
    EHR_TRY(set->bind_blob(1, crypto::Bytes(h.data(), h.size())));
    EHR_TRY(set->bind_int(2, seq));
    auto done = set->step();
    if (!done.ok()) return done.error();
    EHR_TRY(set->reset());
  }
  return {};
}

}  // namespace

Status ensure_audit_chain(store::Connection& db, AuditChain& c) {
  bool found = false;
  EHR_TRY(load_chain(db, c, found));
  if (found) return {};
  EHR_TRY(db.exec("BEGIN IMMEDIATE"));
  auto body = [&]() -> Status {
    EHR_TRY(load_chain(db, c, found));  // another process may have made it
    if (found) return {};
    std::array<std::uint8_t, 16> id{};
    crypto::random_bytes(id);
    c.trail_id = crypto::to_hex(crypto::Bytes(id.data(), id.size()));
    c.key = crypto::SecureBytes(32);
    crypto::random_bytes(c.key.span());
    c.keyed = std::make_shared<const crypto::Blake2b>(crypto::kHashBytes, c.key.span());
    auto ins = db.prepare("INSERT INTO audit_chain(id, trail_id, chain_key) VALUES(1, ?, ?)");
    if (!ins.ok()) return ins.error();
    EHR_TRY(ins->bind_text(1, c.trail_id));
    EHR_TRY(ins->bind_blob(2, c.key.span()));
    auto done = ins->step();
    if (!done.ok()) return done.error();
    return chain_unhashed(db, c);
  };
  Status s = body();
  if (s.ok()) s = db.exec("COMMIT");
  if (!s.ok()) {
    (void)db.exec("ROLLBACK");
    c.key = crypto::SecureBytes();
    c.keyed.reset();
    return s.error().with_context("starting the audit chain");
  }
  return {};
}

}  // namespace ehr
