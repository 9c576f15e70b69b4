// MatMul in ActPrecision::kF32: every path equals the scalar twin bit for bit, matches the
// float64 product of the engine/quant-dequantized weights with x tightly, is batch invariant
// (bitwise across n, tiles and threads), and QuantizedActivations carries the precision.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/kernels/matmul.h"
#include "gtest/gtest.h"
#include "tests/engine/cpu/kernels/test_weights.h"

namespace hearth::engine::cpu {
namespace {

using testing::IsFloat;
using testing::IsK;
using testing::kAllTypes;
using testing::Name;
using testing::RandomActivations;
using testing::RandomWeights;
using testing::SupportedPaths;
using testing::TestWeights;

constexpr ActPrecision kF32 = ActPrecision::kF32;

std::vector<int64_t> ColsFor(GgmlType t) {
  if (IsK(t)) return {256, 768};
  if (IsFloat(t)) return {64, 576};
  return {32, 96, 576};
}

struct Shape {
  int64_t n, rows;
};
const Shape kShapes[] = {{1, 1}, {1, 7}, {3, 9}, {17, 13}, {64, 8}, {5, 33}};

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(MatMulF32Test, PrecisionNamesRoundTrip) {
  for (ActPrecision p : {ActPrecision::kQ8, ActPrecision::kF32}) {
    EXPECT_EQ(ParseActPrecision(ActPrecisionName(p)), p);
  }
  EXPECT_EQ(ActPrecisionName(ActPrecision::kF32), "f32");
  EXPECT_EQ(ActPrecisionName(ActPrecision::kQ8), "q8");
  EXPECT_FALSE(ParseActPrecision("fp32").has_value());
  EXPECT_FALSE(ParseActPrecision("").has_value());
}

// Each path dequantizes with the same float operations as engine/quant and sums in the same
// fixed 8-lane order, so all of them (scalar included) give identical bits.
TEST(MatMulF32Test, EveryPathEqualsScalarTwinBitwise) {
  std::mt19937 rng(11);
  for (GgmlType type : kAllTypes) {
    if (IsFloat(type)) continue;  // float W: the kQ8-mode kernels (tested in matmul_test)
    for (int64_t cols : ColsFor(type)) {
      for (const Shape& s : kShapes) {
        TestWeights tw = RandomWeights(type, s.rows, cols, rng);
        const std::vector<float> x = RandomActivations(s.n, cols, rng);
        std::vector<float> ref(s.n * s.rows), got(s.n * s.rows);
        MatMulReference(tw.w, x.data(), s.n, ref.data(), kF32);
        for (CpuKernelPath path : SupportedPaths()) {
          MatMulOnPath(path, tw.w, x.data(), s.n, got.data(), nullptr, kF32);
          EXPECT_TRUE(SameBits(got, ref)) << Name(type) << " " << CpuKernelPathName(path)
                                          << " cols=" << cols << " n=" << s.n << " rows=" << s.rows;
        }
      }
    }
  }
}

// Against W dequantized by engine/quant (bit-exact with gguf-py) times x in float64: only
// float32 summation rounding remains, |err| <= 1e-5 * sum|w x| (in practice ~1e-7). The kQ8
// mode, for contrast, must be measurably worse on the same data for block types.
TEST(MatMulF32Test, MatchesFloat64ReferenceTightly) {
  std::mt19937 rng(12);
  for (GgmlType type : kAllTypes) {
    for (int64_t cols : ColsFor(type)) {
      const int64_t n = 6, rows = 19;
      TestWeights tw = RandomWeights(type, rows, cols, rng);
      const std::vector<float> wd = tw.Dequantized();
      const std::vector<float> x = RandomActivations(n, cols, rng);
      std::vector<double> want(n * rows), scale(n * rows);
      for (int64_t c = 0; c < n; ++c) {
        for (int64_t r = 0; r < rows; ++r) {
          double s = 0.0, a = 0.0;
          for (int64_t k = 0; k < cols; ++k) {
            const double p = double(wd[r * cols + k]) * x[c * cols + k];
            s += p;
            a += std::fabs(p);
          }
          want[c * rows + r] = s;
          scale[c * rows + r] = a;
        }
      }
      for (CpuKernelPath path : SupportedPaths()) {
        std::vector<float> got(n * rows), q8(n * rows);
        MatMulOnPath(path, tw.w, x.data(), n, got.data(), nullptr, kF32);
        MatMulOnPath(path, tw.w, x.data(), n, q8.data(), nullptr, ActPrecision::kQ8);
        double worst = 0.0, worst_q8 = 0.0;
        for (int64_t i = 0; i < n * rows; ++i) {
          const double rel = std::fabs(got[i] - want[i]) / scale[i];
          ASSERT_LE(rel, 1e-5) << Name(type) << " " << CpuKernelPathName(path) << " cols=" << cols
                               << " i=" << i << " got=" << got[i] << " want=" << want[i];
          worst = std::fmax(worst, rel);
          worst_q8 = std::fmax(worst_q8, std::fabs(q8[i] - want[i]) / scale[i]);
        }
        if (!IsFloat(type)) {
          EXPECT_LT(worst * 10.0, worst_q8) << Name(type) << " f32 mode not better than q8";
        }
      }
    }
  }
}

// Row i of y is bitwise the same whatever n is, which tile it lands in, and how many threads
// split the rows of W (37 rows: not a multiple of the 4-row tile).
TEST(MatMulF32Test, BatchInvariantAcrossBatchSizesAndThreads) {
  std::mt19937 rng(13);
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  const int64_t rows = 37, max_n = 64;
  for (GgmlType type : kAllTypes) {
    const int64_t cols = IsK(type) ? 512 : 96;
    TestWeights tw = RandomWeights(type, rows, cols, rng);
    const std::vector<float> x = RandomActivations(max_n, cols, rng);
    for (CpuKernelPath path : SupportedPaths()) {
      std::vector<float> single(max_n * rows);
      for (int64_t i = 0; i < max_n; ++i) {
        MatMulOnPath(path, tw.w, x.data() + i * cols, 1, single.data() + i * rows, nullptr, kF32);
      }
      for (int64_t n : {1, 5, 32, 64}) {
        for (ThreadPool* pool : pools) {
          std::vector<float> y(n * rows);
          MatMulOnPath(path, tw.w, x.data(), n, y.data(), pool, kF32);
          EXPECT_EQ(std::memcmp(y.data(), single.data(), y.size() * sizeof(float)), 0)
              << Name(type) << " " << CpuKernelPathName(path) << " n=" << n
              << " threads=" << (pool ? pool->num_threads() : 1);
        }
      }
    }
  }
}

// QuantizedActivations in kF32 gives the same bits as MatMul(..., kF32); the default stays kQ8.
TEST(MatMulF32Test, QuantizedActivationsCarryPrecision) {
  std::mt19937 rng(14);
  for (GgmlType type : {GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kQ6_K}) {
    const int64_t cols = 256, n = 3, rows = 10;
    TestWeights tw = RandomWeights(type, rows, cols, rng);
    const std::vector<float> x = RandomActivations(n, cols, rng);
    std::vector<float> f32(n * rows), q8(n * rows), a(n * rows), b(n * rows);
    MatMul(tw.w, x.data(), n, f32.data(), nullptr, kF32);
    MatMul(tw.w, x.data(), n, q8.data(), nullptr);
    QuantizedActivations xf(x.data(), n, cols, kF32), xq(x.data(), n, cols);
    EXPECT_EQ(xq.precision(), ActPrecision::kQ8);
    MatMul(tw.w, xf, a.data(), nullptr);
    MatMul(tw.w, xq, b.data(), nullptr);
    EXPECT_TRUE(SameBits(a, f32)) << Name(type);
    EXPECT_TRUE(SameBits(b, q8)) << Name(type);
    EXPECT_FALSE(SameBits(a, b)) << Name(type);
  }
}

}  // namespace
}  // namespace hearth::engine::cpu
