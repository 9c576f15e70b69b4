// Lock-free building blocks for the hot path: an atomic double add (CAS loop) and a per-thread
// shard index so concurrent writers mostly touch different cache lines.
#pragma once

#include <atomic>
#include <cstddef>

namespace hearth::metrics::internal {

// Number of write shards per counter / histogram. Threads are assigned shards round-robin on
// first use; threads beyond this count share shards (still correct, only more contended).
inline constexpr size_t kShards = 8;
inline constexpr size_t kCacheLine = 64;

// This thread's shard in [0, kShards). Cheap: one thread_local read after the first call.
size_t ThisThreadShard();

// value += delta, lock-free (compare-exchange loop; relaxed ordering: metrics carry no
// happens-before obligations).
inline void AtomicAdd(std::atomic<double>& value, double delta) {
  double old = value.load(std::memory_order_relaxed);
  while (!value.compare_exchange_weak(old, old + delta, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
  }
}

// A double on its own cache line.
struct alignas(kCacheLine) PaddedDouble {
  std::atomic<double> value{0.0};
};

}  // namespace hearth::metrics::internal
