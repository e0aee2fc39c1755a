// Sealed files (ehr/seal.h): recipient and identity key files, the streaming
// writer and reader of the sealed format.
//
// Sections: key files; the writer; the reader.
#include "ehr/seal.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "crypto_sodium.h"

namespace ehr {

namespace {

constexpr std::string_view kMagic = "EHR-SEAL";
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kFlagSigned = 1;
constexpr std::size_t kFingerprintBytes = 16;
constexpr std::size_t kSealedKeyBytes = crypto::kKeyBytes + crypto::kBoxSealOverhead;  // 80
constexpr std::size_t kChunkFull = kSealChunkBytes + crypto::kStreamOverhead;
constexpr std::string_view kSignatureContext = "ehr-seal v1 signature\n";
constexpr std::string_view kRecipientTag = "ehr-recipient-v1";
constexpr std::string_view kIdentityTag = "ehr-identity-v1";

static_assert(8 + 1 + 1 + 2 + 4 + kFingerprintBytes + kSealedKeyBytes + crypto::kStreamHeaderBytes ==
              kSealHeaderBytes);
static_assert(crypto::kSignPublicBytes + crypto::kSignatureBytes == kSealTrailerBytes);

crypto::Bytes bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::array<std::uint8_t, kFingerprintBytes> fingerprint(const std::array<std::uint8_t, 32>& key) {
  std::array<std::uint8_t, kFingerprintBytes> out{};
  crypto::Blake2b h(kFingerprintBytes);
  h.update(crypto::Bytes(key));
  h.final(out);
  return out;
}

// --- key files -----------------------------------------------------------------

// The first line of `text` that is neither blank nor a comment, without its
// line end; empty when there is none or more than one.
std::string_view key_line(std::string_view text, bool& several) {
  std::string_view found;
  several = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t at = line.find_first_not_of(" \t");
    if (at == std::string_view::npos || line[at] == '#') continue;
    if (!found.empty()) {
      several = true;
      return {};
    }
    found = line;
  }
  return found;
}

bool parse_hex32(std::string_view hex, crypto::MutBytes out) {
  if (hex.size() != 64) return false;
  std::vector<std::uint8_t> v;
  if (!crypto::from_hex(hex, v) || v.size() != 32) {
    crypto::wipe(v);
    return false;
  }
  std::memcpy(out.data(), v.data(), 32);
  crypto::wipe(v);
  return true;
}

Result<std::string> slurp(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Error::no_input(fmt::format("{}: no such file", path));
    return Error::no_input(fmt::format("{}: cannot read: {}", path, strerror(errno)));
  }
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      crypto::wipe({reinterpret_cast<std::uint8_t*>(buf), sizeof buf});
      crypto::wipe({reinterpret_cast<std::uint8_t*>(data.data()), data.size()});
      return Error::no_input(fmt::format("{}: cannot read: {}", path, strerror(e)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > 65536) {
      ::close(fd);
      crypto::wipe({reinterpret_cast<std::uint8_t*>(data.data()), data.size()});
      return Error::invalid_data(fmt::format("{}: too large for a key file", path));
    }
  }
  ::close(fd);
  crypto::wipe({reinterpret_cast<std::uint8_t*>(buf), sizeof buf});
  return data;
}

void wipe_string(std::string& s) {
  crypto::wipe({reinterpret_cast<std::uint8_t*>(s.data()), s.size()});
  s.clear();
}

}  // namespace

std::string RecipientKey::hex() const { return crypto::to_hex(key); }

std::string RecipientKey::file_text() const {
  return fmt::format(
      "# ehr recipient key of {}: seal exports to it with 'ehr --recipient FILE export ...'\n"
      "{} {} {}\n",
      label, kRecipientTag, hex(), label);
}

