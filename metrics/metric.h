// The three metric kinds. Each object is one series (one label set) of a Family; callers get a
// pointer from Family::WithLabels once and keep it, so the hot path never looks up labels.
//
// Thread-safety: every method is thread-safe and lock-free. Counter::Inc and
// Histogram::Observe write to a per-thread shard (no shared cache line between up to
// internal::kShards threads); reads merge the shards, so a read concurrent with writes sees
// some prefix of them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "metrics/atomic_cells.h"
#include "metrics/snapshot.h"

namespace hearth::metrics {

// Monotonic counter (a family name ends in "_total").
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `delta`. Negative and NaN deltas are ignored: a counter never goes down.
  void Inc(double delta = 1.0) {
    if (!(delta >= 0.0)) return;
    internal::AtomicAdd(cells_[internal::ThisThreadShard()].value, delta);
  }
  double Value() const;

 private:
  std::array<internal::PaddedDouble, internal::kShards> cells_;
};

// A value that goes up and down. One cell (Set must be last-writer-wins, so no shards).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Inc(double delta = 1.0) { internal::AtomicAdd(value_, delta); }
  void Dec(double delta = 1.0) { internal::AtomicAdd(value_, -delta); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Histogram with fixed bucket upper bounds (shared by every series of its family).
// Memory: kShards x round_up(n_bounds + 1, 8) x 8 bytes of counts, plus kShards sums.
class Histogram {
 public:
  // REQUIRES: `upper_bounds` strictly increasing and finite (Registry validates this).
  explicit Histogram(std::shared_ptr<const std::vector<double>> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` in the first bucket whose bound is >= value (the +Inf bucket for values above
  // every bound and for NaN) and adds it to the sum.
  void Observe(double value);

  // Cumulative counts, sum and count; count always equals the +Inf bucket. Labels left empty.
  HistogramSample Snapshot() const;
  const std::vector<double>& upper_bounds() const { return *upper_bounds_; }

 private:
  // Index of the bucket for `value` in [0, n_bounds]; n_bounds is the +Inf bucket.
  size_t BucketIndex(double value) const;

  std::shared_ptr<const std::vector<double>> upper_bounds_;
  size_t n_buckets_;  // upper_bounds_->size() + 1
  size_t stride_;     // counts per shard, rounded up to a cache line
  // [kShards][stride_] per-bucket (non-cumulative) counts.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::array<internal::PaddedDouble, internal::kShards> sums_;
};

}  // namespace hearth::metrics
