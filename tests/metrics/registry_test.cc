// Registry: golden exposition of every metric kind, name validation, name clashes, histogram
// bucket accumulation.
#include "metrics/registry.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace hearth::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(RegistryTest, GoldenExposition) {
  Registry r;
  auto requests = r.AddCounter("hearth_requests_total", "Requests by route.\nWith \\ backslash.",
                               {"route", "code"});
  ASSERT_TRUE(requests.ok()) << requests.status();
  (*(*requests)->WithLabels({"generate", "ok"}))->Increment(3);
  (*(*requests)->WithLabels({"say \"hi\"\n\\", "err"}))->Increment(0.5);
  (*(*requests)->WithLabels({"generate", "ok"}))->Increment();  // same series: 4

  auto queue = r.AddGauge("hearth_queue_depth", "Waiting requests.");
  ASSERT_TRUE(queue.ok());
  Gauge* depth = *(*queue)->WithLabels({});
  depth->Set(1);
  depth->Decrement(3.5);

  auto latency = r.AddHistogram("hearth_latency_seconds", "Latency.", {"model"}, {0.5, 1, 10});
  ASSERT_TRUE(latency.ok()) << latency.status();
  Histogram* smol = *(*latency)->WithLabels({"smol"});
  for (double v : {0.25, 0.5, 0.5, 4.0, 100.0}) smol->Observe(v);  // 0.5 counts in le="0.5"

  auto special = r.AddGauge("hearth_special", "Special floats.", {"kind"});
  ASSERT_TRUE(special.ok());
  (*(*special)->WithLabels({"inf"}))->Set(kInf);
  (*(*special)->WithLabels({"neg_inf"}))->Set(-kInf);
  (*(*special)->WithLabels({"nan"}))->Set(kNaN);
  (*(*special)->WithLabels({"third"}))->Set(1.0 / 3);

  ASSERT_TRUE(
      r.AddInfo("hearth_build_info", "Build.", {{"version", "0.1.0"}, {"backend", "cpu"}}).ok());
  ASSERT_TRUE(
      r.AddCallbackGauge("hearth_kv_usage_ratio", "KV usage.", {}, [] { return 0.75; }).ok());
  ASSERT_TRUE(r.AddCounter("hearth_unused_total", "No series yet.", {"x"}).ok());

  // prometheus-cpp's text serializer: labels sorted by name, a histogram's _count and _sum
  // before its buckets, NaN written "Nan" (Prometheus parses floats case-insensitively), a
  // family without series left out (hearth_unused_total); families sorted by name and series
  // by labels by the Registry.
  const std::string want =
      "# HELP hearth_build_info Build.\n"
      "# TYPE hearth_build_info gauge\n"
      "hearth_build_info{backend=\"cpu\",version=\"0.1.0\"} 1\n"
      "# HELP hearth_kv_usage_ratio KV usage.\n"
      "# TYPE hearth_kv_usage_ratio gauge\n"
      "hearth_kv_usage_ratio 0.75\n"
      "# HELP hearth_latency_seconds Latency.\n"
      "# TYPE hearth_latency_seconds histogram\n"
      "hearth_latency_seconds_count{model=\"smol\"} 5\n"
      "hearth_latency_seconds_sum{model=\"smol\"} 105.25\n"
      "hearth_latency_seconds_bucket{model=\"smol\",le=\"0.5\"} 3\n"
      "hearth_latency_seconds_bucket{model=\"smol\",le=\"1\"} 3\n"
      "hearth_latency_seconds_bucket{model=\"smol\",le=\"10\"} 4\n"
      "hearth_latency_seconds_bucket{model=\"smol\",le=\"+Inf\"} 5\n"
      "# HELP hearth_queue_depth Waiting requests.\n"
      "# TYPE hearth_queue_depth gauge\n"
      "hearth_queue_depth -2.5\n"
      "# HELP hearth_requests_total Requests by route.\\nWith \\\\ backslash.\n"
      "# TYPE hearth_requests_total counter\n"
      "hearth_requests_total{code=\"err\",route=\"say \\\"hi\\\"\\n\\\\\"} 0.5\n"
      "hearth_requests_total{code=\"ok\",route=\"generate\"} 4\n"
      "# HELP hearth_special Special floats.\n"
      "# TYPE hearth_special gauge\n"
      "hearth_special{kind=\"inf\"} +Inf\n"
      "hearth_special{kind=\"nan\"} Nan\n"
      "hearth_special{kind=\"neg_inf\"} -Inf\n"
      "hearth_special{kind=\"third\"} 0.3333333333333333\n";
  EXPECT_EQ(r.Render(), want);
}