bool valid_recipient_label(std::string_view label) {
  if (label.empty() || label.size() > 200) return false;
  if (label.front() == ' ' || label.back() == ' ') return false;
  return std::none_of(label.begin(), label.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool looks_like_recipient_key(std::string_view text) {
  bool several = false;
  std::string_view line = key_line(text, several);
  return line.substr(0, kRecipientTag.size() + 1) == std::string(kRecipientTag) + " ";
}

Result<RecipientKey> parse_recipient_key(std::string_view text, const std::string& name) {
  auto bad = [&](const char* why) {
    return Error::invalid_data(fmt::format("{}: not an ehr recipient key ({}; make one with "
                                           "'ehr key new --recipient -o NAME')",
                                           name, why));
  };
  bool several = false;
  std::string_view line = key_line(text, several);
  if (several) return bad("more than one key line");
  if (line.substr(0, kRecipientTag.size() + 1) != std::string(kRecipientTag) + " ")
    return bad("expected a line \"ehr-recipient-v1 KEY LABEL\"");
  line.remove_prefix(kRecipientTag.size() + 1);
  RecipientKey k;
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos || !parse_hex32(line.substr(0, sp), k.key))
    return bad("the key must be 64 hexadecimal digits followed by a label");
  std::string_view label = line.substr(sp + 1);
  while (!label.empty() && (label.front() == ' ' || label.front() == '\t')) label.remove_prefix(1);
  while (!label.empty() && (label.back() == ' ' || label.back() == '\t')) label.remove_suffix(1);
  if (!valid_recipient_label(label))
    return bad("the label must be 1 to 200 characters without control characters");
  k.label = std::string(label);
  return k;
}

Result<RecipientKey> read_recipient_key(const std::string& path) {
  auto text = slurp(path);
  if (!text.ok()) return text.error();
  return parse_recipient_key(*text, path);
}

Identity Identity::generate(const std::string& label) {
  std::array<std::uint8_t, 32> sk{};
  crypto::random_bytes(sk);
  auto secret = Secret::key_file(sk);
  RecipientKey pub;
  crypto::x25519_base(sk, pub.key);
  crypto::wipe(sk);
  pub.label = label;
  return Identity(std::move(*secret), std::move(pub));
}

Result<Identity> Identity::parse(std::string_view text, const std::string& name) {
  auto bad = [&](const char* why) {
    return Error::invalid_data(fmt::format("{}: not an ehr identity ({}; make one with "
                                           "'ehr key new --recipient -o NAME')",
                                           name, why));
  };
  bool several = false;
  std::string_view line = key_line(text, several);
  if (several) return bad("more than one key line");
  if (line.substr(0, kIdentityTag.size() + 1) != std::string(kIdentityTag) + " ")
    return bad("expected a line \"ehr-identity-v1 KEY\"");
  line.remove_prefix(kIdentityTag.size() + 1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  std::array<std::uint8_t, 32> sk{};
  if (!parse_hex32(line, sk)) return bad("the key must be 64 hexadecimal digits");
  auto secret = Secret::key_file(sk);
  RecipientKey pub;
  crypto::x25519_base(sk, pub.key);
  crypto::wipe(sk);
  return Identity(std::move(*secret), std::move(pub));
}

Result<Identity> Identity::read_file(const std::string& path) {
  auto text = slurp(path);
  if (!text.ok()) return text.error();
  auto id = parse(*text, path);
  wipe_string(*text);
  return id;
}

std::string Identity::file_text() const {
  std::string out = fmt::format(
      "# ehr identity: the secret key for sealed files to {} (public key {})\n"
      "# keep it secret; its public half is in the .pub file beside it\n",
      public_.label.empty() ? "this recipient" : public_.label, public_.hex());
  out += kIdentityTag;
  out += ' ';
  out += crypto::to_hex(secret_.bytes());
  out += '\n';
  return out;
}

bool is_sealed(std::string_view head) { return head.substr(0, kMagic.size()) == kMagic; }

// --- the writer ------------------------------------------------------------------

struct SealWriter::Impl {
  Sink sink;
  crypto::SecretStream stream;
  std::array<std::uint8_t, crypto::kHashBytes> ad{};
  std::string pending;          // plaintext not yet sealed (< one chunk, or exactly one)
  std::vector<std::uint8_t> out;  // one sealed chunk
  bool sign = false;
  crypto::SignKeys keys;
  crypto::Blake2b hash{64};     // of every byte written, for the signature
  std::uint64_t written = 0;
  bool finished = false;

  Status emit(std::string_view bytes) {
    hash.update(bytes);
    written += bytes.size();
    return sink(bytes);
  }

  Status seal_chunk(std::string_view plain, bool final) {
    out.resize(plain.size() + crypto::kStreamOverhead);
    stream.push(bytes_of(plain), ad, final, out);
    return emit({reinterpret_cast<const char*>(out.data()), out.size()});
  }
};

SealWriter::SealWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SealWriter::SealWriter(SealWriter&&) noexcept = default;
SealWriter& SealWriter::operator=(SealWriter&&) noexcept = default;
SealWriter::~SealWriter() {
  if (impl_) wipe_string(impl_->pending);
}

Result<SealWriter> SealWriter::begin(const RecipientKey& to, const Secret* sign_seed, Sink sink) {
  auto impl = std::make_unique<Impl>();
  impl->sink = std::move(sink);
  if (sign_seed != nullptr) {
    if (sign_seed->bytes().size() != 32) return Error::invalid_argument("the signing key must hold 32 bytes");
    impl->keys = crypto::sign_keys_from_seed(sign_seed->bytes());
    impl->sign = true;
  }
  std::array<std::uint8_t, kSealHeaderBytes> h{};
  std::memcpy(h.data(), kMagic.data(), kMagic.size());
  h[8] = kVersion;
  h[9] = impl->sign ? kFlagSigned : 0;
  h[12] = static_cast<std::uint8_t>(kSealChunkBytes >> 24);
  h[13] = static_cast<std::uint8_t>(kSealChunkBytes >> 16);
  h[14] = static_cast<std::uint8_t>(kSealChunkBytes >> 8);
  h[15] = static_cast<std::uint8_t>(kSealChunkBytes);
  auto fp = fingerprint(to.key);
  std::memcpy(h.data() + 16, fp.data(), fp.size());
  crypto::SecureBytes file_key(crypto::kKeyBytes);
  crypto::random_bytes(file_key.span());
  crypto::box_seal(file_key.span(), to.key, crypto::MutBytes(h.data() + 32, kSealedKeyBytes));
  impl->stream.init_push(file_key.span(), crypto::MutBytes(h.data() + 112, crypto::kStreamHeaderBytes));
  impl->ad = crypto::blake2b_256(h);
  EHR_TRY(impl->emit({reinterpret_cast<const char*>(h.data()), h.size()}));
  return SealWriter(std::move(impl));
}

Status SealWriter::write(std::string_view data) {
  Impl& w = *impl_;
  while (!data.empty()) {
    // A full chunk is sealed only when more data follows it: the last
    // chunk, full or not, must carry the final tag.
    if (w.pending.size() == kSealChunkBytes) {
      EHR_TRY(w.seal_chunk(w.pending, false));
      wipe_string(w.pending);
    }
    size_t take = std::min(data.size(), kSealChunkBytes - w.pending.size());
    w.pending.append(data.substr(0, take));
    data.remove_prefix(take);
  }
  return {};
}

Status SealWriter::finish() {
  Impl& w = *impl_;
  w.finished = true;
  EHR_TRY(w.seal_chunk(w.pending, true));
  wipe_string(w.pending);
  if (!w.sign) return {};
  std::array<std::uint8_t, 64> digest{};
  w.hash.update(crypto::Bytes(w.keys.public_key));
  w.hash.final(digest);
  std::string message(kSignatureContext);
  message.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  auto sig = crypto::sign_detached(w.keys, bytes_of(message));
  std::string trailer(reinterpret_cast<const char*>(w.keys.public_key.data()), w.keys.public_key.size());
  trailer.append(reinterpret_cast<const char*>(sig.data()), sig.size());
  w.written += trailer.size();
  return w.sink(trailer);
}

std::uint64_t SealWriter::sealed_bytes() const { return impl_->written; }

// --- the reader ------------------------------------------------------------------

struct SealReader::Impl {
  Source source;
  std::string name;
  crypto::SecretStream stream;
  std::array<std::uint8_t, crypto::kHashBytes> ad{};
  bool is_signed = false;
  std::string required_signer;
  std::string signer;
  crypto::Blake2b hash{64};
  std::vector<std::uint8_t> in;     // sealed bytes read, not yet used
  std::vector<std::uint8_t> plain;  // the current chunk's plaintext
  size_t plain_pos = 0;
  bool eof = false;   // the source is exhausted
  bool done = false;  // the final chunk (and trailer) verified
  std::uint64_t chunks = 0;

  ~Impl() { crypto::wipe(plain); }

  // Reads from the source until `in` holds `want` bytes or the input ends.
  Status fill(size_t want) {
    while (in.size() < want && !eof) {
      size_t have = in.size();
      in.resize(want);
      auto got = source(reinterpret_cast<char*>(in.data() + have), want - have);
      if (!got.ok()) {
        in.resize(have);
        return got.error();
      }
      in.resize(have + *got);
      if (*got == 0) eof = true;
    }
    return {};
  }

  Status next_chunk() {
    size_t trailer = is_signed ? kSealTrailerBytes : 0;
    EHR_TRY(fill(kChunkFull + trailer + 1));
    bool last = in.size() <= kChunkFull + trailer;
    size_t len = last ? (in.size() < trailer ? 0 : in.size() - trailer) : kChunkFull;
    ++chunks;
    if (len < crypto::kStreamOverhead) {
      if (chunks == 1 && in.size() < trailer + crypto::kStreamOverhead)
        return Error::corruption(fmt::format("{}: truncated: the sealed data ends before its first chunk", name));
      return Error::corruption(fmt::format(
          "{}: truncated: the sealed data ends after chunk {} without its final chunk", name, chunks - 1));
    }
    plain.resize(len - crypto::kStreamOverhead);
    plain_pos = 0;
    bool final = false;
    if (!stream.pull(crypto::Bytes(in.data(), len), ad, plain, final)) {
      plain.clear();
      return Error::corruption(
          fmt::format("{}: chunk {} was changed or damaged (it does not authenticate)", name, chunks));
    }
    hash.update(crypto::Bytes(in.data(), len));
    if (final && !last) {
      crypto::wipe(plain);
      plain.clear();
      return Error::corruption(fmt::format("{}: data follows the final chunk", name));
    }
    if (!final && last) {
      crypto::wipe(plain);
      plain.clear();
      return Error::corruption(fmt::format(
          "{}: truncated: the sealed data ends after chunk {} without its final chunk", name, chunks));
    }
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(len));
    if (!last) return {};
    if (is_signed) {
      Status st = verify_trailer();
      if (!st.ok()) {
        crypto::wipe(plain);
        plain.clear();
        return st;
      }
    }
    done = true;
    return {};
  }

  Status verify_trailer() {
    // `in` holds exactly the trailer (last chunk taken above).
    crypto::Bytes pk(in.data(), crypto::kSignPublicBytes);
    crypto::Bytes sig(in.data() + crypto::kSignPublicBytes, crypto::kSignatureBytes);
    std::array<std::uint8_t, 64> digest{};
    hash.update(pk);
    hash.final(digest);
    std::string message(kSignatureContext);
    message.append(reinterpret_cast<const char*>(digest.data()), digest.size());
    if (!crypto::sign_verify(pk, bytes_of(message), sig))
      return Error::corruption(fmt::format("{}: the signature does not verify", name));
    signer = crypto::to_hex(pk);
    if (!required_signer.empty() && signer != required_signer)
      return Error::corruption(fmt::format("{}: signed by key {}, not by the --signer key", name, signer));
    return {};
  }
};

SealReader::SealReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SealReader::SealReader(SealReader&&) noexcept = default;
SealReader& SealReader::operator=(SealReader&&) noexcept = default;
SealReader::~SealReader() = default;

Result<SealReader> SealReader::open(Source source, const std::string& name, const UnsealOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::move(source);
  impl->name = name;
  impl->required_signer = o.signer;
  EHR_TRY(impl->fill(kSealHeaderBytes));
  const auto& h = impl->in;
  if (h.size() < kMagic.size() || !is_sealed({reinterpret_cast<const char*>(h.data()), kMagic.size()}))
    return Error::invalid_data(fmt::format("{}: not a sealed file", name));
  if (h.size() < kSealHeaderBytes)
    return Error::corruption(fmt::format("{}: truncated: the sealed header is incomplete", name));
  if (h[8] != kVersion)
    return Error::invalid_data(fmt::format("{}: sealed file version {} is not supported (this ehr reads version 1)",
                                           name, static_cast<int>(h[8])));
  if ((h[9] & ~kFlagSigned) != 0 || h[10] != 0 || h[11] != 0)
    return Error::corruption(fmt::format("{}: the sealed header has unknown flags (changed or damaged)", name));
  std::uint32_t chunk = (std::uint32_t{h[12]} << 24) | (std::uint32_t{h[13]} << 16) | (std::uint32_t{h[14]} << 8) | h[15];
  if (chunk != kSealChunkBytes)
    return Error::corruption(fmt::format("{}: the sealed header names chunk size {} (changed or damaged)", name, chunk));
  impl->is_signed = (h[9] & kFlagSigned) != 0;
  if (o.identity == nullptr)
    return Error::auth_failed(fmt::format("{}: sealed to a recipient key; give its identity with {} FILE", name,
                                          o.identity_option));
  const RecipientKey& me = o.identity->recipient();
  auto fp = fingerprint(me.key);
  if (!crypto::equal_ct(fp, crypto::Bytes(h.data() + 16, kFingerprintBytes)))
    return Error::auth_failed(
        fmt::format("{}: sealed to another recipient key, not to the identity's ({})", name, me.hex()));
  crypto::SecureBytes file_key(crypto::kKeyBytes);
  if (!crypto::box_seal_open(crypto::Bytes(h.data() + 32, kSealedKeyBytes), me.key, o.identity->secret(),
                             file_key.span()))
    return Error::auth_failed(fmt::format(
        "{}: the file key does not open with the identity (a wrong identity, or the header was changed)", name));
  if (!impl->stream.init_pull(file_key.span(), crypto::Bytes(h.data() + 112, crypto::kStreamHeaderBytes)))
    return Error::corruption(fmt::format("{}: the sealed stream header is damaged", name));
  if (!o.signer.empty() && !impl->is_signed)
    return Error::corruption(fmt::format("{}: not signed, but --signer requires a signature", name));
  impl->ad = crypto::blake2b_256(crypto::Bytes(h.data(), kSealHeaderBytes));
  impl->hash.update(crypto::Bytes(h.data(), kSealHeaderBytes));
  impl->in.erase(impl->in.begin(), impl->in.begin() + kSealHeaderBytes);
  return SealReader(std::move(impl));
}

Result<std::size_t> SealReader::read(char* dst, std::size_t n) {
  Impl& r = *impl_;
  while (r.plain_pos == r.plain.size()) {
    if (r.done) return std::size_t{0};
    EHR_TRY(r.next_chunk());
  }
  size_t k = std::min(n, r.plain.size() - r.plain_pos);
  std::memcpy(dst, r.plain.data() + r.plain_pos, k);
  r.plain_pos += k;
  return k;
}

bool SealReader::is_signed() const { return impl_->is_signed; }
const std::string& SealReader::signer() const { return impl_->signer; }

}  // namespace ehr
