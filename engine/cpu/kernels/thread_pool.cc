// ThreadPool: workers wait on a generation counter (short spin, then a futex sleep), so a
// ParallelFor costs a few atomic operations when workers are hot. (Raw futexes rather than
// std::atomic::wait: libstdc++ 12's implementation lost wake-ups here.)
#include "engine/cpu/kernels/thread_pool.h"

#include <atomic>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HEARTH_CPU_RELAX() _mm_pause()
#else
#define HEARTH_CPU_RELAX() \
  do {                     \
  } while (0)
#endif

namespace hearth::engine::cpu {
namespace {

// Spin iterations before sleeping (a pause is ~10-140 cycles; this is tens of microseconds,
// longer than the gap between two matmuls of one forward pass).
constexpr int kSpinIterations = 1 << 14;
// Yield the CPU every this many spins: when threads outnumber free cores (a shared machine),
// the thread we wait for may be runnable but not running.
constexpr int kYieldEvery = 256;

// Spins (pausing, yielding now and then) until done() or the spin budget runs out.
template <class Done>
bool SpinUntil(const Done& done) {
  for (int i = 1; i <= kSpinIterations; ++i) {
    if (done()) return true;
    if (i % kYieldEvery == 0) {
      std::this_thread::yield();
    } else {
      HEARTH_CPU_RELAX();
    }
  }
  return done();
}

// Chunk t of T over [0, n): [n * t / T, n * (t + 1) / T).
inline int64_t ChunkBegin(int64_t n, int t, int num_threads) { return n * t / num_threads; }

// Sleeps while *word == expected (may return spuriously).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
#else
  (void)word;
  (void)expected;
  std::this_thread::yield();
#endif
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
#else
  (void)word;
#endif
}

}  // namespace

class ThreadPool::Impl {
 public:
  explicit Impl(int num_threads) : num_threads_(num_threads < 1 ? 1 : num_threads) {
    for (int t = 1; t < num_threads_; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
  }

  ~Impl() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    FutexWakeAll(&generation_);
    for (std::thread& w : workers_) w.join();
  }

  int num_threads() const { return num_threads_; }

  void Park() { park_.store(true, std::memory_order_relaxed); }

  void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    if (num_threads_ == 1) {
      fn(0, n);
      return;
    }
    n_ = n;
    fn_ = &fn;
    park_.store(false, std::memory_order_relaxed);
    pending_.store(num_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) FutexWakeAll(&generation_);
    RunChunk(0);
    // Wait for the workers: spin, then sleep on pending_.
    if (SpinUntil([this] { return pending_.load(std::memory_order_acquire) == 0; })) return;
    caller_sleeping_.store(1, std::memory_order_seq_cst);
    for (;;) {
      const uint32_t p = pending_.load(std::memory_order_seq_cst);
      if (p == 0) break;
      FutexWait(&pending_, p);
    }
    caller_sleeping_.store(0, std::memory_order_relaxed);
  }

 private:
  void RunChunk(int t) {
    const int64_t begin = ChunkBegin(n_, t, num_threads_);
    const int64_t end = ChunkBegin(n_, t + 1, num_threads_);
    if (begin < end) (*fn_)(begin, end);
  }

  void WorkerLoop(int t) {
    // Generation 0 is the state at construction: a job posted before this thread got here
    // is still seen as new.
    uint32_t seen = 0;
    for (;;) {
      uint32_t g = seen;
      SpinUntil([&] {
        return (g = generation_.load(std::memory_order_acquire)) != seen ||
               park_.load(std::memory_order_relaxed);
      });
      if (g == seen) {
        sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
        while ((g = generation_.load(std::memory_order_seq_cst)) == seen) {
          FutexWait(&generation_, seen);
        }
        sleeping_workers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = g;
      if (stop_.load(std::memory_order_relaxed)) return;
      RunChunk(t);
      if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          caller_sleeping_.load(std::memory_order_seq_cst) != 0) {
        FutexWakeAll(&pending_);
      }
    }
  }

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> pending_{0};      // workers still running this generation
  std::atomic<int> sleeping_workers_{0};  // workers in (or entering) FutexWait
  std::atomic<uint32_t> caller_sleeping_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> park_{false};  // idle workers sleep at once instead of spinning
  // Written by the caller before generation_ is bumped (release), read by workers after they
  // observe the new generation (acquire).
  int64_t n_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
};

ThreadPool::ThreadPool(int num_threads) : impl_(new Impl(num_threads)) {}
ThreadPool::~ThreadPool() { delete impl_; }
int ThreadPool::num_threads() const { return impl_->num_threads(); }
void ThreadPool::Park() { impl_->Park(); }
void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn) {
  impl_->ParallelFor(n, fn);
}

}  // namespace hearth::engine::cpu
