// The ehr header codec and key slots; see store_header.h for the format.

#include "store_header.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace ehr::store {
namespace {

using crypto::Bytes;
using crypto::MutBytes;
using crypto::SecureBytes;

// Field offsets inside a copy.
constexpr std::size_t kOffFormat = 8;
constexpr std::size_t kOffFlags = 12;
constexpr std::size_t kOffGeneration = 16;
constexpr std::size_t kOffFileId = 24;
constexpr std::size_t kOffPageSize = 40;
constexpr std::size_t kOffReserve = 44;
constexpr std::size_t kOffCipher = 48;
constexpr std::size_t kOffSlotCount = 52;
constexpr std::size_t kOffWrapPk = 56;
constexpr std::size_t kOffZero1 = 88;  // .. kSlotsOffset
constexpr std::size_t kOffZero2 = kSlotsOffset + kSlotCount * kSlotSize;

// Field offsets inside a slot.
constexpr std::size_t kSlotState = 0;
constexpr std::size_t kSlotType = 1;
constexpr std::size_t kSlotKdf = 2;
constexpr std::size_t kSlotUserLen = 3;
constexpr std::size_t kSlotLabelLen = 4;
constexpr std::size_t kSlotOps = 8;
constexpr std::size_t kSlotMem = 16;
constexpr std::size_t kSlotSalt = 24;
constexpr std::size_t kSlotPk = 40;
constexpr std::size_t kSlotNonce = 72;
constexpr std::size_t kSlotWrapped = 96;
constexpr std::size_t kSlotUser = 144;
constexpr std::size_t kSlotLabel = 176;

static_assert(kOffZero2 == 1920);
static_assert(kSlotLabel + kLabelMax == kSlotSize);
static_assert(kSlotUser + kUserMax == kSlotLabel);

constexpr std::string_view kRawKekContext = "ehr-raw-kek";
constexpr std::string_view kSlotSkContext = "ehr-slot-x25519";
constexpr std::string_view kWrapContext = "ehr-slot-wrap";
constexpr std::string_view kAuthFailedMessage = "wrong passphrase or key";

void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
bool all_zero(const std::uint8_t* p, std::size_t n) {
  std::uint8_t acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

// Serialises `slot` into 224 bytes.
void encode_slot(const Slot& slot, std::uint8_t* out) {
  std::memset(out, 0, kSlotSize);
  if (!slot.active) return;
  out[kSlotState] = 1;
  out[kSlotType] = static_cast<std::uint8_t>(slot.type);
  out[kSlotKdf] = static_cast<std::uint8_t>(slot.kdf);
  out[kSlotUserLen] = static_cast<std::uint8_t>(slot.user.size());
  out[kSlotLabelLen] = static_cast<std::uint8_t>(slot.label.size());
  put_u64(out + kSlotOps, slot.kdf_params.opslimit);
  put_u64(out + kSlotMem, slot.kdf_params.memlimit);
  std::memcpy(out + kSlotSalt, slot.salt.data(), slot.salt.size());
  std::memcpy(out + kSlotPk, slot.slot_pk.data(), slot.slot_pk.size());
  std::memcpy(out + kSlotNonce, slot.wrap_nonce.data(), slot.wrap_nonce.size());
  std::memcpy(out + kSlotWrapped, slot.wrapped_dek.data(),
              slot.wrapped_dek.size());
  std::memcpy(out + kSlotUser, slot.user.data(), slot.user.size());
  std::memcpy(out + kSlotLabel, slot.label.data(), slot.label.size());
}

// Parses a slot; false when any field is out of range.
bool decode_slot(const std::uint8_t* in, Slot& slot) {
  slot = Slot{};
  std::uint8_t state = in[kSlotState];
  if (state == 0) return all_zero(in, kSlotSize);
  if (state != 1) return false;
  std::uint8_t type = in[kSlotType];
  std::uint8_t kdf = in[kSlotKdf];
  std::size_t user_len = in[kSlotUserLen];
  std::size_t label_len = in[kSlotLabelLen];
  if (type < 1 || type > 3) return false;
  SlotKdf want = type == 1 ? SlotKdf::kArgon2id13 : SlotKdf::kBlake2bRaw;
  if (kdf != static_cast<std::uint8_t>(want)) return false;
  if (user_len > kUserMax || label_len > kLabelMax) return false;
  if (!all_zero(in + 5, 3)) return false;
  if (!all_zero(in + kSlotUser + user_len, kUserMax - user_len)) return false;
  if (!all_zero(in + kSlotLabel + label_len, kLabelMax - label_len)) {
    return false;
  }
  slot.active = true;
  slot.type = static_cast<SlotType>(type);
  slot.kdf = want;
  slot.kdf_params = {get_u64(in + kSlotOps), get_u64(in + kSlotMem)};
  if (slot.kdf == SlotKdf::kArgon2id13) {
    if (!crypto::kdf_params_valid(slot.kdf_params)) return false;
  } else if (slot.kdf_params.opslimit != 0 || slot.kdf_params.memlimit != 0) {
    return false;
  }
  std::memcpy(slot.salt.data(), in + kSlotSalt, slot.salt.size());
  std::memcpy(slot.slot_pk.data(), in + kSlotPk, slot.slot_pk.size());
  std::memcpy(slot.wrap_nonce.data(), in + kSlotNonce, slot.wrap_nonce.size());
  std::memcpy(slot.wrapped_dek.data(), in + kSlotWrapped,
              slot.wrapped_dek.size());
  slot.user.assign(reinterpret_cast<const char*>(in + kSlotUser), user_len);
  slot.label.assign(reinterpret_cast<const char*>(in + kSlotLabel), label_len);
  return true;
}

// The AD of a slot wrap (see store_header.h).
std::vector<std::uint8_t> wrap_ad(const Header& header, std::size_t index,
                                  const Slot& slot) {
  std::uint8_t enc[kSlotSize];
  encode_slot(slot, enc);
  std::vector<std::uint8_t> ad;
  ad.reserve(8 + 4 + 16 + 1 + kSlotNonce + kUserMax + kLabelMax + 32);
  ad.insert(ad.end(), kMagic, kMagic + 8);
  std::uint8_t fmt[4];
  put_u32(fmt, kFormat);
  ad.insert(ad.end(), fmt, fmt + 4);
  ad.insert(ad.end(), header.file_id.begin(), header.file_id.end());
  ad.push_back(static_cast<std::uint8_t>(index));
  ad.insert(ad.end(), enc, enc + kSlotNonce);  // state .. slot_pk
  ad.insert(ad.end(), enc + kSlotUser, enc + kSlotSize);  // user, label
  ad.insert(ad.end(), header.wrap_pk.begin(), header.wrap_pk.end());
  return ad;
}

// KEK of a slot from its secret.
Status derive_kek(const Slot& slot, const Secret& secret, SecureBytes& kek) {
  if (slot.kdf == SlotKdf::kArgon2id13) {
    return crypto::pwhash(secret.bytes(), slot.salt, slot.kdf_params, kek);
  }
  kek = SecureBytes(crypto::kKeyBytes);
  crypto::Blake2b h(crypto::kHashBytes, secret.bytes());
  h.update(kRawKekContext).update(slot.salt).final(kek.span());
  return {};
}

// slot_sk from a KEK.
SecureBytes slot_secret_key(Bytes kek) {
  SecureBytes sk(crypto::kX25519Bytes);
  crypto::Blake2b h(crypto::kHashBytes, kek);
  h.update(kSlotSkContext).final(sk.span());
  return sk;
}

// W from the X25519 shared secret; false for a degenerate point.
bool wrap_key_from(Bytes sk, Bytes peer_pk, Bytes wrap_pk, Bytes slot_pk,
                   SecureBytes& w) {
  SecureBytes shared(crypto::kX25519Bytes);
  if (!crypto::x25519(sk, peer_pk, shared.span())) return false;
  w = SecureBytes(crypto::kKeyBytes);
  crypto::Blake2b h(crypto::kHashBytes, shared.span());
  h.update(kWrapContext).update(wrap_pk).update(slot_pk).final(w.span());
  return true;
}

// Seals `dek` into `slot` with wrap key `w`.
void seal_slot(const Header& header, std::size_t index, Slot& slot, Bytes w,
               Bytes dek) {
  crypto::random_bytes(slot.wrap_nonce);
  std::vector<std::uint8_t> ad = wrap_ad(header, index, slot);
  crypto::aead_seal(w, slot.wrap_nonce, dek, ad,
                    MutBytes(slot.wrapped_dek.data(), crypto::kKeyBytes),
                    MutBytes(slot.wrapped_dek.data() + crypto::kKeyBytes,
                             crypto::kAeadTagBytes));
}

// Tries to open slot `index` with `secret`; the DEK on success.
Result<SecureBytes> try_slot(const Header& header, std::size_t index,
                             const Secret& secret) {
  const Slot& slot = header.slots[index];
  SecureBytes kek;
  EHR_TRY(derive_kek(slot, secret, kek));
  SecureBytes sk = slot_secret_key(kek.span());
  SecureBytes w;
  if (!wrap_key_from(sk.span(), header.wrap_pk, header.wrap_pk, slot.slot_pk,
                     w)) {
    return Error::auth_failed(std::string(kAuthFailedMessage));
  }
  std::vector<std::uint8_t> ad = wrap_ad(header, index, slot);
  SecureBytes dek(crypto::kKeyBytes);
  if (!crypto::aead_open(
          w.span(), slot.wrap_nonce,
          Bytes(slot.wrapped_dek.data(), crypto::kKeyBytes),
          Bytes(slot.wrapped_dek.data() + crypto::kKeyBytes,
                crypto::kAeadTagBytes),
          ad, dek.span())) {
    return Error::auth_failed(std::string(kAuthFailedMessage));
  }
  return dek;
}

// Both copies decoded; nullopt entries for copies that did not decode.
struct Candidates {
  std::optional<DecodedCopy> copy[2];
  Error first_error{ErrorCode::kCorruption, "damaged header"};
  bool any_torn = false;  // some copy failed its hdr_sum
};

Candidates decode_both(Bytes header_bytes) {
  Candidates c;
  bool have_error = false;
  for (int i = 0; i < 2; ++i) {
    Result<DecodedCopy> d = decode_copy(header_bytes.subspan(i * kCopySize,
                                                             kCopySize));
    if (d.ok()) {
      c.copy[i] = std::move(d).value();
      continue;
    }
    if (d.error().message() == "damaged header copy") c.any_torn = true;
    if (!have_error) {
      c.first_error = d.error();
      have_error = true;
    }
  }
  return c;
}

// Copy indices ordered by preference: valid ones, highest generation first
// (A before B on a tie).
std::vector<int> preference_order(const Candidates& c) {
  std::vector<int> order;
  for (int i = 0; i < 2; ++i) {
    if (c.copy[i]) order.push_back(i);
  }
  if (order.size() == 2 &&
      c.copy[1]->header.generation > c.copy[0]->header.generation) {
    std::swap(order[0], order[1]);
  }
  return order;
}

}  // namespace

Subkeys derive_subkeys(Bytes dek) {
  return Subkeys{crypto::kdf_subkey(dek, kPageKeyId, "EHRPAGE1"),
                 crypto::kdf_subkey(dek, kWalckKeyId, "EHRWALCK"),
                 crypto::kdf_subkey(dek, kHdrKeyId, "EHRHDRMC")};
}

SlotType slot_type_for(Secret::Kind kind) {
  switch (kind) {
    case Secret::Kind::kPassphrase: return SlotType::kPassphrase;
    case Secret::Kind::kKeyFile: return SlotType::kKeyFile;
    case Secret::Kind::kRecoveryCode: return SlotType::kRecoveryCode;
  }
  return SlotType::kPassphrase;
}

}  // namespace ehr::store

