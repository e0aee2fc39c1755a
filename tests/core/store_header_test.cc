// Tests of the ehr header codec and key slots (core/src/store_header.h):
// T1's header-parser part (torn copies, generation order, MAC failure) plus
// slot wrapping, rotation and parser robustness.

#include "store_header.h"

#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <string>

namespace ehr::store {
namespace {

const KdfParams kFast = KdfParams::min_for_testing();

// A header of one passphrase slot for user "alice".
NewHeader make_header(std::string_view pass = "pw-alice") {
  Result<NewHeader> h = new_header({"alice", "laptop", kFast},
                                   Secret::passphrase(pass));
  REQUIRE(h.ok());
  return std::move(h).value();
}

HeaderBytes both_copies(const Header& a, const Header& b, crypto::Bytes dek) {
  Subkeys keys = derive_subkeys(dek);
  HeaderBytes out{};
  CopyBytes ca = encode_copy(a, keys.hdr.span());
  CopyBytes cb = encode_copy(b, keys.hdr.span());
  std::memcpy(out.data(), ca.data(), kCopySize);
  std::memcpy(out.data() + kCopySize, cb.data(), kCopySize);
  return out;
}

// Recomputes hdr_sum of copy `i` after a deliberate edit.
void fix_sum(HeaderBytes& h, int i) {
  std::uint8_t* p = h.data() + i * kCopySize;
  auto sum = crypto::blake2b_256(crypto::Bytes(p, kSumOffset));
  std::memcpy(p + kSumOffset, sum.data(), sum.size());
}

void check_error(const Result<Unlocked>& r, ErrorCode code,
                 std::string_view message) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == code);
  CHECK(r.error().message() == message);
}

