// SHA-256 (FIPS 180-4) block compression, for crypto::Sha256
// (crypto_sodium.h), which hashes every file of a Bulk Data export: with the
// SHA extensions of x86 (SHA-NI) when the CPU has them, about four times as
// fast as the portable code (and libsodium's, which is portable: 1.9 s for
// the 0.9 GB of scripts/bench export), the portable code otherwise.
//
// Thread safety: pure functions.

#ifndef EHR_CORE_SRC_SHA256_H_
#define EHR_CORE_SRC_SHA256_H_

#include <cstddef>
#include <cstdint>

namespace ehr::crypto::detail {

// Runs the compression function over `blocks` 64-byte blocks at `data`,
// updating `state` (H0..H7).
using Sha256Blocks = void (*)(std::uint32_t state[8], const unsigned char* data, std::size_t blocks);

void sha256_blocks_portable(std::uint32_t state[8], const unsigned char* data, std::size_t blocks);
// The SHA-NI version, or nullptr when the CPU (or the compiler) has none.
Sha256Blocks sha256_blocks_hardware();
// The hardware version when there is one, else the portable one.
Sha256Blocks sha256_blocks_best();

}  // namespace ehr::crypto::detail

#endif  // EHR_CORE_SRC_SHA256_H_
