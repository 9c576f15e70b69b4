#include "bench/kernels/bandwidth.h"

#include <emmintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/cpu/kernels/thread_pool.h"

namespace hearth::bench {
namespace {

constexpr size_t kBufferBytes = size_t{256} << 20;
constexpr int kPasses = 5;

// Sums [p, p + bytes) as 64-bit lanes with 8 independent accumulators (SSE2: every x86-64).
uint64_t SumBytes(const uint8_t* p, size_t bytes) {
  __m128i acc[8];
  for (__m128i& a : acc) a = _mm_setzero_si128();
  const size_t step = 8 * sizeof(__m128i);
  size_t i = 0;
  for (; i + step <= bytes; i += step) {
    for (int k = 0; k < 8; ++k) {
      acc[k] = _mm_add_epi64(acc[k], _mm_load_si128(reinterpret_cast<const __m128i*>(p + i) + k));
    }
  }
  __m128i s = acc[0];
  for (int k = 1; k < 8; ++k) s = _mm_add_epi64(s, acc[k]);
  uint64_t out[2];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), s);
  return out[0] + out[1];
}

}  // namespace

double MeasureReadBandwidthGBs(int threads) {
  threads = std::max(1, threads);
  uint8_t* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, kBufferBytes));
  engine::cpu::ThreadPool pool(threads);
  const int64_t slices = threads;
  const size_t slice = kBufferBytes / slices / 4096 * 4096;
  // Touch every page on the thread that will read it (first-touch placement).
  pool.ParallelFor(slices, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) std::memset(buf + s * slice, static_cast<int>(s + 1), slice);
  });
  std::vector<uint64_t> sinks(slices);
  double best = 0.0;
  for (int pass = 0; pass < kPasses; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.ParallelFor(slices, [&](int64_t b, int64_t e) {
      for (int64_t s = b; s < e; ++s) sinks[s] += SumBytes(buf + s * slice, slice);
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(slice * slices) / sec / 1e9);
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sinks) keep = keep + v;
  std::free(buf);
  return best;
}

}  // namespace hearth::bench
