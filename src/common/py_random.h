// Python's `random.Random`, as far as lm-evaluation-harness's few-shot sampler needs it: the
// same Mersenne Twister, seeded from an int as CPython seeds it (init_by_array over the int's
// 32-bit words), getrandbits, _randbelow and sample(). Written from the algorithms CPython
// documents (Modules/_randommodule.c, Lib/random.py); checked against indices python3 itself
// drew (tests/fixtures/py_random_sample.json, scripts/harness/py_random_fixture.py).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace rho::py {

class Random {
 public:
  // random.Random(seed) for a non-negative int that fits 64 bits.
  explicit Random(uint64_t seed);

  // random.getrandbits(k), 0 <= k <= 32.
  uint32_t getrandbits(int k);
  // Random._randbelow(n) (n >= 1): getrandbits(n.bit_length()) until it is below n.
  uint64_t randbelow(uint64_t n);
  // random.sample(range(n), k): k distinct indices in draw order (k <= n). CPython picks a
  // partial shuffle of a pool for small n and rejection from a set otherwise; both are kept,
  // since they consume the stream differently.
  std::vector<uint64_t> sample(uint64_t n, uint64_t k);

 private:
  uint32_t next();  // genrand_uint32
  void init_genrand(uint32_t s);
  void init_by_array(const std::vector<uint32_t>& key);

  static constexpr int N = 624;
  std::array<uint32_t, N> mt_{};
  int mti_ = N + 1;
};

}  // namespace rho::py
