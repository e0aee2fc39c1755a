// The journal of deferred audit entries (deferred_audit.h).
#include "deferred_audit.h"

#include <array>
#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "audit_chain.h"
#include "audit_log.h"
#include "crypto_sodium.h"
#include "ehr/files.h"

namespace ehr {

namespace {

constexpr std::uint64_t kDeferKeyId = 5;
constexpr std::string_view kDeferContext = "EHRDEFER";

std::string associated_data(const AuditChain& c) { return "ehr-deferred-audit|" + c.trail_id; }

crypto::Bytes bytes_of(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

// The entry of one journal line; nullopt when it does not open or parse.
std::optional<AuditEntry> open_line(const AuditChain& c, const crypto::SecureBytes& key, std::string_view line) {
  std::vector<std::uint8_t> raw;
  if (!crypto::from_hex(line, raw) || raw.size() < crypto::kAeadNonceBytes + crypto::kAeadTagBytes) return std::nullopt;
  crypto::Bytes all(raw);
  crypto::Bytes nonce = all.subspan(0, crypto::kAeadNonceBytes);
  crypto::Bytes tag = all.subspan(crypto::kAeadNonceBytes, crypto::kAeadTagBytes);
  crypto::Bytes sealed = all.subspan(crypto::kAeadNonceBytes + crypto::kAeadTagBytes);
  std::string ad = associated_data(c);
  std::string plain(sealed.size(), '\0');
  if (!crypto::aead_open(key.span(), nonce, sealed, tag, bytes_of(ad),
                         {reinterpret_cast<std::uint8_t*>(plain.data()), plain.size()}))
    return std::nullopt;
  auto f = split_entry_fields(plain);
  if (!f) return std::nullopt;
  AuditEntry e;
  auto text = [&](size_t i) { return std::string((*f)[i]); };
  e.time = text(1);
  e.user = text(2);
  e.roles = text(3);
  e.action = text(4);
  e.outcome = text(5);
  e.purpose = text(6);
  e.patients = text(7);
  e.resources = text(8);
  e.query_hash = text(9);
  std::string_view count = (*f)[10];
  if (std::from_chars(count.data(), count.data() + count.size(), e.count).ec != std::errc()) return std::nullopt;
  e.detail = text(11);
  e.emergency = (*f)[12] == "1";
  e.tool = text(13);
  e.recipient = text(14);
  return e;
}

}  // namespace

std::string deferred_audit_path(const std::string& db_path) { return db_path + ".deferred-audit"; }

Status defer_audit_entry(SessionImpl& s, const AuditEntry& e) {
  const AuditChain& c = s.chain();
  if (!c.loaded()) return Error::internal("the audit chain is not loaded");
  crypto::SecureBytes key = crypto::kdf_subkey(c.key.span(), kDeferKeyId, kDeferContext);
  AuditEntry unnumbered = e;
  unnumbered.seq = 0;
  std::string plain = canonical_entry(unnumbered);
  std::vector<std::uint8_t> out(crypto::kAeadNonceBytes + crypto::kAeadTagBytes + plain.size());
  crypto::MutBytes all(out);
  crypto::MutBytes nonce = all.subspan(0, crypto::kAeadNonceBytes);
  crypto::MutBytes tag = all.subspan(crypto::kAeadNonceBytes, crypto::kAeadTagBytes);
  crypto::MutBytes sealed = all.subspan(crypto::kAeadNonceBytes + crypto::kAeadTagBytes);
  crypto::random_bytes(nonce);
  std::string ad = associated_data(c);
  crypto::aead_seal(key.span(), nonce, bytes_of(plain), bytes_of(ad), sealed, tag);
  std::fill(plain.begin(), plain.end(), '\0');
  return append_line(deferred_audit_path(s.store().path()), crypto::to_hex(out));
}

Status import_deferred_audit(SessionImpl& s) {
  const AuditChain& c = s.chain();
  if (!c.loaded()) return Error::internal("the audit chain is not loaded");
  return take_lines(deferred_audit_path(s.store().path()), [&](const std::vector<std::string>& lines) {
    crypto::SecureBytes key = crypto::kdf_subkey(c.key.span(), kDeferKeyId, kDeferContext);
    return s.transaction([&]() -> Status {
      std::int64_t unreadable = 0;
      for (const auto& line : lines) {
        auto e = open_line(c, key, line);
        if (!e) {
          ++unreadable;
          continue;
        }
        EHR_TRY(append_audit_entry(s, std::move(*e)));
      }
      if (unreadable > 0)
        EHR_TRY(write_audit(s, {"audit-deferred", "error", "", "", "", unreadable,
                                fmt::format("{} deferred entr{} did not open (torn or not this trail's)", unreadable,
                                            unreadable == 1 ? "y" : "ies")}));
      return {};
    });
  });
}

}  // namespace ehr
