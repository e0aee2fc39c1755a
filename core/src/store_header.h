// The ehr header: the first 4096 bytes of an encrypted store, in front of
// SQLite page 1 (encrypted-store.md §0.2, §0.4). Pure data: encoding,
// decoding, slot wrapping and unwrapping. No I/O; sqlite_vfs.cc and
// sqlite_store.cc move the bytes.
//
// Layout. Two copies of 2048 bytes, A at offset 0 and B at 2048. Integers are
// little-endian.
//
//   copy offset  size  field
//      0            8  magic "EHRCRYPT"
//      8            4  format = 1
//     12            4  flags = 0
//     16            8  generation (bumped by every header change)
//     24           16  file_id (random; changes only with the DEK)
//     40            4  page_size = 4096
//     44            4  reserve = 48
//     48            4  page_cipher = 1 (XChaCha20-Poly1305-IETF)
//     52            4  slot_count = 8
//     56           32  wrap_pk: X25519 public key of the DEK epoch (see below)
//     88           40  zero
//    128   8 x 224    key slots
//   1920           64  zero
//   1984           32  hdr_mac = BLAKE2b-256 keyed with K_hdr over [0, 1984)
//   2016           32  hdr_sum = BLAKE2b-256 over [0, 2016) (torn writes only)
//
//   slot offset  size  field
//      0            1  state: 0 empty, 1 active
//      1            1  type: 1 passphrase, 2 key file, 3 recovery code
//      2            1  kdf: 1 Argon2id13 (type 1), 2 BLAKE2b raw (types 2, 3)
//      3            1  user length (<= 32)
//      4            1  label length (<= 48)
//      5            3  zero
//      8            8  opslimit (0 for kdf 2)
//     16            8  memlimit (0 for kdf 2)
//     24           16  salt
//     40           32  slot_pk: X25519 public key of the slot
//     72           24  wrap_nonce
//     96           48  wrapped_dek: XChaCha20-Poly1305(W, DEK) with its tag
//    144           32  user (UTF-8, zero padded): the ehr user of this slot
//    176           48  label (UTF-8, zero padded)
//
// Keys of a slot:
//   KEK     = Argon2id13(passphrase, salt, opslimit, memlimit)       type 1
//           = BLAKE2b-256(key = raw 32 bytes, "ehr-raw-kek" | salt)  types 2, 3
//   slot_sk = BLAKE2b-256(key = KEK, "ehr-slot-x25519")
//   slot_pk = X25519(slot_sk, base point)
//   W       = BLAKE2b-256(key = X25519(slot_sk, wrap_pk),
//                         "ehr-slot-wrap" | wrap_pk | slot_pk)
//   AD      = magic | format | file_id | slot index | slot bytes [0, 72) |
//             user field | label field | wrap_pk
// so flipping any slot parameter, the user, the label, or moving the slot to
// another index or file makes the unwrap fail.
//
// DECISION (rotate_key keeps every slot working without its secret). The
// brief asks that DEK rotation re-wrap "all slots with the same secrets", but
// the rotating user knows only their own secret. A symmetric "slot key"
// (wrap(KEK, slot_key) + wrap(slot_key, DEK)) does not solve it: the rotating
// user cannot read the other slot keys, and any copy of them readable with the
// DEK would let a revoked user who kept the old DEK unwrap the new one, which
// defeats rotation (§0.4 "revoking a passphrase needs DEK rotation"). So each
// slot is an X25519 key pair derived from its KEK, and the DEK is wrapped to
// it ECIES-style:
//   - opening a slot: KEK -> slot_sk -> X25519(slot_sk, wrap_pk) -> W -> DEK;
//   - adding or changing a slot (store open, DEK known): the new slot_sk
//     gives W against the current wrap_pk, no other secret needed;
//   - rotation: a fresh ephemeral key pair (e, wrap_pk') for the new DEK
//     epoch; each slot gets W_i = f(X25519(e, slot_pk_i)); e is wiped. Old
//     slot secrets keep working, and nobody holding only the old DEK or an old
//     header learns the new DEK.
// The cost is 32 + 32 bytes per header (wrap_pk) and slot (slot_pk) and one
// X25519 per unwrap (about 50 us).
//
// Choosing a copy (§0.2): a copy counts only with a valid hdr_sum and sane
// fields. Take the valid copy with the highest generation, unwrap a slot, then
// verify hdr_mac with K_hdr of that DEK. If the MAC fails, try the other valid
// copy. If no slot of the newest valid copy unwraps, the answer is "wrong
// passphrase or key": an older copy is never consulted for that, so a removed
// or changed passphrase cannot come back through a stale copy. Updates write
// the new generation to the inactive copy, sync, then mirror it into the other
// copy and sync (see sqlite_store.cc), so after an update both copies are new.

