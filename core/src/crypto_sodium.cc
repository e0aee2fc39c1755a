// libsodium adapter; see crypto_sodium.h. Also implements the secure-memory
// parts of the public ehr::Secret and ehr::KdfParams (ehr/store.h), so that
// no other file needs <sodium.h>.

#include "crypto_sodium.h"

#include "sha256.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstring>
#include <mutex>
#include <new>
#include <utility>

#include <sodium.h>

namespace ehr::crypto {
namespace {

static_assert(kAeadNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(kKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kKeyBytes == crypto_kdf_KEYBYTES);
static_assert(kPwhashSaltBytes == crypto_pwhash_SALTBYTES);
static_assert(kX25519Bytes == crypto_scalarmult_BYTES);
static_assert(kX25519Bytes == crypto_scalarmult_SCALARBYTES);

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// Max cost an untrusted header may ask for (see kdf_params_valid).
constexpr std::uint64_t kMaxOpslimit = 32;
constexpr std::uint64_t kMaxMemlimit = std::uint64_t{4} << 30;

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

}  // namespace

void ensure_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
}

// --- SecureBytes -------------------------------------------------------------

SecureBytes::SecureBytes(std::size_t size) {
  ensure_init();
  if (size == 0) return;
  void* p = sodium_malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  sodium_memzero(p, size);
  data_ = static_cast<std::uint8_t*>(p);
  size_ = size;
}

SecureBytes SecureBytes::copy_of(Bytes bytes) {
  SecureBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

SecureBytes::SecureBytes(SecureBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

SecureBytes& SecureBytes::operator=(SecureBytes&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecureBytes::~SecureBytes() { release(); }

void SecureBytes::release() {
  if (data_ != nullptr) sodium_free(data_);  // wipes, unlocks, frees
  data_ = nullptr;
  size_ = 0;
}

// --- primitives --------------------------------------------------------------

void random_bytes(MutBytes out) {
  ensure_init();
  randombytes_buf(out.data(), out.size());
}

void aead_seal(Bytes key, Bytes nonce, Bytes plaintext, Bytes ad,
               MutBytes ciphertext, MutBytes tag) {
  ensure_init();
  unsigned long long tag_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
      ciphertext.data(), tag.data(), &tag_len, plaintext.data(),
      plaintext.size(), ad.data(), ad.size(), nullptr, nonce.data(),
      key.data());
}

bool aead_open(Bytes key, Bytes nonce, Bytes ciphertext, Bytes tag, Bytes ad,
               MutBytes plaintext) {
  ensure_init();
  if (tag.size() != kAeadTagBytes || nonce.size() != kAeadNonceBytes ||
      key.size() != kKeyBytes || plaintext.size() != ciphertext.size()) {
    return false;
  }
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
      plaintext.data(), nullptr, ciphertext.data(), ciphertext.size(),
      tag.data(), ad.data(), ad.size(), nonce.data(), key.data());
  if (rc != 0) {
    sodium_memzero(plaintext.data(), plaintext.size());
    return false;
  }
  return true;
}

SecureBytes kdf_subkey(Bytes key, std::uint64_t id, std::string_view context) {
  ensure_init();
  char ctx[crypto_kdf_CONTEXTBYTES] = {};
  std::memcpy(ctx, context.data(),
              std::min(context.size(), sizeof(ctx)));
  SecureBytes out(kKeyBytes);
  crypto_kdf_derive_from_key(out.data(), out.size(), id, ctx, key.data());
  return out;
}

Blake2b::Blake2b(std::size_t out_len, Bytes key) : out_len_(out_len) {
  static_assert(sizeof(crypto_generichash_state) <= sizeof(state_));
  ensure_init();
  crypto_generichash_init(reinterpret_cast<crypto_generichash_state*>(state_),
                          key.empty() ? nullptr : key.data(), key.size(),
                          out_len);
}

Blake2b::Blake2b(const Blake2b& other) : out_len_(other.out_len_) {
  std::memcpy(state_, other.state_, sizeof(state_));
}

Blake2b::~Blake2b() { sodium_memzero(state_, sizeof(state_)); }

Blake2b& Blake2b::update(Bytes data) {
  crypto_generichash_update(
      reinterpret_cast<crypto_generichash_state*>(state_), data.data(),
      data.size());
  return *this;
}

Blake2b& Blake2b::update(std::string_view data) {
  return update(Bytes(reinterpret_cast<const std::uint8_t*>(data.data()),
                      data.size()));
}

void Blake2b::final(MutBytes out) {
  crypto_generichash_final(reinterpret_cast<crypto_generichash_state*>(state_),
                           out.data(), out_len_);
}

Sha256::Sha256(Code code)
    : blocks_(code == Code::kPortable ? &detail::sha256_blocks_portable : detail::sha256_blocks_best()),
      state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19},
      buffer_{} {}

Sha256::~Sha256() {
  sodium_memzero(state_, sizeof(state_));
  sodium_memzero(buffer_, sizeof(buffer_));
}

Sha256& Sha256::update(std::string_view data) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  length_ += n;
  if (buffered_ > 0) {
    std::size_t take = std::min(n, sizeof(buffer_) - buffered_);
    std::memcpy(buffer_ + buffered_, p, take);
    buffered_ += take;
    p += take;
    n -= take;
    if (buffered_ < sizeof(buffer_)) return *this;
    blocks_(state_, buffer_, 1);
    buffered_ = 0;
  }
  if (n >= 64) {
    blocks_(state_, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
  }
  if (n > 0) {
    std::memcpy(buffer_, p, n);
    buffered_ = n;
  }
  return *this;
}

std::string Sha256::final_hex() {
  // The padding: 0x80, zeros to 56 mod 64, the length in bits (big-endian).
  const std::uint64_t bits = length_ * 8;
  unsigned char pad[72] = {0x80};
  std::size_t pad_len = (buffered_ < 56 ? 56 : 120) - buffered_;
  for (int i = 0; i < 8; ++i) pad[pad_len + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
  update(std::string_view(reinterpret_cast<const char*>(pad), pad_len + 8));
  std::array<std::uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(state_[i] >> (24 - 8 * j));
  return to_hex(Bytes(out.data(), out.size()));
}

std::array<std::uint8_t, kHashBytes> blake2b_256(Bytes data, Bytes key) {
  std::array<std::uint8_t, kHashBytes> out{};
  Blake2b h(kHashBytes, key);
  h.update(data).final(out);
  return out;
}

bool kdf_params_valid(const KdfParams& params) {
  return params.opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
         params.opslimit <= kMaxOpslimit &&
         params.memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
         params.memlimit <= kMaxMemlimit;
}

Status pwhash(Bytes passphrase, Bytes salt, const KdfParams& params,
              SecureBytes& out) {
  ensure_init();
  if (!kdf_params_valid(params)) {
    return Error::invalid_argument("unsupported KDF parameters");
  }
  out = SecureBytes(kKeyBytes);
  // libsodium wants a non-null pointer even for an empty passphrase.
  static const char kEmpty = 0;
  const char* pw = passphrase.empty()
                       ? &kEmpty
                       : reinterpret_cast<const char*>(passphrase.data());
  if (crypto_pwhash(out.data(), out.size(), pw, passphrase.size(), salt.data(),
                    params.opslimit, static_cast<std::size_t>(params.memlimit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    out = SecureBytes();
    return Error::internal("key derivation failed (out of memory?)");
  }
  return {};
}

void x25519_base(Bytes sk, MutBytes pk) {
  ensure_init();
  crypto_scalarmult_base(pk.data(), sk.data());
}

bool x25519(Bytes sk, Bytes pk, MutBytes shared) {
  ensure_init();
  return crypto_scalarmult(shared.data(), sk.data(), pk.data()) == 0;
}

void box_seal(Bytes plaintext, Bytes pk, MutBytes out) {
  ensure_init();
  crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), pk.data());
}

bool box_seal_open(Bytes sealed, Bytes pk, Bytes sk, MutBytes out) {
  ensure_init();
  if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), pk.data(), sk.data()) == 0) return true;
  sodium_memzero(out.data(), out.size());
  return false;
}