TEST(RegistryTest, WithLabelsReturnsStablePointers) {
  Registry r;
  auto f = r.AddCounter("c_total", "", {"a"});
  ASSERT_TRUE(f.ok());
  Counter* x = *(*f)->WithLabels({"x"});
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*f)->WithLabels({std::to_string(i)}).ok());
  EXPECT_EQ(*(*f)->WithLabels({"x"}), x);
  EXPECT_EQ((*f)->WithLabels({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*f)->WithLabels({"x", "y"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegistryTest, CounterIgnoresNegativeIncrements) {
  Counter c;
  c.Increment(2);
  c.Increment(-1);
  EXPECT_EQ(c.Value(), 2);
}

// The buckets of one histogram series as (upper bound, cumulative count), +Inf last.
std::vector<std::pair<double, uint64_t>> Buckets(const Histogram& h) {
  std::vector<std::pair<double, uint64_t>> out;
  for (const auto& b : h.Collect().histogram.bucket) {
    out.emplace_back(b.upper_bound, b.cumulative_count);
  }
  return out;
}

TEST(RegistryTest, HistogramBucketsAreCumulativeAndInclusive) {
  Registry r;
  std::vector<double> bounds;
  for (int i = 1; i <= 12; ++i) bounds.push_back(i);
  auto f = r.AddHistogram("h", "", {}, bounds);
  ASSERT_TRUE(f.ok());
  Histogram* h = *(*f)->WithLabels({});
  // (No NaN: prometheus-cpp 1.0.1 counts a NaN in the first bucket, client_golang in +Inf;
  // Hearth observes clock differences and token counts, never NaN.)
  const double values[] = {-5, 0.5, 1, 1.5, 2, 12, 12.5, kInf};
  for (double v : values) h->Observe(v);
  const prometheus::ClientMetric m = h->Collect();
  //                      le: 1  2  3  4  5  6  7  8  9 10 11 12 +Inf
  const std::vector<uint64_t> want = {3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 8};
  ASSERT_EQ(m.histogram.bucket.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(m.histogram.bucket[i].cumulative_count, want[i]) << "bucket " << i;
  }
  EXPECT_TRUE(std::isinf(m.histogram.bucket.back().upper_bound));
  EXPECT_EQ(m.histogram.sample_count, 8u);
  EXPECT_TRUE(std::isinf(m.histogram.sample_sum));
}

TEST(RegistryTest, InvalidNamesRejected) {
  struct Case {
    const char* name;
    std::vector<std::string> labels;
    bool ok;
  };
  const Case gauge_cases[] = {
      {"ok_name:sub_1", {"a", "_b", "C9"}, true},
      {"_leading_underscore", {}, true},
      {"", {}, false},
      {"1starts_with_digit", {}, false},
      {"has-dash", {}, false},
      {"has space", {}, false},
      {"ünicode", {}, false},
      {"fine", {"9digit"}, false},
      {"fine", {"co:lon"}, false},
      {"fine", {"__reserved"}, false},
      {"fine", {""}, false},
      {"fine", {"dup", "dup"}, false},
  };
  for (const Case& c : gauge_cases) {
    Registry r;
    auto f = r.AddGauge(c.name, "help", c.labels);
    EXPECT_EQ(f.ok(), c.ok) << c.name << ": " << f.status();
    if (!c.ok) {
      EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  Registry r;
  EXPECT_FALSE(r.AddCounter("no_suffix", "").ok());  // counters end in _total
  EXPECT_TRUE(r.AddCounter("with_suffix_total", "").ok());
  EXPECT_FALSE(r.AddHistogram("h1", "", {"le"}, {1}).ok());      // le is reserved
  EXPECT_FALSE(r.AddHistogram("h2", "", {}, {2, 1}).ok());       // decreasing
  EXPECT_FALSE(r.AddHistogram("h3", "", {}, {1, 1}).ok());       // not strictly increasing
  EXPECT_FALSE(r.AddHistogram("h4", "", {}, {1, kNaN}).ok());    // NaN bound
  EXPECT_FALSE(r.AddHistogram("h5", "", {}, {-kInf, 1}).ok());   // -Inf bound
  EXPECT_TRUE(r.AddHistogram("h6", "", {}, {1, 2, kInf}).ok());  // trailing +Inf is dropped
  EXPECT_TRUE(r.AddHistogram("h7", "", {}, {}).ok());            // only +Inf
  EXPECT_FALSE(r.AddInfo("build", "", {{"v", "1"}}).ok());       // info ends in _info
  EXPECT_FALSE(r.AddInfo("x_info", "", {{"bad-label", "1"}}).ok());
  EXPECT_FALSE(r.AddCallbackGauge("cb", "", {}, nullptr).ok());
  EXPECT_FALSE(r.AddCallbackCounter("cb", "", {}, [] { return 1.0; }).ok());  // no _total
}

TEST(RegistryTest, HistogramWithTrailingInfRendersOneInfBucket) {
  Registry r;
  auto h = r.AddHistogram("h", "", {}, {1, kInf});
  ASSERT_TRUE(h.ok());
  (*(*h)->WithLabels({}))->Observe(3);
  EXPECT_EQ(Buckets(**(*h)->WithLabels({})),
            (std::vector<std::pair<double, uint64_t>>{{1, 0}, {kInf, 1}}));
  EXPECT_EQ(r.Render(),
            "# TYPE h histogram\nh_count 1\nh_sum 3\nh_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"+Inf\"} 1\n");
}

TEST(RegistryTest, NameClashesRejected) {
  {
    Registry r;
    ASSERT_TRUE(r.AddGauge("x", "").ok());
    EXPECT_EQ(r.AddGauge("x", "").status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(r.AddInfo("x_info", "", {}).code(), absl::StatusCode::kOk);
    EXPECT_EQ(r.AddCallbackGauge("x_info", "", {}, [] { return 0.0; }).code(),
              absl::StatusCode::kAlreadyExists);
  }
  {  // A histogram claims its _bucket/_sum/_count series names, in both orders.
    Registry r;
    ASSERT_TRUE(r.AddHistogram("lat", "", {}, {1}).ok());
    EXPECT_EQ(r.AddGauge("lat_count", "").status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(r.AddGauge("lat_sum", "").status().code(), absl::StatusCode::kAlreadyExists);
    ASSERT_TRUE(r.AddGauge("other_bucket", "").ok());
    EXPECT_EQ(r.AddHistogram("other", "", {}, {1}).status().code(),
              absl::StatusCode::kAlreadyExists);
    // A failed add claims nothing: "other" itself is still free.
    EXPECT_TRUE(r.AddGauge("other", "").ok());
  }
}

}  // namespace
}  // namespace hearth::metrics
