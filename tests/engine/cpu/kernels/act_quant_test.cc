// Activation quantization: the AVX2 code writes the same bytes as the scalar code (so every
// kernel path sees identical activations), and the scalar code follows its definition.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/cpu/kernels/kernels.h"
#include "gtest/gtest.h"

namespace hearth::engine::cpu::kern {
namespace {

bool HasAvx2() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// Rows that stress the rounding: Gaussian, exact ties (x * 127 / amax = k + 0.5), all zeros,
// one huge value, tiny (subnormal-range) values.
std::vector<std::vector<float>> Rows(int64_t cols) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<std::vector<float>> rows;
  for (int r = 0; r < 20; ++r) {
    std::vector<float> x(cols);
    for (float& v : x) v = normal(rng);
    rows.push_back(x);
  }
  std::vector<float> ties(cols);
  for (int64_t i = 0; i < cols; ++i) ties[i] = (i % 32 == 0) ? 127.0f : (i % 64) - 31.5f;
  rows.push_back(ties);
  rows.push_back(std::vector<float>(cols, 0.0f));
  std::vector<float> spike(cols, 1e-3f);
  spike[cols / 2] = 3e4f;
  rows.push_back(spike);
  std::vector<float> tiny(cols);
  for (int64_t i = 0; i < cols; ++i) tiny[i] = (i % 3 - 1) * 1e-40f;
  rows.push_back(tiny);
  std::vector<float> with_nan = rows[0];
  with_nan[5] = std::nanf("");
  rows.push_back(with_nan);
  return rows;
}

TEST(ActQuantTest, Avx2WritesTheScalarBytesQ8) {
  if (!HasAvx2()) GTEST_SKIP() << "no AVX2";
  const int64_t cols = 576;
  for (const std::vector<float>& x : Rows(cols)) {
    std::vector<ActQ8> a(cols / kQK), b(cols / kQK);
    internal::QuantizeRowQ8Scalar(x.data(), cols, a.data());
    internal::QuantizeRowQ8Avx2(x.data(), cols, b.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(ActQ8)), 0);
  }
}

TEST(ActQuantTest, Avx2WritesTheScalarBytesQ8K) {
  if (!HasAvx2()) GTEST_SKIP() << "no AVX2";
  const int64_t cols = 1536;
  for (const std::vector<float>& x : Rows(cols)) {
    std::vector<ActQ8K> a(cols / kQKK), b(cols / kQKK);
    internal::QuantizeRowQ8KScalar(x.data(), cols, a.data());
    internal::QuantizeRowQ8KAvx2(x.data(), cols, b.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(ActQ8K)), 0);
  }
}

// d = amax / 127, q = round-half-even(x * 127 / amax), and the derived sums.
TEST(ActQuantTest, ScalarFollowsTheDefinition) {
  const int64_t cols = 64;
  for (const std::vector<float>& x : Rows(cols)) {
    std::vector<ActQ8> q(cols / kQK);
    QuantizeRowQ8(x.data(), cols, q.data());
    for (int64_t b = 0; b < cols / kQK; ++b) {
      float amax = 0.0f;
      for (int i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(x[b * kQK + i]));
      const bool zero = amax < kMinAmax;  // 127 / amax could overflow: the block is zero
      EXPECT_EQ(q[b].d, zero ? 0.0f : amax / 127.0f);
      int32_t sum = 0;
      for (int i = 0; i < kQK; ++i) {
        const float xi = x[b * kQK + i];
        const float want = zero             ? 0.0f
                           : std::isnan(xi) ? -127.0f  // documented: NaN clamps to -127
                                            : std::nearbyint(xi * (127.0f / amax));
        EXPECT_EQ(q[b].q[i], static_cast<int8_t>(want)) << "block " << b << " element " << i;
        sum += q[b].q[i];
      }
      EXPECT_EQ(q[b].s, q[b].d * static_cast<float>(sum));
      EXPECT_EQ(q[b].neg8_sum, -8 * sum);
      EXPECT_EQ(q[b].neg128_sum, -128 * sum);
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cpu::kern