#ifndef EHR_STORE_HEADER_H_
#define EHR_STORE_HEADER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto_sodium.h"
#include "ehr/status.h"
#include "ehr/store.h"

namespace ehr::store {

inline constexpr std::size_t kHeaderSize = 4096;
inline constexpr std::size_t kCopySize = 2048;
inline constexpr std::size_t kSlotCount = 8;
inline constexpr std::size_t kSlotSize = 224;
inline constexpr std::size_t kSlotsOffset = 128;
inline constexpr std::size_t kMacOffset = 1984;
inline constexpr std::size_t kSumOffset = 2016;
inline constexpr std::size_t kUserMax = 32;
inline constexpr std::size_t kLabelMax = 48;
inline constexpr std::size_t kFileIdBytes = 16;
inline constexpr std::uint32_t kFormat = 1;
inline constexpr std::uint32_t kPageSize = 4096;
inline constexpr std::uint32_t kReserve = 48;
inline constexpr std::uint32_t kCipherXChaCha20Poly1305 = 1;
inline constexpr char kMagic[8] = {'E', 'H', 'R', 'C', 'R', 'Y', 'P', 'T'};

// Subkeys of the DEK (crypto_kdf ids and contexts, §0.3).
inline constexpr std::uint64_t kPageKeyId = 1;   // "EHRPAGE1"
inline constexpr std::uint64_t kWalckKeyId = 2;  // "EHRWALCK"
inline constexpr std::uint64_t kHdrKeyId = 3;    // "EHRHDRMC"

using FileId = std::array<std::uint8_t, kFileIdBytes>;
using CopyBytes = std::array<std::uint8_t, kCopySize>;
using HeaderBytes = std::array<std::uint8_t, kHeaderSize>;

using ehr::SlotType;

enum class SlotKdf : std::uint8_t { kArgon2id13 = 1, kBlake2bRaw = 2 };

struct Slot {
  bool active = false;
  SlotType type = SlotType::kPassphrase;
  SlotKdf kdf = SlotKdf::kArgon2id13;
  KdfParams kdf_params{0, 0};  // {0, 0} unless kdf == kArgon2id13
  std::array<std::uint8_t, 16> salt{};
  std::array<std::uint8_t, 32> slot_pk{};
  std::array<std::uint8_t, 24> wrap_nonce{};
  std::array<std::uint8_t, 48> wrapped_dek{};
  std::string user;   // at most kUserMax bytes
  std::string label;  // at most kLabelMax bytes

