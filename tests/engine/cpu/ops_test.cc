// Tests of engine/cpu/ops.h's RmsNorm and AddRmsNorm: against a float64 reference, the fused
// residual + norm bitwise equal to AddInPlace then RmsNorm, and every row independent of the row
// count and the thread split (what the backend's batch invariance needs).
#include "engine/cpu/ops.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/cpu/kernels/thread_pool.h"
#include "gtest/gtest.h"

namespace hearth::engine::cpu {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Widths with and without a tail after the 8-wide partial sums.
const int32_t kDims[] = {1, 7, 8, 13, 64, 576, 2051};

TEST(OpsTest, RmsNormMatchesFloat64Reference) {
  for (int32_t dim : kDims) {
    SCOPED_TRACE(dim);
    const int64_t n = 5;
    const std::vector<float> x = Random(n * dim, 1, 3.0f), w = Random(dim, 2);
    std::vector<float> y(x.size());
    RmsNorm(x.data(), w.data(), n, dim, 1e-5f, y.data());
    for (int64_t r = 0; r < n; ++r) {
      double ss = 0.0;
      for (int32_t i = 0; i < dim; ++i) ss += double{x[r * dim + i]} * x[r * dim + i];
      const double scale = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int32_t i = 0; i < dim; ++i) {
        const double want = x[r * dim + i] * scale * w[i];
        EXPECT_NEAR(y[r * dim + i], want, 1e-6 * (1.0 + std::abs(want))) << r << "," << i;
      }
    }
  }
}

TEST(OpsTest, AddRmsNormEqualsAddThenNormAndIsRowInvariant) {
  ThreadPool pool(3);
  for (int32_t dim : kDims) {
    SCOPED_TRACE(dim);
    const int64_t n = 37;  // enough rows for the pool to split them
    const std::vector<float> x0 = Random(n * dim, 3, 2.0f), delta = Random(n * dim, 4),
                             w = Random(dim, 5);
    // Reference: the two separate ops, single-threaded.
    std::vector<float> x_ref = x0, y_ref(x0.size());
    AddInPlace(x_ref.data(), delta.data(), n * dim);
    RmsNorm(x_ref.data(), w.data(), n, dim, 1e-6f, y_ref.data());
    // Fused, on the pool.
    std::vector<float> x = x0, y(x0.size());
    AddRmsNorm(x.data(), delta.data(), w.data(), n, dim, 1e-6f, y.data(), &pool);
    EXPECT_EQ(std::memcmp(x.data(), x_ref.data(), x.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(y.data(), y_ref.data(), y.size() * sizeof(float)), 0);
    // Each row alone gives the same bits.
    for (int64_t r = 0; r < n; r += 9) {
      std::vector<float> xr(x0.begin() + r * dim, x0.begin() + (r + 1) * dim), yr(dim);
      AddRmsNorm(xr.data(), &delta[r * dim], w.data(), 1, dim, 1e-6f, yr.data());
      EXPECT_EQ(std::memcmp(yr.data(), &y_ref[r * dim], dim * sizeof(float)), 0) << r;
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cpu
