// Plain values a scrape produces: what the text exposition renders. No atomics, no locks.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hearth::metrics {

// Label pairs in family order: {{"model", "smollm"}, {"route", "generate"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge" or "histogram": the `# TYPE` word.
const char* MetricTypeName(MetricType type);

// One counter or gauge series.
struct Sample {
  Labels labels;
  double value = 0.0;
};

// One histogram series. Invariants: upper_bounds is strictly increasing and finite (the +Inf
// bucket is implicit); cumulative_counts has upper_bounds.size() + 1 entries, is non-decreasing,
// and its last entry (the +Inf bucket) equals count.
struct HistogramSample {
  Labels labels;
  std::vector<double> upper_bounds;
  std::vector<uint64_t> cumulative_counts;
  double sum = 0.0;
  uint64_t count = 0;
};

// One metric family as scraped. A counter or gauge family fills `samples`, a histogram family
// fills `histograms`. For a counter, `name` already ends in "_total" and is the sample name.
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Sample> samples;
  std::vector<HistogramSample> histograms;
};

}  // namespace hearth::metrics
