#include "bench/kernels/bandwidth.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/cpu/kernels/thread_pool.h"

namespace hearth::bench {
namespace {

constexpr int kPasses = 5;
constexpr size_t kPrefetchAhead = 1024;  // bytes, as far ahead as the kernels prefetch

// Sums [p, p + bytes) as 64-bit lanes with 8 independent accumulators (SSE2: every x86-64).
uint64_t SumBytesSse2(const uint8_t* p, size_t bytes) {
  __m128i acc[8];
  for (__m128i& a : acc) a = _mm_setzero_si128();
  const size_t step = 8 * sizeof(__m128i);
  for (size_t i = 0; i + step <= bytes; i += step) {
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

// The same with 256-bit loads and a software prefetch per cache line.
__attribute__((target("avx2"))) uint64_t SumBytesAvx2(const uint8_t* p, size_t bytes) {
  __m256i acc[8];
  for (__m256i& a : acc) a = _mm256_setzero_si256();
  const size_t step = 8 * sizeof(__m256i);
  for (size_t i = 0; i + step <= bytes; i += step) {
    for (size_t line = 0; line < step; line += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(p + i + kPrefetchAhead + line), _MM_HINT_T0);
    }
    for (int k = 0; k < 8; ++k) {
      acc[k] =
          _mm256_add_epi64(acc[k], _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i) + k));
    }
  }
  __m256i s = acc[0];
  for (int k = 1; k < 8; ++k) s = _mm256_add_epi64(s, acc[k]);
  uint64_t out[4];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), s);
  return out[0] + out[1] + out[2] + out[3];
}

uint64_t SumBytes(const uint8_t* p, size_t bytes) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? SumBytesAvx2(p, bytes) : SumBytesSse2(p, bytes);
}

}  // namespace

double MeasureReadBandwidthGBs(int threads, int64_t bytes) {
  threads = std::max(1, threads);
  const int64_t slices = threads;
  const size_t slice = static_cast<size_t>(bytes) / slices / 4096 * 4096;
  // Slack past the end so prefetches never touch unmapped memory.
  uint8_t* buf = static_cast<uint8_t*>(std::aligned_alloc(4096, slice * slices + 4096));
  engine::cpu::ThreadPool pool(threads);
  // Touch every page on the thread that will read it (first-touch placement).
  pool.ParallelFor(slices, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) std::memset(buf + s * slice, static_cast<int>(s + 1), slice);
  });
  std::memset(buf + slice * slices, 0, 4096);
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
