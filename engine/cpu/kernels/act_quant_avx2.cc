// AVX2 activation quantization: the same operations as act_quant.cc's scalar loops (max of
// |x|, one division each for d and 1/d, x * id rounded half-to-even, clamp), so the same
// bytes; only faster. Compiled with -mavx2 -mfma -mf16c.
#include <immintrin.h>

#include "engine/cpu/kernels/kernels.h"

namespace hearth::engine::cpu::kern::internal {
namespace {

inline float HMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline int32_t HSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// Quantizes len (a multiple of 32) floats; writes q and per-32 int32 vectors of the values
// (for the callers' sums). Returns d.
float QuantizeBlock(const float* x, int len, int8_t* q, __m256i* values) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 vmax = _mm256_setzero_ps();
  for (int i = 0; i < len; i += 8) {
    // max_ps returns its second operand when either is NaN: NaNs are skipped, as by fmax.
    vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), vmax);
  }
  const float amax = HMax(vmax);
  const bool zero = !(amax >= kMinAmax);
  const float d = zero ? 0.0f : amax / 127.0f;
  const __m256 id = _mm256_set1_ps(zero ? 0.0f : 127.0f / amax);
  const __m256 hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
  for (int i = 0; i < len; i += 32) {
    __m256i v[4];
    for (int k = 0; k < 4; ++k) {
      __m256 f = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), id),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);  // NaN -> -127, as fmin(127, fmax(-127, v))
      v[k] = _mm256_cvtps_epi32(f);
      values[i / 8 + k] = v[k];
    }
    const __m256i b =
        _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    const __m256i ordered =
        _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), ordered);
  }
  return d;
}

}  // namespace

void QuantizeRowQ8Avx2(const float* x, int64_t cols, ActQ8* out) {
  __m256i values[kQK / 8];
  for (int64_t b = 0; b < cols / kQK; ++b) {
    ActQ8& blk = out[b];
    blk.d = QuantizeBlock(x + b * kQK, kQK, blk.q, values);
    const int32_t sum = HSum(_mm256_add_epi32(_mm256_add_epi32(values[0], values[1]),
                                              _mm256_add_epi32(values[2], values[3])));
    blk.s = blk.d * static_cast<float>(sum);
    blk.neg8_sum = -8 * sum;
    blk.neg128_sum = -128 * sum;
  }
}

void QuantizeRowQ8KAvx2(const float* x, int64_t cols, ActQ8K* out) {
  __m256i values[kQKK / 8];
  for (int64_t b = 0; b < cols / kQKK; ++b) {
    ActQ8K& blk = out[b];
    blk.d = QuantizeBlock(x + b * kQKK, kQKK, blk.q, values);
    for (int j = 0; j < kQKK / 16; ++j) {
      blk.bsums[j] = static_cast<int16_t>(HSum(_mm256_add_epi32(values[2 * j], values[2 * j + 1])));
    }
  }
}

}  // namespace hearth::engine::cpu::kern::internal
