// Tests of sealed files (core/src/seal.cc, ehr/seal.h): key files, round
// trips at the chunk boundaries, and that every change to a sealed file is
// refused with a message naming the file.

#include "ehr/seal.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "crypto_sodium.h"

namespace ehr {
namespace {

std::string seal(const RecipientKey& to, std::string_view plain, const Secret* sign = nullptr,
                 size_t piece = 0) {
  std::string out;
  auto w = SealWriter::begin(to, sign, [&](std::string_view b) -> Status {
    out.append(b);
    return {};
  });
  REQUIRE(w.ok());
  if (piece == 0) {
    REQUIRE(w->write(plain).ok());
  } else {
    for (size_t at = 0; at < plain.size(); at += piece) REQUIRE(w->write(plain.substr(at, piece)).ok());
  }
  REQUIRE(w->finish().ok());
  CHECK(w->sealed_bytes() == out.size());
  return out;
}

// Opens `sealed` and reads it all (in `piece`-byte reads); the error text
// when anything fails.
Result<std::string> unseal(std::string_view sealed, const UnsealOptions& o, size_t piece = 4096) {
  size_t at = 0;
  auto r = SealReader::open(
      [&](char* dst, size_t n) -> Result<size_t> {
        size_t k = std::min(n, sealed.size() - at);
        std::memcpy(dst, sealed.data() + at, k);
        at += k;
        return k;
      },
      "f.ehrenc", o);
  if (!r.ok()) return r.error();
  std::string out;
  std::string buf(piece, '\0');
  for (;;) {
    auto n = r->read(buf.data(), buf.size());
    if (!n.ok()) return n.error();
    if (*n == 0) break;
    out.append(buf.data(), *n);
  }
  return out;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 977) & 0xff);
  return s;
}

// The public key of a signing seed, hex (as ehr/audit.h signing_public_key).
Result<std::string> signing_public_key(const Secret& seed) {
  return crypto::to_hex(crypto::sign_keys_from_seed(seed.bytes()).public_key);
}

Secret signing_seed(std::uint8_t fill) {
  std::array<std::uint8_t, 32> b{};
  b.fill(fill);
  auto seed = Secret::key_file(b);
  REQUIRE(seed.ok());
  return std::move(*seed);
}

TEST_SUITE("seal") {

TEST_CASE("round trips sizes around the chunk boundaries, written and read in any pieces") {
  Identity id = Identity::generate("St. Elsewhere");
  UnsealOptions o;
  o.identity = &id;
  for (size_t n : {size_t{0}, size_t{1}, kSealChunkBytes - 1, kSealChunkBytes, kSealChunkBytes + 1,
                   2 * kSealChunkBytes, size_t{3} * 1024 * 1024 + 17}) {
    CAPTURE(n);
    std::string plain = pattern(n);
    std::string sealed = seal(id.recipient(), plain, nullptr, n > 100000 ? 7000 : 0);
    size_t chunks = n / kSealChunkBytes + 1 - (n > 0 && n % kSealChunkBytes == 0 ? 1 : 0);
    CHECK(sealed.size() == kSealHeaderBytes + n + 17 * chunks);
    CHECK(is_sealed(sealed));
    auto back = unseal(sealed, o, n > 100000 ? 5000 : 4096);
    REQUIRE(back.ok());
    CHECK(*back == plain);
  }
}

TEST_CASE("two seals of the same data differ (fresh file key)") {
  Identity id = Identity::generate("lab");
  CHECK(seal(id.recipient(), "abc") != seal(id.recipient(), "abc"));
}

TEST_CASE("a sealed file needs the identity, and the right one") {
  Identity id = Identity::generate("lab");
  Identity other = Identity::generate("other");
  std::string sealed = seal(id.recipient(), "{\"resourceType\":\"Patient\"}\n");
  UnsealOptions none;
  auto r = unseal(sealed, none);
  REQUIRE(!r.ok());
  CHECK(r.error().code() == ErrorCode::kAuthFailed);
  CHECK(r.error().message() == "f.ehrenc: sealed to a recipient key; give its identity with --identity FILE");
  UnsealOptions wrong;
  wrong.identity = &other;
  r = unseal(sealed, wrong);
  REQUIRE(!r.ok());
  CHECK(r.error().code() == ErrorCode::kAuthFailed);
  CHECK(r.error().message() == "f.ehrenc: sealed to another recipient key, not to the identity's (" +
                                   other.recipient().hex() + ")");
  CHECK(sealed.find("Patient") == std::string::npos);
}

TEST_CASE("every changed byte of a small sealed file is refused") {
  Identity id = Identity::generate("lab");
  UnsealOptions o;
  o.identity = &id;
  for (bool signed_file : {false, true}) {
    CAPTURE(signed_file);
    Secret seed = signing_seed(7);
    std::string sealed = seal(id.recipient(), "hello, sealed world\n", signed_file ? &seed : nullptr);
    REQUIRE(unseal(sealed, o).ok());
    for (size_t i = 0; i < sealed.size(); ++i) {
      for (std::uint8_t bit : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
        std::string bad = sealed;
        bad[i] = static_cast<char>(bad[i] ^ bit);
        auto r = unseal(bad, o);
        CAPTURE(i);
        CHECK(!r.ok());
        if (!r.ok()) CHECK(r.error().message().rfind("f.ehrenc: ", 0) == 0);
      }
    }
  }
}

TEST_CASE("the messages for a changed chunk, header byte and sealed key") {
  Identity id = Identity::generate("lab");
  UnsealOptions o;
  o.identity = &id;
  std::string sealed = seal(id.recipient(), pattern(kSealChunkBytes + 10));
  auto flip = [&](size_t i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 1);
    return unseal(bad, o);
  };
  auto r = flip(kSealHeaderBytes + 5);
  CHECK(r.error().code() == ErrorCode::kCorruption);
  CHECK(r.error().message() == "f.ehrenc: chunk 1 was changed or damaged (it does not authenticate)");
  r = flip(kSealHeaderBytes + kSealChunkBytes + 17 + 3);
  CHECK(r.error().message() == "f.ehrenc: chunk 2 was changed or damaged (it does not authenticate)");
  r = flip(120);  // the secretstream header: chunk 1 fails
  CHECK(r.error().message() == "f.ehrenc: chunk 1 was changed or damaged (it does not authenticate)");
  r = flip(40);  // the sealed file key
  CHECK(r.error().code() == ErrorCode::kAuthFailed);
  CHECK(r.error().message() ==
        "f.ehrenc: the file key does not open with the identity (a wrong identity, or the header was changed)");
  r = flip(8);
  CHECK(r.error().code() == ErrorCode::kInvalidData);
  CHECK(r.error().message() == "f.ehrenc: sealed file version 0 is not supported (this ehr reads version 1)");
  r = flip(0);
  CHECK(r.error().message() == "f.ehrenc: not a sealed file");
}

