#include "engine/cpu/kernels/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace hearth::engine::cpu {
namespace {

// Every index of [0, n) is visited exactly once, chunks are contiguous and their boundaries
// depend only on (n, threads).
TEST(ThreadPoolTest, ChunksCoverRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 5, 8, 63, 64, 65, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      std::mutex mu;
      std::vector<std::pair<int64_t, int64_t>> chunks;
      pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
        ASSERT_LT(begin, end);
        for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        chunks.emplace_back(begin, end);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
      // Expected deterministic chunking: [n*t/T, n*(t+1)/T), empty ones skipped.
      std::vector<std::pair<int64_t, int64_t>> want;
      for (int t = 0; t < threads; ++t) {
        const int64_t b = n * t / threads, e = n * (t + 1) / threads;
        if (b < e) want.emplace_back(b, e);
      }
      std::sort(chunks.begin(), chunks.end());
      EXPECT_EQ(chunks, want) << "n=" << n << " threads=" << threads;
    }
  }
}

// Many back-to-back calls (the decode loop's pattern) all complete with every chunk run.
TEST(ThreadPoolTest, ManyConsecutiveCalls) {
  ThreadPool pool(3);
  std::vector<int64_t> sums(3000, 0);
  for (int call = 0; call < 3000; ++call) {
    std::atomic<int64_t> sum{0};
    const int64_t n = 1 + call % 17;
    pool.ParallelFor(n, [&](int64_t begin, int64_t end) {
      int64_t local = 0;
      for (int64_t i = begin; i < end; ++i) local += i + 1;
      sum.fetch_add(local);
    });
    ASSERT_EQ(sum.load(), n * (n + 1) / 2) << "call " << call;
  }
}

// The calling thread takes chunk 0; the work really runs on several threads.
TEST(ThreadPoolTest, CallerRunsFirstChunkAndWorkersRunTheRest) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id first, second;
  pool.ParallelFor(2, [&](int64_t begin, int64_t) {
    (begin == 0 ? first : second) = std::this_thread::get_id();
  });
  EXPECT_EQ(first, caller);
  EXPECT_NE(second, caller);
}

}  // namespace
}  // namespace hearth::engine::cpu
