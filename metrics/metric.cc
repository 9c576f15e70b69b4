#include "metrics/metric.h"

#include <algorithm>
#include <cmath>

namespace hearth::metrics {
namespace internal {

size_t ThisThreadShard() {
  static std::atomic<size_t> next_shard{0};
  thread_local const size_t shard = next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

}  // namespace internal

double Counter::Value() const {
  double total = 0.0;
  for (const auto& cell : cells_) total += cell.value.load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      n_buckets_(upper_bounds_->size() + 1),
      stride_((n_buckets_ + 7) / 8 * 8),
      counts_(new std::atomic<uint64_t>[internal::kShards * stride_]) {
  for (size_t i = 0; i < internal::kShards * stride_; ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
}

size_t Histogram::BucketIndex(double value) const {
  const std::vector<double>& bounds = *upper_bounds_;
  if (std::isnan(value)) return bounds.size();
  if (bounds.size() <= 8) {  // Small sets: a linear scan beats the branches of a search.
    size_t i = 0;
    while (i < bounds.size() && bounds[i] < value) ++i;
    return i;
  }
  return static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) -
                             bounds.begin());
}

void Histogram::Observe(double value) {
  const size_t shard = internal::ThisThreadShard();
  counts_[shard * stride_ + BucketIndex(value)].fetch_add(1, std::memory_order_relaxed);
  internal::AtomicAdd(sums_[shard].value, value);
}

HistogramSample Histogram::Snapshot() const {
  HistogramSample out;
  out.upper_bounds = *upper_bounds_;
  out.cumulative_counts.assign(n_buckets_, 0);
  for (size_t s = 0; s < internal::kShards; ++s) {
    for (size_t b = 0; b < n_buckets_; ++b) {
      out.cumulative_counts[b] += counts_[s * stride_ + b].load(std::memory_order_relaxed);
    }
    out.sum += sums_[s].value.load(std::memory_order_relaxed);
  }
  for (size_t b = 1; b < n_buckets_; ++b) out.cumulative_counts[b] += out.cumulative_counts[b - 1];
  out.count = out.cumulative_counts.back();
  return out;
}

}  // namespace hearth::metrics
