// Bucket helpers: exact sets, and the LLM sets span the documented ranges.
#include "metrics/buckets.h"

#include <vector>

#include "gtest/gtest.h"
#include "metrics/registry.h"

namespace hearth::metrics {
namespace {

TEST(BucketsTest, LinearAndExponential) {
  EXPECT_EQ(LinearBuckets(1, 2, 4), (std::vector<double>{1, 3, 5, 7}));
  EXPECT_EQ(ExponentialBuckets(1, 2, 5), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_TRUE(LinearBuckets(0, 1, 0).empty());
}

TEST(BucketsTest, OneTwoFive) {
  struct Case {
    uint64_t max;
    std::vector<double> want;
  };
  const Case cases[] = {
      {0, {}},
      {1, {1}},
      {4, {1, 2}},
      {5, {1, 2, 5}},
      {100, {1, 2, 5, 10, 20, 50, 100}},
      {4096, {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}},
  };
  for (const Case& c : cases) EXPECT_EQ(OneTwoFiveBuckets(c.max), c.want) << c.max;
  // No overflow near the top of uint64.
  std::vector<double> big = OneTwoFiveBuckets(UINT64_MAX);
  EXPECT_EQ(big.size(), 3u * 19 + 1);  // 1,2,5 x 1e0..1e18, then 1e19 (2e19 > 2^64-1)
  EXPECT_EQ(big.back(), 1e19);
}

TEST(BucketsTest, LlmSetsAreValidAndSpanTheirRanges) {
  struct Case {
    std::vector<double> bounds;
    double first, last;
  };
  const Case cases[] = {
      {TimeToFirstTokenBuckets(), 0.001, 1920.0},
      {InterTokenLatencyBuckets(), 0.001, 10.0},
      {RequestLatencyBuckets(), 0.01, 3600.0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.bounds.front(), c.first);
    EXPECT_EQ(c.bounds.back(), c.last);
    Registry r;  // The registry accepts them (strictly increasing, finite).
    EXPECT_TRUE(r.AddHistogram("h", "", {}, c.bounds).ok());
  }
}

}  // namespace
}  // namespace hearth::metrics