TEST_SUITE("store_header") {

TEST_CASE("a new header opens with its passphrase and yields the DEK") {
  NewHeader nh = make_header();
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  Result<Unlocked> u = unlock(bytes, Secret::passphrase("pw-alice"), "");
  REQUIRE(u.ok());
  CHECK(crypto::equal_ct(u->dek.span(), nh.dek.span()));
  CHECK(u->slot == 0);
  CHECK(u->header.slots[0].user == "alice");
  CHECK(u->header.slots[0].label == "laptop");
  CHECK(u->header.slots[0].kdf_params == kFast);
  CHECK(u->header.generation == 1);
}

TEST_CASE("a wrong passphrase fails with the vague message") {
  NewHeader nh = make_header();
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  check_error(unlock(bytes, Secret::passphrase("pw-bob"), ""),
              ErrorCode::kAuthFailed, "wrong passphrase or key");
}

TEST_CASE("each secret kind tries only slots of its own type") {
  std::string raw(32, 'k');
  NewHeader nh = make_header(raw);
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  Result<Secret> key = Secret::key_file(
      std::span(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
  REQUIRE(key.ok());
  check_error(unlock(bytes, *key, ""), ErrorCode::kAuthFailed,
              "wrong passphrase or key");
  CHECK(unlock(bytes, Secret::passphrase(raw), "").ok());
}

TEST_CASE("key-file and recovery slots open with their secrets") {
  NewHeader nh = make_header();
  Secret key = new_key_file_bytes();
  Secret code = new_recovery_code();
  Result<Slot> s1 = make_slot(nh.header, 1, {"bob", "usb key", {}}, key, nh.dek.span());
  REQUIRE(s1.ok());
  nh.header.slots[1] = *s1;
  Result<Slot> s2 = make_slot(nh.header, 2, {"bob", "paper", {}}, code, nh.dek.span());
  REQUIRE(s2.ok());
  nh.header.slots[2] = *s2;
  CHECK(s1->kdf_params == KdfParams{0, 0});
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  Result<Unlocked> u1 = unlock(bytes, key, "");
  REQUIRE(u1.ok());
  CHECK(u1->slot == 1);
  Result<Unlocked> u2 = unlock(bytes, *Secret::recovery_code(code.recovery_code_text()), "");
  REQUIRE(u2.ok());
  CHECK(u2->slot == 2);
  CHECK(crypto::equal_ct(u2->dek.span(), nh.dek.span()));
}

TEST_CASE("a user name restricts which slots are tried") {
  NewHeader nh = make_header();
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  CHECK(unlock(bytes, Secret::passphrase("pw-alice"), "alice").ok());
  check_error(unlock(bytes, Secret::passphrase("pw-alice"), "bob"),
              ErrorCode::kAuthFailed, "wrong passphrase or key");
}

TEST_CASE("a torn copy A falls back to copy B") {
  NewHeader nh = make_header();
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  std::memset(bytes.data() + 700, 0xAB, 500);  // half-written A
  Result<Unlocked> u = unlock(bytes, Secret::passphrase("pw-alice"), "");
  REQUIRE(u.ok());
  CHECK(u->copy == 1);
}

TEST_CASE("a torn copy B falls back to copy A") {
  NewHeader nh = make_header();
  Header newer = nh.header;
  newer.generation = 2;
  HeaderBytes bytes = both_copies(nh.header, newer, nh.dek.span());
  bytes[kCopySize + 100] ^= 0x10;
  Result<Unlocked> u = unlock(bytes, Secret::passphrase("pw-alice"), "");
  REQUIRE(u.ok());
  CHECK(u->copy == 0);
  CHECK(u->header.generation == 1);
}

TEST_CASE("two torn copies refuse to open") {
  NewHeader nh = make_header();
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  bytes[300] ^= 1;
  bytes[kCopySize + 300] ^= 1;
  check_error(unlock(bytes, Secret::passphrase("pw-alice"), ""),
              ErrorCode::kCorruption, "damaged header");
}

TEST_CASE("bytes without the magic are not an ehr file") {
  HeaderBytes zeros{};
  check_error(unlock(zeros, Secret::passphrase("x"), ""),
              ErrorCode::kCorruption, "not an ehr file");
  HeaderBytes sqlite{};
  std::memcpy(sqlite.data(), "SQLite format 3", 16);
  check_error(unlock(sqlite, Secret::passphrase("x"), ""),
              ErrorCode::kCorruption, "not an ehr file");
}

TEST_CASE("the copy with the highest generation wins") {
  NewHeader nh = make_header();
  Header newer = nh.header;
  newer.generation = 7;
  Result<Slot> s = make_slot(newer, 0, {"alice", "new", kFast},
                             Secret::passphrase("pw-new"), nh.dek.span());
  REQUIRE(s.ok());
  newer.slots[0] = *s;
  for (int order = 0; order < 2; ++order) {
    CAPTURE(order);
    HeaderBytes bytes = order == 0 ? both_copies(nh.header, newer, nh.dek.span())
                                   : both_copies(newer, nh.header, nh.dek.span());
    Result<Unlocked> u = unlock(bytes, Secret::passphrase("pw-new"), "");
    REQUIRE(u.ok());
    CHECK(u->header.generation == 7);
    CHECK(u->copy == (order == 0 ? 1 : 0));
    // The old passphrase survives only in the older copy, which is never
    // asked when the newest copy is intact.
    check_error(unlock(bytes, Secret::passphrase("pw-alice"), ""),
                ErrorCode::kAuthFailed, "wrong passphrase or key");
  }
}

TEST_CASE("a copy whose MAC fails falls back to the other copy") {
  NewHeader nh = make_header();
  Header newer = nh.header;
  newer.generation = 2;
  HeaderBytes bytes = both_copies(nh.header, newer, nh.dek.span());
  bytes[kCopySize + kMacOffset] ^= 1;  // B: bad MAC, sum fixed
  fix_sum(bytes, 1);
  Result<Unlocked> u = unlock(bytes, Secret::passphrase("pw-alice"), "");
  REQUIRE(u.ok());
  CHECK(u->copy == 0);
  CHECK(u->header.generation == 1);
}

TEST_CASE("a MAC failure in both copies is reported as corruption") {
  NewHeader nh = make_header();
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  for (int i = 0; i < 2; ++i) {
    bytes[i * kCopySize + 16] ^= 1;  // generation: not covered by the wrap
    fix_sum(bytes, i);
  }
  check_error(unlock(bytes, Secret::passphrase("pw-alice"), ""),
              ErrorCode::kCorruption, "header authentication failed");
}

TEST_CASE("tampering with any wrapped slot field fails the unwrap") {
  NewHeader nh = make_header();
  // Byte offsets inside slot 0 covering the user length, KDF parameters,
  // salt, slot_pk, nonce, wrapped DEK, user and label. Flipping bit 1 keeps
  // every field well-formed, so only the AEAD can notice.
  const std::size_t fields[] = {3, 8, 16, 24, 40, 72, 96, 130, 144, 176};
  for (std::size_t f : fields) {
    CAPTURE(f);
    HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
    for (int i = 0; i < 2; ++i) {
      bytes[i * kCopySize + kSlotsOffset + f] ^= 0x02;
      fix_sum(bytes, i);
    }
    check_error(unlock(bytes, Secret::passphrase("pw-alice"), ""),
                ErrorCode::kAuthFailed, "wrong passphrase or key");
  }
}

TEST_CASE("two well-formed but unsupported copies say what is unsupported") {
  NewHeader nh = make_header();
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  for (int i = 0; i < 2; ++i) {
    bytes[i * kCopySize + kSlotsOffset + 8] ^= 0x01;  // opslimit 1 -> 0
    fix_sum(bytes, i);
  }
  check_error(unlock(bytes, Secret::passphrase("pw-alice"), ""),
              ErrorCode::kCorruption, "malformed key slot 0");
}

TEST_CASE("tampering with the file id or wrap key fails the unwrap") {
  NewHeader nh = make_header();
  for (std::size_t off : {std::size_t{24}, std::size_t{56}}) {
    CAPTURE(off);
    HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
    for (int i = 0; i < 2; ++i) {
      bytes[i * kCopySize + off] ^= 0x80;
      fix_sum(bytes, i);
    }
    check_error(unlock(bytes, Secret::passphrase("pw-alice"), ""),
                ErrorCode::kAuthFailed, "wrong passphrase or key");
  }
}

TEST_CASE("a slot moved to another index no longer opens") {
  NewHeader nh = make_header();
  Header moved = nh.header;
  std::swap(moved.slots[0], moved.slots[5]);
  HeaderBytes bytes = both_copies(moved, moved, nh.dek.span());
  check_error(unlock(bytes, Secret::passphrase("pw-alice"), ""),
              ErrorCode::kAuthFailed, "wrong passphrase or key");
}

TEST_CASE("decoding rejects every layout field it does not support") {
  NewHeader nh = make_header();
  Subkeys keys = derive_subkeys(nh.dek.span());
  struct Case {
    std::size_t offset;
    std::string message;
  };
  const Case cases[] = {
      {0, "not an ehr file"},
      {8, "unsupported format version 3"},
      {12, "unsupported page layout"},
      {40, "unsupported page layout"},
      {44, "unsupported page layout"},
      {48, "unsupported page layout"},
      {52, "unsupported page layout"},
      {100, "unsupported page layout"},
      {1930, "unsupported page layout"},
      {kSlotsOffset + kSlotSize + 0, "malformed key slot 1"},  // empty slot
      {kSlotsOffset + 1, "malformed key slot 0"},              // type 1 -> 3
  };
  for (const Case& c : cases) {
    CAPTURE(c.offset);
    CopyBytes copy = encode_copy(nh.header, keys.hdr.span());
    copy[c.offset] ^= 0x02;
    auto sum = crypto::blake2b_256(crypto::Bytes(copy.data(), kSumOffset));
    std::memcpy(copy.data() + kSumOffset, sum.data(), sum.size());
    Result<DecodedCopy> d = decode_copy(copy);
    REQUIRE_FALSE(d.ok());
    CHECK(d.error().code() == ErrorCode::kCorruption);
    CHECK(d.error().message() == c.message);
  }
}

TEST_CASE("the decoder survives arbitrary bytes") {
  NewHeader nh = make_header();
  Subkeys keys = derive_subkeys(nh.dek.span());
  CopyBytes valid = encode_copy(nh.header, keys.hdr.span());
  std::mt19937_64 rng(12345);
  int decoded = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    CopyBytes copy = valid;
    if (iter % 4 == 0) {
      for (auto& b : copy) b = static_cast<std::uint8_t>(rng());
      std::memcpy(copy.data(), kMagic, 8);
    } else {
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        copy[rng() % kSumOffset] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      }
    }
    auto sum = crypto::blake2b_256(crypto::Bytes(copy.data(), kSumOffset));
    std::memcpy(copy.data() + kSumOffset, sum.data(), sum.size());
    Result<DecodedCopy> d = decode_copy(copy);
    if (d.ok()) {
      ++decoded;
      for (const Slot& s : d->header.slots) {
        CHECK(s.user.size() <= kUserMax);
        CHECK(s.label.size() <= kLabelMax);
      }
      // Re-encoding a decoded copy reproduces its bytes (canonical format).
      CopyBytes again = encode_copy(d->header, keys.hdr.span());
      CHECK(std::memcmp(again.data(), copy.data(), kMacOffset) == 0);
    }
  }
  CHECK(decoded > 0);
}

TEST_CASE("rotation keeps every slot's secret and changes DEK and file id") {
  NewHeader nh = make_header();
  Secret key = new_key_file_bytes();
  Result<Slot> s = make_slot(nh.header, 3, {"bob", "", {}}, key, nh.dek.span());
  REQUIRE(s.ok());
  nh.header.slots[3] = *s;
  Result<NewHeader> rot = rotated_header(nh.header);
  REQUIRE(rot.ok());
  CHECK(rot->header.file_id != nh.header.file_id);
  CHECK(rot->header.wrap_pk != nh.header.wrap_pk);
  CHECK_FALSE(crypto::equal_ct(rot->dek.span(), nh.dek.span()));
  CHECK(active_slot_count(rot->header) == 2);
  HeaderBytes bytes = both_copies(rot->header, rot->header, rot->dek.span());
  Result<Unlocked> u1 = unlock(bytes, Secret::passphrase("pw-alice"), "");
  REQUIRE(u1.ok());
  CHECK(crypto::equal_ct(u1->dek.span(), rot->dek.span()));
  Result<Unlocked> u2 = unlock(bytes, key, "bob");
  REQUIRE(u2.ok());
  CHECK(u2->slot == 3);
}

TEST_CASE("slot creation validates its inputs") {
  NewHeader nh = make_header();
  struct Case {
    SlotSpec spec;
    std::string pass;
    std::string message;
  };
  const Case cases[] = {
      {{std::string(33, 'u'), "", kFast}, "pw", "user name too long (max 32 bytes)"},
      {{"u", std::string(49, 'l'), kFast}, "pw", "label too long (max 48 bytes)"},
      {{"u", "", kFast}, "", "empty passphrase"},
      {{"u", "", {1, 1024}}, "pw", "unsupported KDF parameters"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    Result<Slot> s = make_slot(nh.header, 1, c.spec, Secret::passphrase(c.pass),
                               nh.dek.span());
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code() == ErrorCode::kInvalidArgument);
    CHECK(s.error().message() == c.message);
  }
}

TEST_CASE("find_authentic_copy checks file id and MAC") {
  NewHeader nh = make_header();
  Subkeys keys = derive_subkeys(nh.dek.span());
  HeaderBytes bytes = both_copies(nh.header, nh.header, nh.dek.span());
  int idx = -1;
  CHECK(find_authentic_copy(bytes, nh.header.file_id, keys.hdr.span(), &idx));
  CHECK(idx == 0);
  FileId other = nh.header.file_id;
  other[0] ^= 1;
  CHECK_FALSE(find_authentic_copy(bytes, other, keys.hdr.span()));
  NewHeader stranger = make_header();
  Subkeys skeys = derive_subkeys(stranger.dek.span());
  CHECK_FALSE(find_authentic_copy(bytes, nh.header.file_id, skeys.hdr.span()));
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr::store
