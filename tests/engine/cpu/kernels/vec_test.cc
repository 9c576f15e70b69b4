#include "engine/cpu/kernels/vec.h"

#include <cmath>
#include <random>
#include <vector>

#include "engine/cpu/kernels/matmul.h"
#include "gtest/gtest.h"

namespace hearth::engine::cpu {
namespace {

// DotF32 and Axpy (both paths) against float64, for lengths around the SIMD widths.
TEST(VecTest, DotAndAxpyMatchFloat64) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  for (int64_t n : {0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 576}) {
    std::vector<float> a(n), b(n), y(n);
    for (int64_t i = 0; i < n; ++i) {
      a[i] = nd(rng);
      b[i] = nd(rng);
      y[i] = nd(rng);
    }
    double want = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      want += double(a[i]) * b[i];
      scale += std::fabs(double(a[i]) * b[i]);
    }
    const double tol = 1e-6 * n * scale / std::max<int64_t>(n, 1) + 4e-7 * scale;
    EXPECT_NEAR(DotF32(a.data(), b.data(), n), want, tol) << n;
    EXPECT_NEAR(internal::DotF32Scalar(a.data(), b.data(), n), want, tol) << n;
    const bool avx2 = CpuKernelPathSupported(CpuKernelPath::kAvx2);
    if (avx2) {
      EXPECT_NEAR(internal::DotF32Avx2(a.data(), b.data(), n), want, tol) << n;
    }
    for (auto axpy : {&Axpy, &internal::AxpyScalar, &internal::AxpyAvx2}) {
      if (axpy == &internal::AxpyAvx2 && !avx2) continue;
      std::vector<float> got = y;
      axpy(n, 0.75f, a.data(), got.data());
      for (int64_t i = 0; i < n; ++i) {
        const double w = double(y[i]) + 0.75 * a[i];
        ASSERT_NEAR(got[i], w, 1e-6 * (std::fabs(y[i]) + std::fabs(a[i]))) << n << " " << i;
      }
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cpu
