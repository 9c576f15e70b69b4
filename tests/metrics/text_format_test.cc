// Text exposition primitives: float formatting per the 0.0.4 spec (Go's strconv 'g', -1 forms),
// escaping, and rendering of hand-built snapshots.
#include "metrics/text_format.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace hearth::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(TextFormatTest, FormatDoubleTable) {
  struct Case {
    double value;
    const char* want;
  };
  // Expected strings are Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus clients use.
  const Case cases[] = {
      {0.0, "0"},
      {-0.0, "-0"},
      {1.0, "1"},
      {-2.5, "-2.5"},
      {0.25, "0.25"},
      {0.1, "0.1"},
      {123456.0, "123456"},
      {1e6, "1e+06"},
      {1.5e-7, "1.5e-07"},
      {1.0 / 3.0, "0.3333333333333333"},
      {std::numeric_limits<double>::max(), "1.7976931348623157e+308"},
      {std::numeric_limits<double>::denorm_min(), "5e-324"},
      {kInf, "+Inf"},
      {-kInf, "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatDouble(c.value), c.want) << "value " << c.value;
  }
}

TEST(TextFormatTest, FormatDoubleRoundTripsRandomValues) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> bits;
  for (int i = 0; i < 20000; ++i) {
    uint64_t b = bits(rng);
    double v;
    std::memcpy(&v, &b, sizeof(v));
    if (!std::isfinite(v)) continue;
    const std::string s = FormatDouble(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
  }
}

TEST(TextFormatTest, EscapeHelp) {
  std::string out;
  AppendEscapedHelp("a \\ b\nc \"quoted\"", &out);
  EXPECT_EQ(out, "a \\\\ b\\nc \"quoted\"");  // quotes stay as they are in HELP
}

TEST(TextFormatTest, EscapeLabelValue) {
  std::string out;
  AppendEscapedLabelValue("a \\ b\nc \"q\" ü", &out);
  EXPECT_EQ(out, "a \\\\ b\\nc \\\"q\\\" ü");
}

FamilySnapshot Family(std::string name, std::string help, MetricType type) {
  FamilySnapshot f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

TEST(TextFormatTest, RendersSnapshotsInGivenOrder) {
  FamilySnapshot gauge = Family("z_gauge", "Z.", MetricType::kGauge);
  gauge.samples.push_back({{}, 3});
  FamilySnapshot hist = Family("a_seconds", "A.", MetricType::kHistogram);
  hist.histograms.push_back(HistogramSample{.labels = {{"x", "1"}},
                                            .upper_bounds = {0.5},
                                            .cumulative_counts = {2, 3},
                                            .sum = 1.5,
                                            .count = 3});
  FamilySnapshot empty = Family("e_total", "", MetricType::kCounter);
  const std::string want =
      "# HELP z_gauge Z.\n"
      "# TYPE z_gauge gauge\n"
      "z_gauge 3\n"
      "# HELP a_seconds A.\n"
      "# TYPE a_seconds histogram\n"
      "a_seconds_bucket{x=\"1\",le=\"0.5\"} 2\n"
      "a_seconds_bucket{x=\"1\",le=\"+Inf\"} 3\n"
      "a_seconds_sum{x=\"1\"} 1.5\n"
      "a_seconds_count{x=\"1\"} 3\n"
      "# HELP e_total \n"
      "# TYPE e_total counter\n";
  EXPECT_EQ(RenderText({gauge, hist, empty}), want);
}

}  // namespace
}  // namespace hearth::metrics