TEST_CASE("a dropped last chunk, a cut, and appended data are refused") {
  Identity id = Identity::generate("lab");
  UnsealOptions o;
  o.identity = &id;
  std::string sealed = seal(id.recipient(), pattern(2 * kSealChunkBytes + 100));
  size_t full = kSealChunkBytes + 17;
  auto r = unseal(sealed.substr(0, kSealHeaderBytes + 2 * full), o);
  CHECK(r.error().code() == ErrorCode::kCorruption);
  CHECK(r.error().message() == "f.ehrenc: truncated: the sealed data ends after chunk 2 without its final chunk");
  r = unseal(sealed.substr(0, sealed.size() - 1), o);
  CHECK(r.error().message() == "f.ehrenc: chunk 3 was changed or damaged (it does not authenticate)");
  r = unseal(sealed.substr(0, kSealHeaderBytes), o);
  CHECK(r.error().message() == "f.ehrenc: truncated: the sealed data ends before its first chunk");
  r = unseal(sealed.substr(0, 100), o);
  CHECK(r.error().message() == "f.ehrenc: truncated: the sealed header is incomplete");
  r = unseal(sealed + "x", o);
  CHECK(!r.ok());
  r = unseal(sealed + std::string(kSealChunkBytes + 40, 'x'), o);
  CHECK(r.error().message() == "f.ehrenc: chunk 3 was changed or damaged (it does not authenticate)");
  // A full-size final chunk, then more.
  std::string whole = seal(id.recipient(), pattern(2 * kSealChunkBytes));
  REQUIRE(unseal(whole, o).ok());
  r = unseal(whole + "x", o);
  CHECK(r.error().message() == "f.ehrenc: data follows the final chunk");
  // An empty file whose final chunk is followed by a copy of itself.
  std::string empty = seal(id.recipient(), "");
  r = unseal(empty + empty.substr(kSealHeaderBytes), o);
  CHECK(!r.ok());
}

