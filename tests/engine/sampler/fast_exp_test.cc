#include "engine/sampler/fast_exp.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace hearth::sampler {
namespace {

// The twin: the polynomial exp against libm's on a dense grid of [-87, 0].
TEST(FastExpTest, MatchesStdExpWithinFewUlps) {
  double worst = 0.0;
  for (int i = 0; i <= 870000; ++i) {
    const float x = -static_cast<float>(i) * 1e-4f;
    const double ref = std::exp(static_cast<double>(x));
    const double rel = std::abs(ExpNonPositive(x) - ref) / ref;
    worst = std::max(worst, rel);
  }
  EXPECT_LT(worst, 3e-7);  // ~2.5 ulp of float.
}

TEST(FastExpTest, EdgeValues) {
  EXPECT_EQ(ExpNonPositive(0.0f), 1.0f);
  EXPECT_EQ(ExpNonPositive(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(ExpNonPositive(-87.5f), 0.0f);
  EXPECT_EQ(ExpNonPositive(-1000.0f), 0.0f);
  EXPECT_GT(ExpNonPositive(-86.9f), 0.0f);
}

TEST(FastExpTest, BulkFormsMatchTheScalarFormAndTheirSums) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (size_t n : {1u, 15u, 256u, 257u, 49152u}) {
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    if (n > 1) x[n / 2] = -std::numeric_limits<float>::infinity();
    float m = -std::numeric_limits<float>::infinity();
    for (float v : x) m = std::max(m, v);
    std::vector<float> out(n);
    const double total = ExpShifted(x.data(), n, m, 0.5f, out.data());
    double ref_total = 0.0, ref_sum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(out[i], ExpNonPositive((x[i] - m) * 0.5f)) << i;
      ref_total += std::exp((static_cast<double>(x[i]) - m) * 0.5);
      ref_sum += std::exp(static_cast<double>(x[i]) - m);
    }
    EXPECT_NEAR(total, ref_total, 1e-6 * ref_total) << n;
    EXPECT_NEAR(SumExpShifted(x.data(), n, m), ref_sum, 1e-6 * ref_sum) << n;
  }
}

}  // namespace
}  // namespace hearth::sampler
