// The only adapter to libsodium (the only file that includes <sodium.h> is
// crypto_sodium.cc). It offers exactly the primitives the encrypted store
// uses, with fixed algorithms:
//
//   - SecureBytes: guarded, mlocked, wiped memory for keys (sodium_malloc)
//   - random bytes (randombytes_buf)
//   - XChaCha20-Poly1305-IETF detached seal/open (page and slot AEAD)
//   - crypto_kdf subkeys of the data key (K_page, K_walck, K_hdr)
//   - BLAKE2b (crypto_generichash), keyed and unkeyed, one-shot or streaming
//   - Argon2id13 (crypto_pwhash) with explicit KdfParams
//   - X25519 (crypto_scalarmult), used by key slots; see store_header.h
//   - sealed boxes (crypto_box_seal) and crypto_secretstream_xchacha20poly1305,
//     used by sealed export files; see ehr/seal.h
//   - RFC 4648 base32 for recovery codes
//   - disable_core_dumps()
//
// Every function initialises libsodium on first use (thread-safe). None of
// them prints or throws, except that allocating SecureBytes throws
// std::bad_alloc when secure memory is exhausted, like any allocation.

#ifndef EHR_CRYPTO_SODIUM_H_
#define EHR_CRYPTO_SODIUM_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ehr/status.h"
#include "ehr/store.h"

namespace ehr::crypto {

using Bytes = std::span<const std::uint8_t>;
using MutBytes = std::span<std::uint8_t>;

inline constexpr std::size_t kKeyBytes = 32;         // every symmetric key
inline constexpr std::size_t kAeadNonceBytes = 24;   // XChaCha20-Poly1305
inline constexpr std::size_t kAeadTagBytes = 16;     // Poly1305
inline constexpr std::size_t kPwhashSaltBytes = 16;  // Argon2id salt
inline constexpr std::size_t kHashBytes = 32;        // BLAKE2b-256
inline constexpr std::size_t kX25519Bytes = 32;      // scalars and points

// Initialises libsodium exactly once. Aborts the process if that fails:
// without a working CSPRNG no operation of ehr is safe.
void ensure_init();

// A fixed-size buffer in sodium_malloc memory: guard pages, mlocked where the
// RLIMIT_MEMLOCK allows, wiped by sodium_free. Move-only. A default-constructed
// or moved-from SecureBytes is empty (size() == 0, data() == nullptr).
class SecureBytes {
 public:
  SecureBytes() = default;
  // Allocates `size` zeroed bytes. Throws std::bad_alloc when out of memory.
  explicit SecureBytes(std::size_t size);
  // Allocates a copy of `bytes`.
  static SecureBytes copy_of(Bytes bytes);

  SecureBytes(SecureBytes&& other) noexcept;
  SecureBytes& operator=(SecureBytes&& other) noexcept;
  SecureBytes(const SecureBytes&) = delete;
  SecureBytes& operator=(const SecureBytes&) = delete;
  ~SecureBytes();

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  MutBytes span() { return {data_, size_}; }
  Bytes span() const { return {data_, size_}; }