namespace ehr {

std::string_view slot_type_name(SlotType type) {
  switch (type) {
    case SlotType::kPassphrase: return "passphrase";
    case SlotType::kKeyFile: return "key-file";
    case SlotType::kRecoveryCode: return "recovery-code";
  }
  return "unknown";
}

}  // namespace ehr

namespace ehr::store {

CopyBytes encode_copy(const Header& header, Bytes k_hdr) {
  CopyBytes out{};
  std::uint8_t* p = out.data();
  std::memcpy(p, kMagic, 8);
  put_u32(p + kOffFormat, kFormat);
  put_u32(p + kOffFlags, 0);
  put_u64(p + kOffGeneration, header.generation);
  std::memcpy(p + kOffFileId, header.file_id.data(), kFileIdBytes);
  put_u32(p + kOffPageSize, kPageSize);
  put_u32(p + kOffReserve, kReserve);
  put_u32(p + kOffCipher, kCipherXChaCha20Poly1305);
  put_u32(p + kOffSlotCount, kSlotCount);
  std::memcpy(p + kOffWrapPk, header.wrap_pk.data(), header.wrap_pk.size());
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    encode_slot(header.slots[i], p + kSlotsOffset + i * kSlotSize);
  }
  auto mac = crypto::blake2b_256(Bytes(p, kMacOffset), k_hdr);
  std::memcpy(p + kMacOffset, mac.data(), mac.size());
  auto sum = crypto::blake2b_256(Bytes(p, kSumOffset));
  std::memcpy(p + kSumOffset, sum.data(), sum.size());
  return out;
}

