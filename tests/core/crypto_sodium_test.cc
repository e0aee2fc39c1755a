// Tests of the libsodium adapter (core/src/crypto_sodium.h) and of the
// secure-memory parts of the public Secret and KdfParams.

#include "crypto_sodium.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "ehr/store.h"
#include "sha256.h"

namespace ehr::crypto {
namespace {

Bytes as_bytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

std::string decode_to_string(std::string_view text) {
  std::array<std::uint8_t, 64> out{};
  auto n = base32_decode(text, out);
  if (!n) return "<invalid>";
  return std::string(reinterpret_cast<const char*>(out.data()), *n);
}

TEST_SUITE("crypto_sodium") {

TEST_CASE("streaming SHA-256 matches the FIPS 180-2 vectors, however the input is split") {
  CHECK(Sha256().final_hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256().update("abc").final_hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 split;
  split.update("abcdbcdecdefdefgefghfghighij").update("hijkijkljklmklmnlmnomnopnopq");
  CHECK(split.final_hex() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("SHA-256: the SHA-NI and portable code agree with libsodium at every length and split") {
  // Lengths across the padding boundaries (55, 56, 63, 64, 119, 120) and
  // several blocks, split at random; and a million 'a's (FIPS 180-2).
  std::vector<unsigned char> data(1000);
  randombytes_buf(data.data(), data.size());
  std::uint32_t seed = 7;
  auto next = [&seed](std::size_t n) { seed = seed * 1103515245u + 12345u; return (seed >> 8) % (n + 1); };
  for (std::size_t len = 0; len <= data.size(); len += len < 200 ? 1 : 97) {
    CAPTURE(len);
    unsigned char ref[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(ref, data.data(), len);
    const std::string expected = to_hex(Bytes(ref, sizeof(ref)));
    for (auto code : {Sha256::Code::kBest, Sha256::Code::kPortable}) {
      Sha256 h(code);
      for (std::size_t at = 0; at < len;) {
        std::size_t n = std::min(len - at, next(130));
        h.update(std::string_view(reinterpret_cast<const char*>(data.data()) + at, n));
        at += n;
      }
      CHECK(h.final_hex() == expected);
    }
  }
  const std::string million(1000000, 'a');
  CHECK(Sha256().update(million).final_hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(Sha256(Sha256::Code::kPortable).update(million).final_hex() ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  const std::string hardware = detail::sha256_blocks_hardware() != nullptr ? "SHA-NI" : "none on this CPU";
  MESSAGE("SHA-256 hardware code: " << hardware);
}

TEST_CASE("base32 matches the RFC 4648 test vectors") {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},           {"f", "MY"},          {"fo", "MZXQ"},
      {"foo", "MZXW6"},   {"foob", "MZXW6YQ"},  {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CAPTURE(plain);
    CHECK(base32_encode(as_bytes(plain)) == encoded);
    CHECK(decode_to_string(encoded) == plain);
  }
}

TEST_CASE("base32 decoding accepts padding, lower case and separators") {
  CHECK(decode_to_string("MZXW6YTBOI======") == "foobar");
  CHECK(decode_to_string("mzxw-6ytb oi") == "foobar");
}

TEST_CASE("base32 decoding rejects junk, bad lengths and trailing bits") {
  CHECK(decode_to_string("M") == "<invalid>");        // 1 symbol: impossible
  CHECK(decode_to_string("MZX") == "<invalid>");      // 3 symbols: impossible
  CHECK(decode_to_string("MZ") == "<invalid>");       // non-zero trailing bits
  CHECK(decode_to_string("MZXW6!") == "<invalid>");   // not in the alphabet
  CHECK(decode_to_string("MY=A") == "<invalid>");     // data after padding
  std::array<std::uint8_t, 2> small{};
  CHECK_FALSE(base32_decode("MZXW6", small).has_value());  // output too long
}

TEST_CASE("a recovery code round-trips through its display text") {
  Secret code = new_recovery_code();
  REQUIRE(code.kind() == Secret::Kind::kRecoveryCode);
  std::string text = code.recovery_code_text();
  CHECK(text.size() == 52 + 12);
  CHECK(text[4] == '-');
  Result<Secret> again = Secret::recovery_code(text);
  REQUIRE(again.ok());
  CHECK(equal_ct(again->bytes(), code.bytes()));
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  REQUIRE(Secret::recovery_code(lower).ok());
}

TEST_CASE("a malformed recovery code is rejected with a fixed message") {
  for (std::string_view bad : {"", "ABCD", "ABCD-EFGH-!", 
                               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    CAPTURE(bad);
    Result<Secret> s = Secret::recovery_code(bad);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code() == ErrorCode::kInvalidArgument);
    CHECK(s.error().message() == "malformed recovery code");
  }
}

TEST_CASE("a key file must hold exactly 32 bytes") {
  std::vector<std::uint8_t> bytes(31, 7);
  Result<Secret> s = Secret::key_file(bytes);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == ErrorCode::kInvalidArgument);
  CHECK(s.error().message() == "key file must hold exactly 32 bytes");
  bytes.push_back(7);
  REQUIRE(Secret::key_file(bytes).ok());
  Secret fresh = new_key_file_bytes();
  CHECK(fresh.kind() == Secret::Kind::kKeyFile);
  CHECK(fresh.bytes().size() == 32);
}

TEST_CASE("a moved-from secret is empty") {
  Secret a = Secret::passphrase("correct horse");
  Secret b = std::move(a);
  CHECK(b.bytes().size() == 13);
  CHECK(a.bytes().empty());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("KDF presets are found by name") {
  CHECK(KdfParams::by_name("interactive") == KdfParams::interactive());
  CHECK(KdfParams::by_name("moderate") == KdfParams{3, 256u << 20});
  CHECK(KdfParams::by_name("sensitive") == KdfParams::sensitive());
  CHECK_FALSE(KdfParams::by_name("fast").has_value());
}

TEST_CASE("secure bytes are zeroed and move-only") {
  SecureBytes a(32);
  for (std::uint8_t b : a.span()) CHECK(b == 0);
  a.data()[0] = 9;
  SecureBytes b = std::move(a);
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move)
  CHECK(b.data()[0] == 9);
}

TEST_CASE("AEAD opens what it sealed and nothing else") {
  std::array<std::uint8_t, 32> key{};
  std::array<std::uint8_t, 24> nonce{};
  random_bytes(key);
  random_bytes(nonce);
  std::string msg = "clinical note";
  std::vector<std::uint8_t> ct(msg.size()), pt(msg.size());
  std::array<std::uint8_t, 16> tag{};
  aead_seal(key, nonce, as_bytes(msg), as_bytes("ad"), ct, tag);
  REQUIRE(aead_open(key, nonce, ct, tag, as_bytes("ad"), pt));
  CHECK(std::string(pt.begin(), pt.end()) == msg);
  CHECK_FALSE(aead_open(key, nonce, ct, tag, as_bytes("ae"), pt));
  for (std::uint8_t b : pt) CHECK(b == 0);  // failed open leaves zeros
  ct[0] ^= 1;
  CHECK_FALSE(aead_open(key, nonce, ct, tag, as_bytes("ad"), pt));
}

TEST_CASE("subkeys are deterministic and differ per id") {
  std::array<std::uint8_t, 32> key{};
  key[0] = 1;
  SecureBytes a = kdf_subkey(key, 1, "EHRPAGE1");
  SecureBytes b = kdf_subkey(key, 1, "EHRPAGE1");
  SecureBytes c = kdf_subkey(key, 2, "EHRPAGE1");
  SecureBytes d = kdf_subkey(key, 1, "EHRWALCK");
  CHECK(equal_ct(a.span(), b.span()));
  CHECK_FALSE(equal_ct(a.span(), c.span()));
  CHECK_FALSE(equal_ct(a.span(), d.span()));
}

TEST_CASE("streaming BLAKE2b equals the one-shot hash") {
  std::array<std::uint8_t, 32> one = blake2b_256(as_bytes("abcdef"));
  std::array<std::uint8_t, 32> two{};
  Blake2b h;
  h.update("abc").update(std::string_view("def")).final(two);
  CHECK(one == two);
  std::array<std::uint8_t, 32> key{};
  CHECK(blake2b_256(as_bytes("abcdef"), key) != one);
}

TEST_CASE("Argon2id is deterministic and refuses out-of-range parameters") {
  std::array<std::uint8_t, 16> salt{};
  SecureBytes a, b;
  REQUIRE(pwhash(as_bytes("pw"), salt, KdfParams::min_for_testing(), a).ok());
  REQUIRE(pwhash(as_bytes("pw"), salt, KdfParams::min_for_testing(), b).ok());
  CHECK(equal_ct(a.span(), b.span()));
  for (KdfParams bad : {KdfParams{0, 8192}, KdfParams{1, 4096},
                        KdfParams{33, 8192}, KdfParams{1, (5ull << 30)}}) {
    Status s = pwhash(as_bytes("pw"), salt, bad, a);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code() == ErrorCode::kInvalidArgument);
    CHECK(s.error().message() == "unsupported KDF parameters");
  }
}

TEST_CASE("X25519 agrees and rejects a low-order point") {
  std::array<std::uint8_t, 32> a{}, b{}, pa{}, pb{}, s1{}, s2{};
  random_bytes(a);
  random_bytes(b);
  x25519_base(a, pa);
  x25519_base(b, pb);
  REQUIRE(x25519(a, pb, s1));
  REQUIRE(x25519(b, pa, s2));
  CHECK(s1 == s2);
  std::array<std::uint8_t, 32> zero{};
  CHECK_FALSE(x25519(a, zero, s1));
}

TEST_CASE("disable_core_dumps makes the process undumpable") {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bool ok = ehr::disable_core_dumps().ok();
    struct rlimit r {};
    getrlimit(RLIMIT_CORE, &r);
    ok = ok && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 && r.rlim_cur == 0 &&
         r.rlim_max == 0;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr::crypto