 private:
  void release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Fills `out` with bytes from the OS CSPRNG.
void random_bytes(MutBytes out);

// XChaCha20-Poly1305-IETF, detached tag. Encrypts `plaintext` into
// `ciphertext` (same length; the two may alias exactly) and writes the tag.
// REQUIRES: key.size() == 32, nonce.size() == 24, tag.size() == 16,
//           ciphertext.size() == plaintext.size()
void aead_seal(Bytes key, Bytes nonce, Bytes plaintext, Bytes ad,
               MutBytes ciphertext, MutBytes tag);

// Verifies and decrypts. Returns false, leaving `plaintext` zeroed, when the
// tag does not match; nothing about the cause is revealed.
// REQUIRES: as aead_seal, with plaintext.size() == ciphertext.size()
[[nodiscard]] bool aead_open(Bytes key, Bytes nonce, Bytes ciphertext,
                             Bytes tag, Bytes ad, MutBytes plaintext);

// crypto_kdf_derive_from_key: a 32-byte subkey `id` of `key` under the
// 8-character `context` (e.g. "EHRPAGE1").
// REQUIRES: key.size() == 32, context.size() == 8
SecureBytes kdf_subkey(Bytes key, std::uint64_t id, std::string_view context);

// Streaming BLAKE2b (crypto_generichash). Keyless when `key` is empty.
// REQUIRES: 16 <= out_len <= 64; key empty or 16..64 bytes
class Blake2b {
 public:
  explicit Blake2b(std::size_t out_len = kHashBytes, Bytes key = {});
  ~Blake2b();
  // A copy continues from the same state (e.g. one keyed once, copied per
  // message, as the audit chain does); each copy wipes its state when done.
  Blake2b(const Blake2b& other);
  Blake2b& operator=(const Blake2b&) = delete;

  Blake2b& update(Bytes data);
  Blake2b& update(std::string_view data);
  // Writes the digest. REQUIRES: out.size() == out_len; call at most once.
  void final(MutBytes out);

 private:
  alignas(64) unsigned char state_[384];
  std::size_t out_len_;
};

// Streaming SHA-256 (FIPS 180-4), for digests others check with common
// tools (sha256sum): the files of a Bulk Data export. Not libsodium's: its
// SHA-256 is portable code, and this one uses the CPU's SHA extensions when
// it has them (sha256.h), four times as fast on an export's gigabyte.
class Sha256 {
 public:
  // Which compression code: the fastest the CPU has, or (for tests) the
  // portable one.
  enum class Code { kBest, kPortable };
  explicit Sha256(Code code = Code::kBest);
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& update(std::string_view data);
  // The digest as 64 lower-case hex digits. REQUIRES: called at most once.
  std::string final_hex();