Result<DecodedCopy> decode_copy(Bytes bytes) {
  if (bytes.size() != kCopySize) return Error::corruption("damaged header copy");
  const std::uint8_t* p = bytes.data();
  auto sum = crypto::blake2b_256(Bytes(p, kSumOffset));
  if (!crypto::equal_ct(sum, Bytes(p + kSumOffset, crypto::kHashBytes))) {
    if (std::memcmp(p, kMagic, 8) != 0) return Error::corruption("not an ehr file");
    return Error::corruption("damaged header copy");
  }
  if (std::memcmp(p, kMagic, 8) != 0) return Error::corruption("not an ehr file");
  std::uint32_t format = get_u32(p + kOffFormat);
  if (format != kFormat) {
    return Error::corruption("unsupported format version " +
                             std::to_string(format));
  }
  if (get_u32(p + kOffFlags) != 0 || get_u32(p + kOffPageSize) != kPageSize ||
      get_u32(p + kOffReserve) != kReserve ||
      get_u32(p + kOffCipher) != kCipherXChaCha20Poly1305 ||
      get_u32(p + kOffSlotCount) != kSlotCount ||
      !all_zero(p + kOffZero1, kSlotsOffset - kOffZero1) ||
      !all_zero(p + kOffZero2, kMacOffset - kOffZero2)) {
    return Error::corruption("unsupported page layout");
  }
  DecodedCopy out;
  std::memcpy(out.raw.data(), p, kCopySize);
  Header& h = out.header;
  h.generation = get_u64(p + kOffGeneration);
  std::memcpy(h.file_id.data(), p + kOffFileId, kFileIdBytes);
  std::memcpy(h.wrap_pk.data(), p + kOffWrapPk, h.wrap_pk.size());
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    if (!decode_slot(p + kSlotsOffset + i * kSlotSize, h.slots[i])) {
      return Error::corruption("malformed key slot " + std::to_string(i));
    }
  }
  return out;
}

