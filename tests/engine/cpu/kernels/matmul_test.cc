// MatMul: SIMD kernels vs their scalar twins, every path vs a float64 reference built from the
// engine/quant dequantizers, and batch invariance (bitwise) across n, tiles and threads.
#include "engine/cpu/kernels/matmul.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/kernels/strips.h"
#include "gtest/gtest.h"
#include "tests/engine/cpu/kernels/test_weights.h"

namespace hearth::engine::cpu {
namespace {

using kern::IsStripType;
using testing::IsFloat;
using testing::IsK;
using testing::kAllTypes;
using testing::Name;
using testing::RandomActivations;
using testing::RandomWeights;
using testing::SupportedPaths;
using testing::TestWeights;

// Column counts to test per type (multiples of the block size; odd ones for float types).
std::vector<int64_t> ColsFor(GgmlType t) {
  if (IsK(t)) return {256, 512, 1536};
  if (IsFloat(t)) return {13, 64, 576};
  return {32, 96, 576};
}

struct Shape {
  int64_t n, rows;
};
const Shape kShapes[] = {{1, 1}, {1, 7}, {3, 9}, {17, 13}, {64, 8}, {5, 32}, {13, 40}};

// sum_k |w_k| |x_k| per output: the scale for float-rounding tolerances.
std::vector<double> AbsDot(const std::vector<float>& wd, const std::vector<float>& x, int64_t n,
                           int64_t rows, int64_t cols) {
  std::vector<double> out(n * rows, 0.0);
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0;
      for (int64_t k = 0; k < cols; ++k) s += std::fabs(double(wd[r * cols + k]) * x[c * cols + k]);
      out[c * rows + r] = s;
    }
  }
  return out;
}

// Every SIMD path agrees with the scalar twin. The block-quantized types (strip layout on SIMD
// paths, GGUF rows on scalar) run the same per-block float sequence: equal bit for bit, which
// also checks the repacking. Float weights differ only in how the products are summed (8 lanes
// + fixed tree vs one running sum), |diff| <= ~cols * 2^-24 * sum|w x|.
TEST(MatMulTest, SimdMatchesScalarTwin) {
  std::mt19937 rng(1);
  for (GgmlType type : kAllTypes) {
    for (int64_t cols : ColsFor(type)) {
      for (const Shape& s : kShapes) {
        TestWeights tw = RandomWeights(type, s.rows, cols, rng);
        const std::vector<float> x = RandomActivations(s.n, cols, rng);
        const std::vector<double> scale = AbsDot(tw.Dequantized(), x, s.n, s.rows, cols);
        std::vector<float> ref(s.n * s.rows), got(s.n * s.rows);
        MatMulReference(tw.w, x.data(), s.n, ref.data());
        for (CpuKernelPath path : SupportedPaths()) {
          if (path == CpuKernelPath::kScalar) continue;
          MatMulOnPath(path, tw.w, x.data(), s.n, got.data(), nullptr);
          if (IsStripType(type)) {
            ASSERT_EQ(std::memcmp(got.data(), ref.data(), got.size() * sizeof(float)), 0)
                << Name(type) << " " << CpuKernelPathName(path) << " cols=" << cols << " n=" << s.n
                << " rows=" << s.rows;
            continue;
          }
          for (int64_t i = 0; i < s.n * s.rows; ++i) {
            ASSERT_NEAR(got[i], ref[i], 1e-5 * scale[i] + 1e-30)
                << Name(type) << " " << CpuKernelPathName(path) << " cols=" << cols << " n=" << s.n
                << " rows=" << s.rows << " i=" << i;
          }
        }
      }
    }
  }
}

// `path` gives the AVX2 path's bits for every type (same exact integers, same float ops).
void ExpectEqualsAvx2Bitwise(CpuKernelPath path, uint32_t seed) {
  std::mt19937 rng(seed);
  for (GgmlType type : kAllTypes) {
    const int64_t cols = ColsFor(type).back();
    TestWeights tw = RandomWeights(type, 21, cols, rng);
    const std::vector<float> x = RandomActivations(9, cols, rng);
    std::vector<float> a(9 * 21), b(9 * 21);
    MatMulOnPath(CpuKernelPath::kAvx2, tw.w, x.data(), 9, a.data(), nullptr);
    MatMulOnPath(path, tw.w, x.data(), 9, b.data(), nullptr);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << Name(type);
  }
}

