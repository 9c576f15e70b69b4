// The software prefetch queue of the SIMD attention kernels (attention_avx2.cc and
// attention_avx512.cc). Only SSE's _mm_prefetch, but each kernel file is compiled for its own
// instruction set, so the code lives in an unnamed namespace: every file gets its own copy, and
// the linker can never hand the AVX2 path a copy compiled for AVX-512.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace hearth::engine::cpu::internal {
namespace {

// Software prefetches of whole K/V tiles, issued a slice at a time between score tiles: a burst
// of a few hundred lines would stall on the line-fill buffers with no work behind it. Blocks sit
// anywhere in the pool, so the hardware prefetchers cannot guess the next one.
template <int kCapacity>
struct PrefetchQueue {
  const char* p[kCapacity];
  int32_t lines[kCapacity];
  bool l1[kCapacity];
  int32_t n = 0, next = 0, total = 0;
  // REQUIRES: fewer than kCapacity ranges added so far.
  void Add(const void* ptr, int64_t bytes, bool to_l1) {
    p[n] = static_cast<const char*>(ptr);
    lines[n] = static_cast<int32_t>((bytes + 63) / 64);
    l1[n] = to_l1;
    total += lines[n];
    ++n;
  }
  // Prefetches the next `count` queued lines (to L1, or to L2 for ranges added with !to_l1).
  void Issue(int32_t count) {
    for (; count > 0 && next < n; ++next) {
      const int32_t k = std::min(count, lines[next]);
      for (int32_t i = 0; i < k; ++i) {
        if (l1[next]) {
          _mm_prefetch(p[next] + 64 * i, _MM_HINT_T0);
        } else {
          _mm_prefetch(p[next] + 64 * i, _MM_HINT_T1);
        }
      }
      p[next] += 64 * k;
      lines[next] -= k;
      count -= k;
      if (lines[next] > 0) break;
    }
  }
};

}  // namespace
}  // namespace hearth::engine::cpu::internal