 private:
  void (*blocks_)(std::uint32_t state[8], const unsigned char* data, std::size_t blocks);
  std::uint32_t state_[8];
  std::uint64_t length_ = 0;  // bytes hashed
  unsigned char buffer_[64];  // a partial block
  std::size_t buffered_ = 0;
};

// One-shot BLAKE2b-256 of `data`, keyed when `key` is non-empty.
std::array<std::uint8_t, kHashBytes> blake2b_256(Bytes data, Bytes key = {});

// BLAKE2b-256 of `text` as 64 lower-case hex digits (unkeyed).
std::string blake2b_256_hex(std::string_view text);

// Lower-case hex of `data`.
std::string to_hex(Bytes data);
// The bytes of hex text `hex` (either case); false for odd length or a
// non-hex character.
bool from_hex(std::string_view hex, std::vector<std::uint8_t>& out);

// Ed25519 (crypto_sign): keys from a 32-byte seed, detached signatures.
inline constexpr std::size_t kSignPublicBytes = 32;
inline constexpr std::size_t kSignSecretBytes = 64;
inline constexpr std::size_t kSignatureBytes = 64;
struct SignKeys {
  std::array<std::uint8_t, kSignPublicBytes> public_key{};
  SecureBytes secret_key{kSignSecretBytes};
};
// REQUIRES: seed.size() == 32
SignKeys sign_keys_from_seed(Bytes seed);
std::array<std::uint8_t, kSignatureBytes> sign_detached(const SignKeys& keys, Bytes message);
// REQUIRES: public_key.size() == 32; false for any other signature size.
bool sign_verify(Bytes public_key, Bytes message, Bytes signature);

// True when `params` are within what ehr accepts: opslimit 1..32 and memlimit
// from libsodium's minimum (8 KiB) to 4 GiB. The bounds keep a hostile header
// from making an open attempt run for hours.
bool kdf_params_valid(const KdfParams& params);

// Argon2id13 of `passphrase` with `salt` into `out` (32 bytes).
// Returns kInvalidArgument "unsupported KDF parameters" when
// !kdf_params_valid(params) and kInternal "key derivation failed (out of
// memory?)" when libsodium fails.
// REQUIRES: salt.size() == 16, out.size() == 32
Status pwhash(Bytes passphrase, Bytes salt, const KdfParams& params,
              SecureBytes& out);

// X25519: `pk` = the public point of scalar `sk`.
// REQUIRES: both 32 bytes
void x25519_base(Bytes sk, MutBytes pk);

// X25519 shared secret of scalar `sk` and point `pk`. Returns false for a
// low-order point (all-zero result).
// REQUIRES: all 32 bytes
[[nodiscard]] bool x25519(Bytes sk, Bytes pk, MutBytes shared);

// Sealed boxes (crypto_box_seal: ephemeral X25519 + XSalsa20-Poly1305):
// anonymous encryption to a public key.
inline constexpr std::size_t kBoxSealOverhead = 48;
// Writes `plaintext` sealed to `pk` into `out`.
// REQUIRES: pk.size() == 32, out.size() == plaintext.size() + 48
void box_seal(Bytes plaintext, Bytes pk, MutBytes out);
// Opens a sealed box with the key pair (pk, sk) into `out`; false when it
// was not sealed to pk or was changed (`out` is then wiped).
// REQUIRES: pk, sk 32 bytes; sealed.size() >= 48; out.size() == sealed.size() - 48
[[nodiscard]] bool box_seal_open(Bytes sealed, Bytes pk, Bytes sk, MutBytes out);

// crypto_secretstream_xchacha20poly1305: a sequence of authenticated
// messages under one key, each 17 bytes longer than its plaintext, the last
// one tagged final. One object pushes or pulls, not both; the state is
// wiped when it is destroyed.
inline constexpr std::size_t kStreamHeaderBytes = 24;
inline constexpr std::size_t kStreamOverhead = 17;
class SecretStream {
 public:
  SecretStream();
  ~SecretStream();
  SecretStream(const SecretStream&) = delete;
  SecretStream& operator=(const SecretStream&) = delete;

  // Starts pushing under `key`, writing the stream header.
  // REQUIRES: key.size() == 32, header.size() == 24
  void init_push(Bytes key, MutBytes header);
  // Encrypts one message. REQUIRES: out.size() == in.size() + 17
  void push(Bytes in, Bytes ad, bool final, MutBytes out);
  // Starts pulling; false for a header that cannot be used.
  // REQUIRES: key.size() == 32, header.size() == 24
  [[nodiscard]] bool init_pull(Bytes key, Bytes header);
  // Verifies and decrypts one message; false when it does not authenticate.
  // REQUIRES: in.size() >= 17, out.size() == in.size() - 17
  [[nodiscard]] bool pull(Bytes in, Bytes ad, MutBytes out, bool& final);

 private:
  alignas(16) unsigned char state_[64];
};

// RFC 4648 base32 (alphabet A-Z2-7), without '=' padding.
std::string base32_encode(Bytes data);

// Decodes RFC 4648 base32 into `out`. Accepts lower case, ignores '-' and
// ASCII white space, accepts trailing '=' padding, and rejects any other
// character, a length that is impossible in base32, non-zero trailing bits,
// or output longer than `out`. Returns the number of bytes written.
std::optional<std::size_t> base32_decode(std::string_view text, MutBytes out);

// Constant-time equality of two equally long byte strings (false when the
// lengths differ).
bool equal_ct(Bytes a, Bytes b);

// Wipes `buf` in a way the compiler cannot elide.
void wipe(MutBytes buf);

// Makes this process undumpable: prctl(PR_SET_DUMPABLE, 0) and RLIMIT_CORE 0,
// so that keys and decrypted pages do not end up in core files. Returns
// kIoError naming the call that failed.
Status disable_core_dumps();

}  // namespace ehr::crypto

#endif  // EHR_CRYPTO_SODIUM_H_