static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == kStreamHeaderBytes);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == kStreamOverhead);
static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == kKeyBytes);

SecretStream::SecretStream() {
  static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state) <= sizeof(state_));
  ensure_init();
  sodium_memzero(state_, sizeof(state_));
}

SecretStream::~SecretStream() { sodium_memzero(state_, sizeof(state_)); }

namespace {
crypto_secretstream_xchacha20poly1305_state* stream_state(unsigned char* s) {
  return reinterpret_cast<crypto_secretstream_xchacha20poly1305_state*>(s);
}
}  // namespace

void SecretStream::init_push(Bytes key, MutBytes header) {
  crypto_secretstream_xchacha20poly1305_init_push(stream_state(state_), header.data(), key.data());
}

void SecretStream::push(Bytes in, Bytes ad, bool final, MutBytes out) {
  crypto_secretstream_xchacha20poly1305_push(
      stream_state(state_), out.data(), nullptr, in.data(), in.size(), ad.empty() ? nullptr : ad.data(),
      ad.size(),
      final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
}

bool SecretStream::init_pull(Bytes key, Bytes header) {
  return crypto_secretstream_xchacha20poly1305_init_pull(stream_state(state_), header.data(), key.data()) == 0;
}

bool SecretStream::pull(Bytes in, Bytes ad, MutBytes out, bool& final) {
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(stream_state(state_), out.data(), nullptr, &tag, in.data(),
                                                 in.size(), ad.empty() ? nullptr : ad.data(), ad.size()) != 0) {
    sodium_memzero(out.data(), out.size());
    return false;
  }
  // Only the two tags this format writes are accepted.
  if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL && tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
    sodium_memzero(out.data(), out.size());
    return false;
  }
  final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  return true;
}