  friend bool operator==(const Slot&, const Slot&) = default;
};

struct Header {
  std::uint64_t generation = 0;
  FileId file_id{};
  std::array<std::uint8_t, 32> wrap_pk{};
  std::array<Slot, kSlotCount> slots{};
};

// One decoded copy plus its raw bytes (the MAC is checked over those).
struct DecodedCopy {
  Header header;
  CopyBytes raw{};
};

// The DEK's subkeys, each in secure memory.
struct Subkeys {
  crypto::SecureBytes page;   // K_page
  crypto::SecureBytes walck;  // K_walck
  crypto::SecureBytes hdr;    // K_hdr
};
Subkeys derive_subkeys(crypto::Bytes dek);

// The slot type that `kind` of secret may open.
SlotType slot_type_for(Secret::Kind kind);

// Encodes `header` as one 2048-byte copy with hdr_mac (keyed with `k_hdr`)
// and hdr_sum filled in.
// REQUIRES: user/label lengths within limits (checked by make_slot)
CopyBytes encode_copy(const Header& header, crypto::Bytes k_hdr);

// Decodes one copy. Never reads outside `bytes`, for any content.
// Errors (all kCorruption): "damaged header copy" (hdr_sum mismatch),
// "not an ehr file" (magic), "unsupported format version <n>",
// "unsupported page layout" (page size, reserve, cipher, slot count),
// "malformed key slot <i>".
// REQUIRES: bytes.size() == kCopySize
Result<DecodedCopy> decode_copy(crypto::Bytes bytes);

// True when `copy` carries a valid hdr_mac under `k_hdr`.
bool verify_mac(const DecodedCopy& copy, crypto::Bytes k_hdr);

// True when the 4096 bytes start with the ehr magic in either copy (a cheap
// "is this an ehr file at all" test for error messages).
bool has_magic(crypto::Bytes header_bytes);

// The result of opening a header with a secret.
struct Unlocked {
  Header header;
  crypto::SecureBytes dek;
  int copy = 0;  // 0 = A, 1 = B: the copy that authenticated
  int slot = 0;  // index of the slot that opened
};

// Opens the 4096-byte header with `secret`, following the rules at the top
// of this file. When `user` is non-empty, only slots of that user are tried.
// Errors:
//   kCorruption "not an ehr file"      no copy carries the magic
//   kCorruption "damaged header"       no copy decodes (both torn or bad)
//   kAuthFailed "wrong passphrase or key"  no slot of the newest copy opens
//   kCorruption "header authentication failed"  a slot opened but no copy's
//                                      MAC verifies with that DEK
//   kInvalidArgument / kInternal from the KDF
// REQUIRES: header_bytes.size() == kHeaderSize
Result<Unlocked> unlock(crypto::Bytes header_bytes, const Secret& secret,
                        std::string_view user);

// Finds a copy that belongs to `file_id` and authenticates under `k_hdr`;
// prefers the highest generation. Used by the VFS at xOpen and by slot
// operations to re-read the header under the write lock.
std::optional<DecodedCopy> find_authentic_copy(crypto::Bytes header_bytes,
                                               const FileId& file_id,
                                               crypto::Bytes k_hdr,
                                               int* copy_index = nullptr);

// What a new slot should look like (the public SlotOptions).
using SlotSpec = SlotOptions;

// Builds an active slot for `secret` at `index` of `header` wrapping `dek`
// under the header's current wrap_pk. Errors: kInvalidArgument "user name too
// long (max 32 bytes)", "label too long (max 48 bytes)", "empty passphrase",
// "unsupported KDF parameters"; kInternal from the KDF.
Result<Slot> make_slot(const Header& header, std::size_t index,
                       const SlotSpec& spec, const Secret& secret,
                       crypto::Bytes dek);

// A brand-new header (generation 1, random file_id, DEK and wrap key pair)
// holding one slot for `secret` at index 0.
struct NewHeader {
  Header header;
  crypto::SecureBytes dek;
};
Result<NewHeader> new_header(const SlotSpec& spec, const Secret& secret);

// The header of a DEK rotation: a new DEK, a new file_id and wrap key pair,
// generation 1, and every active slot of `old` kept at its index with the
// same user, label, KDF parameters, salt and slot_pk, its wrapped_dek now
// holding the new DEK. The old secrets keep opening their slots.
Result<NewHeader> rotated_header(const Header& old);

// Number of active slots.
std::size_t active_slot_count(const Header& header);

// Lowest free slot index, or nullopt when all 8 are used.
std::optional<std::size_t> free_slot(const Header& header);

}  // namespace ehr::store

#endif  // EHR_STORE_HEADER_H_
