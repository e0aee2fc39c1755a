// Sealed files: encrypted hand-over of exported data to a receiving facility
// (ehr export to a recipient key, ehr import --identity). A file is sealed to
// one recipient's X25519 public key, can be read only with the matching
// identity (secret key), streams in constant memory whatever its size, and
// detects any changed, dropped, reordered or appended byte. It may carry an
// Ed25519 signature of the sender.
//
// Key files (text, '#' lines and blank lines ignored):
//   recipient  NAME.pub   "ehr-recipient-v1 <64 hex X25519 public key> <label>"
//              The label (1..200 bytes, no control characters) names the
//              receiving party; it is what the audit trail records as the
//              recipient of a disclosure. Not secret.
//   identity   NAME       "ehr-identity-v1 <64 hex X25519 secret key>"
//              Secret: written mode 0600, never overwritten.
//
// The sealed file format, version 1 (integers big-endian):
//   offset size
//      0     8   magic "EHR-SEAL"
//      8     1   version 1
//      9     1   flags: bit 0 = signed (a trailer follows); other bits 0
//     10     2   reserved, 0
//     12     4   chunk size C: 65536
//     16    16   recipient fingerprint: BLAKE2b-128 of the recipient's
//                public key (says "sealed to another key" before trying)
//     32    80   the file key (32 random bytes) in a sealed box
//                (crypto_box_seal) to the recipient's public key
//    112    24   crypto_secretstream_xchacha20poly1305 header
//    136     ... chunks: crypto_secretstream_xchacha20poly1305 messages
//                under the file key, each C plaintext bytes + 17, except the
//                last, which holds 0..C bytes and alone carries the FINAL
//                tag (so a dropped tail is detected; an empty file is one
//                empty final chunk). Every chunk's associated data is the
//                BLAKE2b-256 of the 136 header bytes, so no header byte can
//                change unnoticed.
//   with flag bit 0, a 96-byte trailer after the last chunk:
//           32   the signer's Ed25519 public key
//           64   Ed25519 signature of "ehr-seal v1 signature\n" followed by
//                the BLAKE2b-512 of every byte before the trailer and the
//                signer's public key
//   Nothing may follow.
// Sealed files are named with kSealSuffix appended (Patient.001.ndjson.ehrenc).
//
// Thread safety: a SealWriter or SealReader is used by one thread at a time.

#ifndef EHR_SEAL_H_
#define EHR_SEAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <memory>
#include <string>
#include <string_view>

#include "ehr/status.h"
#include "ehr/store.h"

namespace ehr {

inline constexpr std::string_view kSealSuffix = ".ehrenc";
inline constexpr std::size_t kSealChunkBytes = 65536;
inline constexpr std::size_t kSealHeaderBytes = 136;
inline constexpr std::size_t kSealTrailerBytes = 96;

// A recipient's public key and label.
struct RecipientKey {
  std::array<std::uint8_t, 32> key{};
  std::string label;
  // The key as 64 lower-case hex digits.
  std::string hex() const;
  // The content of a NAME.pub file (a comment line and the key line).
  std::string file_text() const;
};

// Parses the text of a recipient key file; `name` (the path) is used in
// messages. Errors: kInvalidData "NAME: not an ehr recipient key (...)".
Result<RecipientKey> parse_recipient_key(std::string_view text, const std::string& name);
// Reads and parses a recipient key file. Errors: kNoInput "PATH: no such
// file" / "PATH: cannot read: ..."; kInvalidData as parse_recipient_key.
Result<RecipientKey> read_recipient_key(const std::string& path);
// Whether `text` looks like a recipient key file (its first non-comment line
// starts with "ehr-recipient-v1 "); says nothing about its validity.
bool looks_like_recipient_key(std::string_view text);

// A recipient's secret key (in guarded memory) with its public key.
// Move-only.
class Identity {
 public:
  // A new random key pair labelled `label`.
  // REQUIRES: label is a valid label (see parse_recipient_key).
  static Identity generate(const std::string& label);
  // Parses the text of an identity file. Errors: kInvalidData "NAME: not an
  // ehr identity (...)" (never quoting the content).
  static Result<Identity> parse(std::string_view text, const std::string& name);
  // Reads an identity file. Errors: kNoInput, kInvalidData.
  static Result<Identity> read_file(const std::string& path);