std::string base32_encode(Bytes data) {
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::optional<std::size_t> base32_decode(std::string_view text, MutBytes out) {
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t n = 0;
  std::size_t symbols = 0;
  bool padding = false;
  for (char c : text) {
    if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = base32_value(c);
    if (v < 0 || padding) return std::nullopt;  // junk, or data after '='
    buffer = ((buffer << 5) | static_cast<std::uint32_t>(v)) & 0xffff;
    bits += 5;
    ++symbols;
    if (bits >= 8) {
      if (n == out.size()) return std::nullopt;
      out[n++] = static_cast<std::uint8_t>(buffer >> (bits - 8));
      bits -= 8;
    }
  }
  // Valid unpadded lengths are 0, 2, 4, 5, 7 symbols modulo 8.
  switch (symbols % 8) {
    case 1: case 3: case 6: return std::nullopt;
    default: break;
  }
  // Leftover bits must be zero, so every byte string has one encoding.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return n;
}

bool equal_ct(Bytes a, Bytes b) {
  ensure_init();
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(MutBytes buf) {
  if (!buf.empty()) sodium_memzero(buf.data(), buf.size());
}

Status disable_core_dumps() {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Error::io_error("prctl(PR_SET_DUMPABLE) failed");
  }
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    return Error::io_error("setrlimit(RLIMIT_CORE) failed");
  }
  return {};
}

std::string blake2b_256_hex(std::string_view text) {
  auto h = blake2b_256(Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  return to_hex(h);
}

std::string to_hex(Bytes data) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (std::uint8_t b : data) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool from_hex(std::string_view hex, std::vector<std::uint8_t>& out) {
  if (hex.size() % 2 != 0) return false;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  out = std::move(bytes);
  return true;
}

SignKeys sign_keys_from_seed(Bytes seed) {
  SignKeys k;
  crypto_sign_seed_keypair(k.public_key.data(), k.secret_key.data(), seed.data());
  return k;
}

std::array<std::uint8_t, kSignatureBytes> sign_detached(const SignKeys& keys, Bytes message) {
  std::array<std::uint8_t, kSignatureBytes> sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), keys.secret_key.data());
  return sig;
}

