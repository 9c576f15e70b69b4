// A fixed pool of worker threads for data-parallel loops in the forward pass.
//
// Thread-safety: ParallelFor may be called from one thread at a time (the engine loop).
#pragma once

#include <cstdint>
#include <functional>

namespace hearth::engine::cpu {

class ThreadPool {
 public:
  // `num_threads` includes the calling thread: 1 means no workers.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const;

  // Calls fn(begin, end) over disjoint chunks covering [0, n), on all threads, and returns when
  // every chunk is done. Chunks are contiguous and their boundaries depend only on n and
  // num_threads, never on timing.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  // Idle workers stop spinning and sleep now, until the next ParallelFor (which wakes them): for
  // when another pool is about to use the cores (the next stage of a split on the same CPU).
  void Park();

 private:
  class Impl;
  Impl* impl_;
};

}  // namespace hearth::engine::cpu