// avx2 and avxvnni compute the same exact integers and the same float ops: equal bit for bit.
TEST(MatMulTest, VnniEqualsAvx2Bitwise) {
  if (!CpuKernelPathSupported(CpuKernelPath::kAvxVnni)) GTEST_SKIP() << "no AVX-VNNI";
  ExpectEqualsAvx2Bitwise(CpuKernelPath::kAvxVnni, 2);
}

// avx512 runs the same per-lane operations on 16 lanes: same bits.
TEST(MatMulTest, Avx512EqualsAvx2Bitwise) {
  if (!CpuKernelPathSupported(CpuKernelPath::kAvx512)) GTEST_SKIP() << "no AVX-512 VNNI";
  ExpectEqualsAvx2Bitwise(CpuKernelPath::kAvx512, 6);
}

// Against W dequantized by engine/quant (bit-exact with gguf-py) times x, in float64.
//
// (a) Activations exactly representable on the 8-bit grid (x = q / 128, |q| <= 127, one
//     |q| = 127 per block, so d_x = 1/128 exactly and quantization is lossless): only float
//     rounding remains, |err| <= 1e-5 * sum|w x|.
// (b) Gaussian activations: quantization moves each x_k by at most d_x / 2 (round to nearest,
//     d_x = amax(block) / 127), so |err| <= sum_k |w_k| * d_x(k) / 2, plus float rounding.
TEST(MatMulTest, MatchesFloat64ReferenceOnEveryPath) {
  std::mt19937 rng(3);
  for (GgmlType type : kAllTypes) {
    const int64_t block = IsK(type) ? 256 : 32;
    for (int64_t cols : ColsFor(type)) {
      const int64_t n = 4, rows = 11;
      TestWeights tw = RandomWeights(type, rows, cols, rng);
      const std::vector<float> wd = tw.Dequantized();
      for (bool exact_x : {true, false}) {
        std::vector<float> x = RandomActivations(n, cols, rng);
        if (exact_x) {
          for (int64_t i = 0; i < n * cols; ++i) {
            float q = std::round(x[i] * 40.0f);
            q = std::fmin(127.0f, std::fmax(-127.0f, q));
            if (i % block == 0) q = (rng() & 1) ? 127.0f : -127.0f;
            x[i] = q / 128.0f;
          }
        }
        std::vector<double> bound(n * rows, 0.0), want(n * rows, 0.0);
        const std::vector<double> scale = AbsDot(wd, x, n, rows, cols);
        for (int64_t c = 0; c < n; ++c) {
          for (int64_t r = 0; r < rows; ++r) {
            double s = 0.0, qerr = 0.0;
            for (int64_t b0 = 0; b0 < cols; b0 += block) {
              double amax = 0.0;
              for (int64_t k = b0; k < std::min(cols, b0 + block); ++k) {
                amax = std::fmax(amax, std::fabs(x[c * cols + k]));
              }
              for (int64_t k = b0; k < std::min(cols, b0 + block); ++k) {
                s += double(wd[r * cols + k]) * x[c * cols + k];
                qerr += std::fabs(wd[r * cols + k]) * amax / 127.0 / 2.0;
              }
            }
            want[c * rows + r] = s;
            const bool lossless = exact_x || IsFloat(type);
            bound[c * rows + r] = (lossless ? 0.0 : qerr * 1.0001) + 1e-5 * scale[c * rows + r];
          }
        }
        for (CpuKernelPath path : SupportedPaths()) {
          std::vector<float> got(n * rows);
          MatMulOnPath(path, tw.w, x.data(), n, got.data(), nullptr);
          for (int64_t i = 0; i < n * rows; ++i) {
            ASSERT_LE(std::fabs(got[i] - want[i]), bound[i])
                << Name(type) << " " << CpuKernelPathName(path) << " cols=" << cols
                << " exact_x=" << exact_x << " i=" << i << " got=" << got[i] << " want=" << want[i];
          }
        }
      }
    }
  }
}