TEST_CASE("signatures: verified against the --signer key, refused when wrong or missing") {
  Identity id = Identity::generate("lab");
  Secret seed = signing_seed(1);
  std::string key = *signing_public_key(seed);
  std::string sealed = seal(id.recipient(), pattern(1000), &seed);
  CHECK(sealed.size() == kSealHeaderBytes + 1000 + 17 + kSealTrailerBytes);
  UnsealOptions o;
  o.identity = &id;
  o.signer = key;
  CHECK(unseal(sealed, o).ok());
  UnsealOptions any;
  any.identity = &id;
  CHECK(unseal(sealed, any).ok());  // verified against the key it names

  Secret other_seed = signing_seed(2);
  UnsealOptions wrong = o;
  wrong.signer = *signing_public_key(other_seed);
  auto r = unseal(sealed, wrong);
  CHECK(r.error().code() == ErrorCode::kCorruption);
  CHECK(r.error().message() == "f.ehrenc: signed by key " + key + ", not by the --signer key");

  // Re-signed by someone else: verifies, but is not the required signer.
  std::string resigned = seal(id.recipient(), pattern(1000), &other_seed);
  r = unseal(resigned, o);
  CHECK(r.error().message() == "f.ehrenc: signed by key " + wrong.signer + ", not by the --signer key");

  std::string unsigned_file = seal(id.recipient(), pattern(1000));
  r = unseal(unsigned_file, o);
  CHECK(r.error().message() == "f.ehrenc: not signed, but --signer requires a signature");

  std::string bad = sealed;
  bad[bad.size() - 1] = static_cast<char>(bad[bad.size() - 1] ^ 1);
  r = unseal(bad, any);
  CHECK(r.error().message() == "f.ehrenc: the signature does not verify");
  // The trailer's key swapped for the other signer's: the signature fails.
  bad = sealed;
  auto other_pub = signing_public_key(other_seed);
  std::vector<std::uint8_t> pk;
  for (size_t i = 0; i < 32; ++i) pk.push_back(static_cast<std::uint8_t>(std::stoi(other_pub->substr(2 * i, 2), nullptr, 16)));
  std::memcpy(bad.data() + bad.size() - kSealTrailerBytes, pk.data(), 32);
  r = unseal(bad, any);
  CHECK(r.error().message() == "f.ehrenc: the signature does not verify");
  // A dropped trailer.
  r = unseal(sealed.substr(0, sealed.size() - kSealTrailerBytes), any);
  CHECK(!r.ok());
}

TEST_CASE("recipient and identity key files round trip; malformed ones are refused") {
  Identity id = Identity::generate("St. Elsewhere Hospital");
  std::string pub_text = id.recipient().file_text();
  CHECK(looks_like_recipient_key(pub_text));
  auto pub = parse_recipient_key(pub_text, "k.pub");
  REQUIRE(pub.ok());
  CHECK(pub->label == "St. Elsewhere Hospital");
  CHECK(pub->key == id.recipient().key);
  std::string id_text = id.file_text();
  CHECK(!looks_like_recipient_key(id_text));
  auto back = Identity::parse(id_text, "k");
  REQUIRE(back.ok());
  CHECK(back->recipient().key == id.recipient().key);
  CHECK(id_text.find(id.recipient().hex()) != std::string::npos);  // the public key, in a comment

  struct Case {
    const char* text;
    const char* message;
  };
  const std::string hex(64, 'a');
  const std::string tail = "; make one with 'ehr key new --recipient -o NAME')";
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"", "expected a line \"ehr-recipient-v1 KEY LABEL\""},
           {"hello\n", "expected a line \"ehr-recipient-v1 KEY LABEL\""},
           {"ehr-recipient-v1 " + hex + "\n", "the key must be 64 hexadecimal digits followed by a label"},
           {"ehr-recipient-v1 " + hex.substr(1) + " lab\n", "the key must be 64 hexadecimal digits followed by a label"},
           {"ehr-recipient-v1 " + hex + " \x01x\n", "the label must be 1 to 200 characters without control characters"},
           {"ehr-recipient-v1 " + hex + " a\nehr-recipient-v1 " + hex + " b\n", "more than one key line"},
       }) {
    CAPTURE(text);
    auto r = parse_recipient_key(text, "k.pub");
    REQUIRE(!r.ok());
    CHECK(r.error().code() == ErrorCode::kInvalidData);
    CHECK(r.error().message() == "k.pub: not an ehr recipient key (" + why + tail);
  }
  auto r = Identity::parse(pub_text, "k");
  REQUIRE(!r.ok());
  CHECK(r.error().message() == "k: not an ehr identity (expected a line \"ehr-identity-v1 KEY\"" + tail);
  r = Identity::parse("ehr-identity-v1 zz\n", "k");
  CHECK(r.error().message() == "k: not an ehr identity (the key must be 64 hexadecimal digits" + tail);
  auto missing = read_recipient_key("/nonexistent/k.pub");
  CHECK(missing.error().code() == ErrorCode::kNoInput);
  CHECK(missing.error().message() == "/nonexistent/k.pub: no such file");
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