bool verify_mac(const DecodedCopy& copy, Bytes k_hdr) {
  auto mac = crypto::blake2b_256(Bytes(copy.raw.data(), kMacOffset), k_hdr);
  return crypto::equal_ct(mac, Bytes(copy.raw.data() + kMacOffset,
                                     crypto::kHashBytes));
}

bool has_magic(Bytes header_bytes) {
  for (std::size_t i = 0; i < 2; ++i) {
    if (header_bytes.size() >= i * kCopySize + 8 &&
        std::memcmp(header_bytes.data() + i * kCopySize, kMagic, 8) == 0) {
      return true;
    }
  }
  return false;
}

Result<Unlocked> unlock(Bytes header_bytes, const Secret& secret,
                        std::string_view user) {
  if (header_bytes.size() != kHeaderSize || !has_magic(header_bytes)) {
    return Error::corruption("not an ehr file");
  }
  Candidates c = decode_both(header_bytes);
  std::vector<int> order = preference_order(c);
  if (order.empty()) {
    // Both copies bad: a torn (checksum) failure reads "damaged header"; a
    // well-formed but unsupported copy says what is unsupported.
    if (c.any_torn) return Error::corruption("damaged header");
    return c.first_error;
  }
  const SlotType want = slot_type_for(secret.kind());
  // Opens the first matching slot of copy `idx`.
  auto open_copy = [&](int idx) -> Result<Unlocked> {
    const Header& h = c.copy[idx]->header;
    for (std::size_t i = 0; i < kSlotCount; ++i) {
      const Slot& s = h.slots[i];
      if (!s.active || s.type != want) continue;
      if (!user.empty() && s.user != user) continue;
      Result<SecureBytes> dek = try_slot(h, i, secret);
      if (dek.ok()) {
        return Unlocked{h, std::move(dek).value(), idx, static_cast<int>(i)};
      }
      if (!dek.error().is(ErrorCode::kAuthFailed)) return dek.error();
    }
    return Error::auth_failed(std::string(kAuthFailedMessage));
  };

  // No slot of the newest valid copy opening is the final answer (see the
  // rules in store_header.h): older copies are never asked.
  Result<Unlocked> first = open_copy(order[0]);
  if (!first.ok()) return first.error();
  Subkeys keys = derive_subkeys(first->dek.span());
  if (verify_mac(*c.copy[order[0]], keys.hdr.span())) return first;

  // A slot opened but the copy is not authentic: fall back to the other copy
  // if it belongs to the same DEK.
  if (order.size() == 2 && verify_mac(*c.copy[order[1]], keys.hdr.span())) {
    Result<Unlocked> second = open_copy(order[1]);
    if (second.ok()) return second;
  }
  return Error::corruption("header authentication failed");
}

