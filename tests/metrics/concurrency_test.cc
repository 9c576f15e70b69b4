// The hot path from many threads: 8 threads x 100k updates give exact totals (integer-valued
// observations keep every partial double sum exact); scrapes during writes stay consistent.
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "metrics/registry.h"

namespace hearth::metrics {
namespace {

constexpr int kThreads = 8;
constexpr int kPerThread = 100000;

template <typename Fn>
void RunThreads(Fn fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(fn, t);
  for (auto& th : threads) th.join();
}

TEST(ConcurrencyTest, CounterGaugeHistogramTotalsAreExact) {
  Registry r;
  auto counters = r.AddCounter("c_total", "", {"k"});
  auto gauges = r.AddGauge("g", "");
  auto hists = r.AddHistogram("h", "", {}, {0.5, 2.5, 5.5});
  ASSERT_TRUE(counters.ok() && gauges.ok() && hists.ok());
  Counter* c = *(*counters)->WithLabels({"a"});
  Gauge* g = *(*gauges)->WithLabels({});
  Histogram* h = *(*hists)->WithLabels({});

  RunThreads([&](int t) {
    // Every thread also looks the series up itself: the same pointer comes back.
    EXPECT_EQ(*(*counters)->WithLabels({"a"}), c);
    for (int i = 0; i < kPerThread; ++i) {
      c->Increment();
      g->Increment(2);
      g->Decrement();
      h->Observe(i % 10);  // 0..9
    }
    (void)t;
  });

  EXPECT_EQ(c->Value(), kThreads * kPerThread);
  EXPECT_EQ(g->Value(), kThreads * kPerThread);
  const prometheus::ClientMetric::Histogram s = h->Collect().histogram;
  EXPECT_EQ(s.sample_count, uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(s.sample_sum, kThreads * (kPerThread / 10) * 45.0);  // each block of 10 sums to 45
  // Per thread, of each 10 values: {0} <= 0.5, {1,2} <= 2.5, {3,4,5} <= 5.5, {6..9} above.
  const uint64_t block = uint64_t{kThreads} * (kPerThread / 10);
  std::vector<uint64_t> cumulative;
  for (const auto& b : s.bucket) cumulative.push_back(b.cumulative_count);
  EXPECT_EQ(cumulative, (std::vector<uint64_t>{block, 3 * block, 6 * block, 10 * block}));
}

TEST(ConcurrencyTest, ScrapesDuringWritesAreConsistent) {
  Registry r;
  auto hists = r.AddHistogram("h", "", {}, {1, 2});
  ASSERT_TRUE(hists.ok());
  Histogram* h = *(*hists)->WithLabels({});
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      const prometheus::ClientMetric::Histogram s = h->Collect().histogram;
      // The +Inf bucket always equals the count; buckets are cumulative.
      ASSERT_EQ(s.bucket.back().cumulative_count, s.sample_count);
      ASSERT_LE(s.bucket[0].cumulative_count, s.bucket[1].cumulative_count);
      ASSERT_FALSE(r.Render().empty());
    }
  });
  RunThreads([&](int) {
    for (int i = 0; i < kPerThread / 10; ++i) h->Observe(i % 3);
  });
  done = true;
  scraper.join();
  EXPECT_EQ(h->Collect().histogram.sample_count, uint64_t{kThreads} * (kPerThread / 10));
}

}  // namespace
}  // namespace hearth::metrics