  // The public key; its label is the one given to generate() ("" when read).
  const RecipientKey& recipient() const { return public_; }
  // The secret key bytes (32). Valid while the Identity lives.
  std::span<const std::uint8_t> secret() const { return secret_.bytes(); }
  // The content of an identity file. Secret: wipe it after writing.
  std::string file_text() const;

 private:
  Identity(Secret secret, RecipientKey pub) : secret_(std::move(secret)), public_(std::move(pub)) {}
  Secret secret_;
  RecipientKey public_;
};

// Whether a label is acceptable: 1..200 bytes, no control characters, no
// leading or trailing space.
bool valid_recipient_label(std::string_view label);

// Whether `head` (the first bytes of a file) starts with the sealed magic.
bool is_sealed(std::string_view head);

// Encrypts a stream of bytes to a recipient, writing the sealed file through
// `sink` as it goes (at most about one chunk is held).
class SealWriter {
 public:
  using Sink = std::function<Status(std::string_view)>;

  // Starts a sealed file to `to`, signed with `sign_seed` (the 32-byte seed
  // of a signing key file, as ehr/audit.h signing_public_key takes) unless
  // it is nullptr, and writes its header.
  // Errors: kInvalidArgument "the signing key must hold 32 bytes"; the
  // sink's errors.
  static Result<SealWriter> begin(const RecipientKey& to, const Secret* sign_seed, Sink sink);

  SealWriter(SealWriter&&) noexcept;
  SealWriter& operator=(SealWriter&&) noexcept;
  ~SealWriter();

  // Appends plaintext. Errors: the sink's. REQUIRES: finish() not called.
  Status write(std::string_view data);
  // Writes the last chunk (and the signature); the file is then complete.
  // Errors: the sink's. REQUIRES: called once.
  Status finish();
  // Bytes given to the sink so far.
  std::uint64_t sealed_bytes() const;

 private:
  struct Impl;
  explicit SealWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct UnsealOptions {
  // The identity to open with; nullptr makes every sealed file an error.
  const Identity* identity = nullptr;
  // When non-empty (64 hex): the file must be signed by this Ed25519 public
  // key. Empty: a signature, if present, is verified against the key it
  // names (which proves only that the file is whole).
  std::string signer;
  // The option names used in hints ("--identity", "--signer").
  std::string identity_option = "--identity";
};

// Decrypts a sealed file read through `source`, handing out plaintext only
// after the chunk holding it has authenticated. The end (read() returning
// 0) is reported only after the final chunk, and any signature, verified.
class SealReader {
 public:
  // Reads up to n bytes into dst; 0 at the end of the input.
  using Source = std::function<Result<std::size_t>(char* dst, std::size_t n)>;

  // Reads and checks the header. `name` names the file in messages.
  // Errors: kInvalidData "NAME: not a sealed file" / "NAME: sealed file
  // version V is not supported" / bad flags or chunk size; kAuthFailed
  // "NAME: sealed to a recipient key; give its identity with --identity
  // FILE" (no identity), "NAME: sealed to another recipient key, not to
  // identity's" (fingerprint), "NAME: the file key does not open with the
  // identity (wrong identity, or the header was changed)"; kCorruption
  // "NAME: not signed, but --signer requires a signature"; source errors.
  static Result<SealReader> open(Source source, const std::string& name, const UnsealOptions& options);

  SealReader(SealReader&&) noexcept;
  SealReader& operator=(SealReader&&) noexcept;
  ~SealReader();

  // Reads up to n plaintext bytes; 0 at the verified end. Errors
  // (kCorruption, naming the file and chunk, 1-based): "NAME: chunk N was
  // changed or damaged (it does not authenticate)", "NAME: truncated: the
  // sealed data ends after chunk N without its final chunk", "NAME: data
  // follows the final chunk", "NAME: the signature does not verify",
  // "NAME: signed by key K, not by the --signer key"; source errors.
  Result<std::size_t> read(char* dst, std::size_t n);

  // Whether the file carries a signature, and (after the end) its key (hex).
  bool is_signed() const;
  const std::string& signer() const;

 private:
  struct Impl;
  explicit SealReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ehr

#endif  // EHR_SEAL_H_
