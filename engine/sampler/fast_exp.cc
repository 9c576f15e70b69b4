#include "engine/sampler/fast_exp.h"

namespace hearth::sampler {
namespace {

// Work in blocks: the exp loop vectorizes (no reduction in it); the block is then summed with
// kLanes independent float accumulators (a fixed order, so results are deterministic) and the
// block sums are added in double.
constexpr size_t kBlock = 256;
constexpr size_t kLanes = 16;

float SumBlock(const float* e, size_t n) {
  float acc[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) acc[j] += e[i + j];
  }
  for (; i < n; ++i) acc[0] += e[i];
  float sum = 0.0f;
  for (size_t j = 0; j < kLanes; ++j) sum += acc[j];
  return sum;
}

// x86-64: an AVX2 clone picked at load time (ifunc), SSE2 otherwise. Both clones run the same
// IEEE operations in the same order (no FMA contraction), so they give identical results.
// Not under ThreadSanitizer: GCC instruments the ifunc resolver, which the dynamic loader runs
// before the TSan runtime is up (a segfault at start).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define HEARTH_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HEARTH_SIMD_CLONES
#endif

}  // namespace

HEARTH_SIMD_CLONES double ExpShifted(const float* x, size_t n, float shift, float scale,
                                     float* out) {
  double total = 0.0;
  for (size_t begin = 0; begin < n; begin += kBlock) {
    const size_t len = begin + kBlock < n ? kBlock : n - begin;
    const float* xb = x + begin;
    float* ob = out + begin;
    for (size_t i = 0; i < len; ++i) ob[i] = ExpNonPositive((xb[i] - shift) * scale);
    total += SumBlock(ob, len);
  }
  return total;
}

HEARTH_SIMD_CLONES double SumExpShifted(const float* x, size_t n, float shift) {
  float tmp[kBlock];
  double total = 0.0;
  for (size_t begin = 0; begin < n; begin += kBlock) {
    const size_t len = begin + kBlock < n ? kBlock : n - begin;
    const float* xb = x + begin;
    for (size_t i = 0; i < len; ++i) tmp[i] = ExpNonPositive(xb[i] - shift);
    total += SumBlock(tmp, len);
  }
  return total;
}

}  // namespace hearth::sampler