// Row i of y is bitwise the same whatever n is, which tile it lands in, and how many threads
// split the rows of W (37 rows: not a multiple of any tile).
TEST(MatMulTest, BatchInvariantAcrossBatchSizesAndThreads) {
  std::mt19937 rng(4);
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  const int64_t rows = 37, max_n = 64;
  for (GgmlType type : kAllTypes) {
    const int64_t cols = IsK(type) ? 256 : 64;
    TestWeights tw = RandomWeights(type, rows, cols, rng);
    const std::vector<float> x = RandomActivations(max_n, cols, rng);
    for (CpuKernelPath path : SupportedPaths()) {
      // Reference: each row alone, single thread.
      std::vector<float> single(max_n * rows);
      for (int64_t i = 0; i < max_n; ++i) {
        MatMulOnPath(path, tw.w, x.data() + i * cols, 1, single.data() + i * rows, nullptr);
      }
      for (int64_t n : {1, 5, 32, 64}) {
        for (ThreadPool* pool : pools) {
          std::vector<float> y(n * rows);
          MatMulOnPath(path, tw.w, x.data(), n, y.data(), pool);
          ASSERT_EQ(std::memcmp(y.data(), single.data(), y.size() * sizeof(float)), 0)
              << Name(type) << " " << CpuKernelPathName(path) << " n=" << n
              << " threads=" << (pool ? pool->num_threads() : 1);
        }
      }
    }
  }
}

// The pre-quantized entry point (one quantization shared by several weights) gives the same
// bits as MatMul, for both activation formats from one QuantizedActivations.
TEST(MatMulTest, PreQuantizedMatchesMatMul) {
  std::mt19937 rng(5);
  const int64_t n = 6, cols = 512;
  const std::vector<float> x = RandomActivations(n, cols, rng);
  QuantizedActivations xq(x.data(), n, cols);
  ThreadPool pool(2);
  for (GgmlType type : kAllTypes) {
    TestWeights tw = RandomWeights(type, 19, cols, rng);
    std::vector<float> a(n * 19), b(n * 19);
    MatMul(tw.w, x.data(), n, a.data(), &pool);
    MatMul(tw.w, xq, b.data(), &pool);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << Name(type);
  }
}

// Weights repacked once (PackedWeights, what the engine does at load) give the same bits as the
// per-call repacking, on every path and for rows that leave a partial last strip.
TEST(MatMulTest, PrePackedMatchesUnpacked) {
  std::mt19937 rng(7);
  ThreadPool pool(2);
  const int64_t n = 11, cols = 96;
  for (GgmlType type : kAllTypes) {
    const int64_t type_cols = IsK(type) ? 256 : cols;
    const std::vector<float> xt = RandomActivations(n, type_cols, rng);
    for (int64_t rows : {1, 16, 45}) {
      TestWeights tw = RandomWeights(type, rows, type_cols, rng);
      PackedWeights packed;
      packed.Add(tw.w);
      ASSERT_TRUE(packed.Pack(&pool).ok());
      EXPECT_EQ(packed.matrix(0).strips != nullptr,
                IsStripType(type) && ActiveCpuKernelPath() != CpuKernelPath::kScalar);
      for (CpuKernelPath path : SupportedPaths()) {
        std::vector<float> a(n * rows), b(n * rows);
        MatMulOnPath(path, tw.w, xt.data(), n, a.data(), &pool);
        MatMulOnPath(path, packed.matrix(0), xt.data(), n, b.data(), &pool);
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
            << Name(type) << " " << CpuKernelPathName(path) << " rows=" << rows;
      }
    }
  }
}

// Decode streams the weights once per token: the strip copies of the K-quants must stay
// within a few percent of the GGUF bytes.
TEST(MatMulTest, KStripSizeCloseToGguf) {
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    const int64_t cols = 4096;
    const double gguf = double(kern::kStripRows) * GetTypeTraits(type).RowBytes(cols);
    const double strip = double(kern::StripBytes(type, cols));
    EXPECT_GE(strip, gguf) << Name(type);
    EXPECT_LE(strip, 1.03 * gguf) << Name(type);
  }
}

TEST(MatMulTest, SupportedTypes) {
  for (GgmlType type : kAllTypes) EXPECT_TRUE(MatMulSupports(type)) << Name(type);
  EXPECT_FALSE(MatMulSupports(GgmlType::kQ2_K));
  EXPECT_TRUE(CpuKernelPathSupported(CpuKernelPath::kScalar));
}

}  // namespace
}  // namespace hearth::engine::cpu
