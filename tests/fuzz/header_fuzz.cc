// libFuzzer harness for the ehr header decoder (core/src/store_header.h):
// decode_copy on both copies, has_magic, find_authentic_copy and unlock
// with fixed key-file and recovery-code secrets (never Argon2id: a secret
// only tries slots of its own type, and both use the BLAKE2b raw KDF).
//
// Input: byte 0 is a mode, the rest is payload.
//   mode & 1   the header is a valid template XOR the payload (so the empty
//              payload is a header that opens), else the payload itself
//   mode & 2   each copy's hdr_sum is recomputed, so decoding goes past the
//              torn-write check
// Properties checked (trap on violation): nothing reads outside the 4096
// bytes (ASan), no UB (UBSan); an unlock that succeeds yields the
// template's DEK, and a copy that authenticates under the template's K_hdr
// carries the template's file_id.
//
// libsodium's randombytes is replaced by a fixed stream so that every run
// builds the same template.

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "crypto_sodium.h"
#include "ehr/store.h"
#include "store_header.h"

namespace {

using namespace ehr;

std::uint64_t g_rng = 0x9e3779b97f4a7c15ull;

std::uint64_t next_u64() {  // splitmix64
  std::uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
const char* rb_name() { return "ehr-fuzz-fixed"; }
std::uint32_t rb_random() { return static_cast<std::uint32_t>(next_u64()); }
void rb_stir() {}
void rb_buf(void* const buf, const std::size_t size) {
  auto* p = static_cast<std::uint8_t*>(buf);
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::uint8_t>(next_u64());
}
int rb_close() { return 0; }
randombytes_implementation g_fixed = {rb_name, rb_random, rb_stir, nullptr, rb_buf, rb_close};

struct Template {
  store::HeaderBytes bytes{};
  store::FileId file_id{};
  crypto::SecureBytes dek;
  crypto::SecureBytes k_hdr;
  std::optional<Secret> key;
  std::optional<Secret> code;
};
Template* g_template = nullptr;

void fix_sum(std::uint8_t* copy) {
  auto sum = crypto::blake2b_256(crypto::Bytes(copy, store::kSumOffset));
  std::memcpy(copy + store::kSumOffset, sum.data(), sum.size());
}

void check_unlock(const store::HeaderBytes& bytes, const Secret& secret, std::string_view user) {
  Result<store::Unlocked> u = store::unlock(bytes, secret, user);
  if (!u.ok()) return;
  if (u->dek.size() != g_template->dek.size() ||
      std::memcmp(u->dek.data(), g_template->dek.data(), u->dek.size()) != 0) {
    __builtin_trap();  // a forged header yielded some other data key
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  randombytes_set_implementation(&g_fixed);
  crypto::ensure_init();
  auto* t = new Template();
  std::uint8_t raw[32];
  for (std::uint8_t& b : raw) b = static_cast<std::uint8_t>(next_u64());
  t->key.emplace(std::move(Secret::key_file(raw).value()));
  t->code.emplace(new_recovery_code());
  Result<store::NewHeader> nh = store::new_header({"alice", "laptop", KdfParams::min_for_testing()}, *t->key);
  if (!nh.ok()) __builtin_trap();
  Result<store::Slot> slot = store::make_slot(nh->header, 1, {"bob", "paper", KdfParams::min_for_testing()},
                                              *t->code, nh->dek.span());
  if (!slot.ok()) __builtin_trap();
  nh->header.slots[1] = std::move(slot).value();
  store::Subkeys keys = store::derive_subkeys(nh->dek.span());
  store::CopyBytes copy = store::encode_copy(nh->header, keys.hdr.span());
  std::memcpy(t->bytes.data(), copy.data(), store::kCopySize);
  std::memcpy(t->bytes.data() + store::kCopySize, copy.data(), store::kCopySize);
  t->file_id = nh->header.file_id;
  t->dek = std::move(nh->dek);
  t->k_hdr = std::move(keys.hdr);
  g_template = t;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t mode = size > 0 ? data[0] : 1;
  const std::uint8_t* payload = size > 0 ? data + 1 : data;
  const std::size_t n = size > 0 ? size - 1 : 0;
  store::HeaderBytes bytes{};
  if (mode & 1) bytes = g_template->bytes;
  for (std::size_t i = 0; i < n && i < bytes.size(); ++i) {
    bytes[i] = (mode & 1) ? static_cast<std::uint8_t>(bytes[i] ^ payload[i]) : payload[i];
  }
  if (mode & 2) {
    fix_sum(bytes.data());
    fix_sum(bytes.data() + store::kCopySize);
  }
  (void)store::has_magic(bytes);
  for (std::size_t c = 0; c < 2; ++c) {
    Result<store::DecodedCopy> d =
        store::decode_copy(crypto::Bytes(bytes).subspan(c * store::kCopySize, store::kCopySize));
    if (d.ok() && store::verify_mac(*d, g_template->k_hdr.span()) &&
        d->header.file_id != g_template->file_id) {
      __builtin_trap();  // authentic under our K_hdr, yet another file's id
    }
  }
  (void)store::find_authentic_copy(bytes, g_template->file_id, g_template->k_hdr.span());
  check_unlock(bytes, *g_template->key, "");
  check_unlock(bytes, *g_template->code, "");
  check_unlock(bytes, *g_template->key, "alice");
  check_unlock(bytes, *g_template->code, "bob");
  return 0;
}