std::optional<DecodedCopy> find_authentic_copy(Bytes header_bytes,
                                               const FileId& file_id,
                                               Bytes k_hdr, int* copy_index) {
  if (header_bytes.size() != kHeaderSize) return std::nullopt;
  Candidates c = decode_both(header_bytes);
  for (int idx : preference_order(c)) {
    if (c.copy[idx]->header.file_id == file_id && verify_mac(*c.copy[idx], k_hdr)) {
      if (copy_index != nullptr) *copy_index = idx;
      return std::move(c.copy[idx]);
    }
  }
  return std::nullopt;
}

Result<Slot> make_slot(const Header& header, std::size_t index,
                       const SlotSpec& spec, const Secret& secret, Bytes dek) {
  if (spec.user.size() > kUserMax) {
    return Error::invalid_argument("user name too long (max 32 bytes)");
  }
  if (spec.label.size() > kLabelMax) {
    return Error::invalid_argument("label too long (max 48 bytes)");
  }
  if (index >= kSlotCount) return Error::internal("slot index out of range");
  Slot slot;
  slot.active = true;
  slot.type = slot_type_for(secret.kind());
  slot.user = spec.user;
  slot.label = spec.label;
  if (slot.type == SlotType::kPassphrase) {
    if (secret.bytes().empty()) return Error::invalid_argument("empty passphrase");
    if (!crypto::kdf_params_valid(spec.kdf)) {
      return Error::invalid_argument("unsupported KDF parameters");
    }
    slot.kdf = SlotKdf::kArgon2id13;
    slot.kdf_params = spec.kdf;
  } else {
    slot.kdf = SlotKdf::kBlake2bRaw;
    slot.kdf_params = {0, 0};
  }
  crypto::random_bytes(slot.salt);
  SecureBytes kek;
  EHR_TRY(derive_kek(slot, secret, kek));
  SecureBytes sk = slot_secret_key(kek.span());
  crypto::x25519_base(sk.span(), slot.slot_pk);
  SecureBytes w;
  if (!wrap_key_from(sk.span(), header.wrap_pk, header.wrap_pk, slot.slot_pk,
                     w)) {
    return Error::internal("invalid header wrap key");
  }
  seal_slot(header, index, slot, w.span(), dek);
  return slot;
}

namespace {

// Fresh file_id, DEK and wrap key pair; the secret half is returned in `e`.
void fresh_epoch(Header& h, SecureBytes& dek, SecureBytes& e) {
  crypto::random_bytes(h.file_id);
  dek = SecureBytes(crypto::kKeyBytes);
  crypto::random_bytes(dek.span());
  e = SecureBytes(crypto::kX25519Bytes);
  crypto::random_bytes(e.span());
  crypto::x25519_base(e.span(), h.wrap_pk);
}

}  // namespace

Result<NewHeader> new_header(const SlotSpec& spec, const Secret& secret) {
  NewHeader out;
  out.header.generation = 1;
  SecureBytes e;
  fresh_epoch(out.header, out.dek, e);
  Result<Slot> slot = make_slot(out.header, 0, spec, secret, out.dek.span());
  if (!slot.ok()) return slot.error();
  out.header.slots[0] = std::move(slot).value();
  return out;
}

Result<NewHeader> rotated_header(const Header& old) {
  NewHeader out;
  out.header.generation = 1;
  SecureBytes e;
  fresh_epoch(out.header, out.dek, e);
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    const Slot& s = old.slots[i];
    if (!s.active) continue;
    Slot n = s;  // same type, KDF, salt, slot_pk, user, label
    SecureBytes w;
    if (!wrap_key_from(e.span(), n.slot_pk, out.header.wrap_pk, n.slot_pk, w)) {
      return Error::corruption("malformed key slot " + std::to_string(i));
    }
    seal_slot(out.header, i, n, w.span(), out.dek.span());
    out.header.slots[i] = std::move(n);
  }
  return out;
}

std::size_t active_slot_count(const Header& header) {
  return static_cast<std::size_t>(
      std::count_if(header.slots.begin(), header.slots.end(),
                    [](const Slot& s) { return s.active; }));
}

std::optional<std::size_t> free_slot(const Header& header) {
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    if (!header.slots[i].active) return i;
  }
  return std::nullopt;
}

}  // namespace ehr::store
