// Test and benchmark helpers: deterministic pseudo-random numbers for the
// generated data of the tests and benchmarks (never for anything secret).
// The same seed gives the same sequence on every platform, so generated
// databases and files are reproducible and cacheable by their seed.

#ifndef EHR_TESTS_SUPPORT_RNG_H_
#define EHR_TESTS_SUPPORT_RNG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ehr::testing {

// splitmix64's finalizer: a bijection on 64-bit values (distinct inputs give
// distinct outputs, so mix(seed + i) makes unique ids).
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A splitmix64 sequence: each value is mix() of the previous one.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(mix(seed)) {}
  std::uint64_t next() { return s_ = mix(s_); }
  // Uniform in [0, n), of n's type. REQUIRES: n > 0.
  template <typename N>
  N below(N n) {
    return static_cast<N>(next() % static_cast<std::uint64_t>(n));
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double between(double lo, double hi) { return lo + (hi - lo) * unit(); }
  bool chance(double p) { return unit() < p; }
  bool percent(int p) { return below(100) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  template <typename T, std::size_t N>
  const T& pick(const std::array<T, N>& a) {
    return a[below(N)];
  }
  // n decimal digits.
  std::string digits(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += static_cast<char>('0' + below(10));
    return out;
  }

 private:
  std::uint64_t s_;
};

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_RNG_H_