bool sign_verify(Bytes public_key, Bytes message, Bytes signature) {
  if (public_key.size() != kSignPublicBytes || signature.size() != kSignatureBytes) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

}  // namespace ehr::crypto

// --- public ehr::Secret and ehr::KdfParams ---------------------------------

namespace ehr {

static_assert(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE == 2);
static_assert(crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE == 64u << 20);
static_assert(crypto_pwhash_argon2id_OPSLIMIT_MODERATE == 3);
static_assert(crypto_pwhash_argon2id_MEMLIMIT_MODERATE == 256u << 20);
static_assert(crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE == 4);
static_assert(crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE == 1u << 30);
static_assert(crypto_pwhash_argon2id_OPSLIMIT_MIN == 1);
static_assert(crypto_pwhash_argon2id_MEMLIMIT_MIN == 8192);

Status disable_core_dumps() { return crypto::disable_core_dumps(); }

std::optional<KdfParams> KdfParams::by_name(std::string_view name) {
  if (name == "interactive") return interactive();
  if (name == "moderate") return moderate();
  if (name == "sensitive") return sensitive();
  return std::nullopt;
}

Secret::Secret(Kind kind, std::size_t size) : kind_(kind) {
  crypto::ensure_init();
  // sodium_malloc(0) is legal but keep a real allocation for uniformity.
  void* p = sodium_malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  sodium_memzero(p, size == 0 ? 1 : size);
  data_ = static_cast<std::uint8_t*>(p);
  size_ = size;
}

Secret::Secret(Secret&& other) noexcept
    : kind_(other.kind_),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) sodium_free(data_);
    kind_ = other.kind_;
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Secret::~Secret() {
  if (data_ != nullptr) sodium_free(data_);
}

Secret Secret::passphrase(std::string_view utf8) {
  Secret s(Kind::kPassphrase, utf8.size());
  if (!utf8.empty()) std::memcpy(s.data_, utf8.data(), utf8.size());
  return s;
}

Result<Secret> Secret::key_file(std::span<const std::uint8_t> contents) {
  if (contents.size() != kKeyBytes) {
    return Error::invalid_argument("key file must hold exactly 32 bytes");
  }
  Secret s(Kind::kKeyFile, kKeyBytes);
  std::memcpy(s.data_, contents.data(), kKeyBytes);
  return s;
}

Result<Secret> Secret::recovery_code(std::string_view text) {
  Secret s(Kind::kRecoveryCode, kKeyBytes);
  // Decode into secure memory directly; a 33rd byte makes decode fail.
  std::optional<std::size_t> n =
      crypto::base32_decode(text, crypto::MutBytes(s.data_, kKeyBytes));
  if (!n || *n != kKeyBytes) {
    return Error::invalid_argument("malformed recovery code");
  }
  return s;
}

std::string Secret::recovery_code_text() const {
  if (kind_ != Kind::kRecoveryCode) std::abort();
  std::string plain = crypto::base32_encode(bytes());
  std::string out;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    if (i > 0 && i % 4 == 0) out.push_back('-');
    out.push_back(plain[i]);
  }
  crypto::wipe(crypto::MutBytes(reinterpret_cast<std::uint8_t*>(plain.data()),
                                plain.size()));
  return out;
}

Secret new_key_file_bytes() {
  Secret s(Secret::Kind::kKeyFile, Secret::kKeyBytes);
  crypto::random_bytes(crypto::MutBytes(s.data_, s.size_));
  return s;
}

Secret new_recovery_code() {
  Secret s(Secret::Kind::kRecoveryCode, Secret::kKeyBytes);
  crypto::random_bytes(crypto::MutBytes(s.data_, s.size_));
  return s;
}


}  // namespace ehr
