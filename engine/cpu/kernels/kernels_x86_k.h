// AVX2 K-quant kernel templates (Q4_K, Q5_K, Q6_K); see kernels_x86.h for the invariants.
// Per super-block the integer sum (sub-block scales applied in int32) is exact; then
//   acc = fma(float(isum), d * d_x, acc),  accm += dmin * d_x * float(imin)  (Q4_K, Q5_K)
// and y = HSum(acc) - accm.
#pragma once

#include "engine/cpu/kernels/kernels_x86.h"
#include "engine/cpu/kernels/kernels_x86_strip.h"

namespace hearth::engine::cpu::kern {
namespace {

// The bytes [p, p + len) of the row 16 rows further on (weights stream from DRAM at decode).
inline void PrefetchAhead(const void* p, int len, int64_t row_bytes) {
  const char* ahead = static_cast<const char*>(p) + 16 * row_bytes;
  for (int off = 0; off < len; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
}

// Q4_K and Q5_K (kFive adds the qh bit).
template <typename Block, bool kFive, int kTileR, int kTileC>
struct KernelK4 {
  static constexpr int kNR = kTileR, kNC = kTileC;

  template <int NR, int NC>
  static void Tile(const MatArgs& a, int64_t r, int64_t c) {
    const int64_t nb = a.cols / kQKK;
    const Block* w[NR];
    const ActQ8K* x[NC];
    for (int i = 0; i < NR; ++i)
      w[i] = reinterpret_cast<const Block*>(a.w + (r + i) * a.w_row_bytes);
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const ActQ8K*>(a.x + (c + j) * a.x_row_bytes);
    __m256 acc[NR][NC];
    float accm[NR][NC];
    for (int i = 0; i < NR; ++i) {
      for (int j = 0; j < NC; ++j) {
        acc[i][j] = _mm256_setzero_ps();
        accm[i][j] = 0.0f;
      }
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      for (int i = 0; i < NR; ++i) {
        const Block& blk = w[i][b];
        PrefetchAhead(&blk, sizeof(Block), a.w_row_bytes);
        uint8_t sc[8], m[8];
        for (int s = 0; s < 8; ++s) ScaleMinK4(s, blk.scales, &sc[s], &m[s]);
        __m256i isum[NC];
        for (int j = 0; j < NC; ++j) isum[j] = _mm256_setzero_si256();
        __m256i qh;
        if constexpr (kFive) qh = Load(blk.qh);
        for (int k = 0; k < 4; ++k) {
          const __m256i raw = Load(blk.qs + 32 * k);
          __m256i lo = _mm256_and_si256(raw, low4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
          if constexpr (kFive) {
            const __m256i mlo = _mm256_set1_epi8(static_cast<char>(1 << (2 * k)));
            const __m256i mhi = _mm256_set1_epi8(static_cast<char>(1 << (2 * k + 1)));
            const __m256i sixteen = _mm256_set1_epi8(16);
            lo = _mm256_or_si256(
                lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, mlo), mlo), sixteen));
            hi = _mm256_or_si256(
                hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, mhi), mhi), sixteen));
          }
          const __m256i slo = _mm256_set1_epi16(sc[2 * k]);
          const __m256i shi = _mm256_set1_epi16(sc[2 * k + 1]);
          for (int j = 0; j < NC; ++j) {
            const __m256i pl =
                _mm256_madd_epi16(_mm256_maddubs_epi16(lo, Load(x[j][b].q + 64 * k)), slo);
            const __m256i ph =
                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, Load(x[j][b].q + 64 * k + 32)), shi);
            isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(pl, ph));
          }
        }
        const float d = Half(blk.d);
        const float dmin = Half(blk.dmin);
        for (int j = 0; j < NC; ++j) {
          int32_t imin = 0;
          for (int s = 0; s < 8; ++s)
            imin += m[s] * (x[j][b].bsums[2 * s] + x[j][b].bsums[2 * s + 1]);
          acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_set1_ps(d * x[j][b].d),
                                      acc[i][j]);
          accm[i][j] += dmin * x[j][b].d * static_cast<float>(imin);
        }
      }
    }
    for (int j = 0; j < NC; ++j) {
      float* y = a.y + (c + j) * a.y_stride + r;
      for (int i = 0; i < NR; ++i) y[i] = HSum(acc[i][j]) - accm[i][j];
    }
  }
};

template <int kTileR, int kTileC>
struct KernelQ6K {
  static constexpr int kNR = kTileR, kNC = kTileC;

  template <int NR, int NC>
  static void Tile(const MatArgs& a, int64_t r, int64_t c) {
    const int64_t nb = a.cols / kQKK;
    const BlockQ6_K* w[NR];
    const ActQ8K* x[NC];
    for (int i = 0; i < NR; ++i)
      w[i] = reinterpret_cast<const BlockQ6_K*>(a.w + (r + i) * a.w_row_bytes);
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const ActQ8K*>(a.x + (c + j) * a.x_row_bytes);
    __m256 acc[NR][NC];
    for (int i = 0; i < NR; ++i) {
      for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i three = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < nb; ++b) {
      for (int i = 0; i < NR; ++i) {
        const BlockQ6_K& blk = w[i][b];
        PrefetchAhead(&blk, sizeof(BlockQ6_K), a.w_row_bytes);
        __m256i isum[NC];
        for (int j = 0; j < NC; ++j) isum[j] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
          const __m256i ql0 = Load(blk.ql + 64 * h);
          const __m256i ql1 = Load(blk.ql + 64 * h + 32);
          const __m256i qhv = Load(blk.qh + 32 * h);
          __m256i q[4];
          q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4),
                                 _mm256_slli_epi16(_mm256_and_si256(qhv, three), 4));
          q[1] = _mm256_or_si256(
              _mm256_and_si256(ql1, low4),
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhv, 2), three), 4));
          q[2] = _mm256_or_si256(
              _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhv, 4), three), 4));
          q[3] = _mm256_or_si256(
              _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhv, 6), three), 4));
          for (int k = 0; k < 4; ++k) {
            const int s = 8 * h + 2 * k;
            const __m256i scv =
                _mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 1]), _mm_set1_epi16(blk.scales[s]));
            for (int j = 0; j < NC; ++j) {
              const __m256i p = _mm256_maddubs_epi16(q[k], Load(x[j][b].q + 128 * h + 32 * k));
              isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(p, scv));
            }
          }
        }
        // Subtract 32 * sum_s scales[s] * bsums[s] (the -32 offset of every quant).
        const __m256i sc16 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
        const float d = Half(blk.d);
        for (int j = 0; j < NC; ++j) {
          const __m256i corr = _mm256_madd_epi16(sc16, Load(x[j][b].bsums));
          const __m256i total = _mm256_sub_epi32(isum[j], _mm256_slli_epi32(corr, 5));
          acc[i][j] =
              _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_set1_ps(d * x[j][b].d), acc[i][j]);
        }
      }
    }
    for (int j = 0; j < NC; ++j) {
      float* y = a.y + (c + j) * a.y_stride + r;
      for (int i = 0; i < NR; ++i) y[i] = HSum(acc[i][j]);
    }
  }
};

// The table for one variant: kVnni selects the dot product of the K-quant kernels, Lanes the
// vector width of the strip kernels. K-quant tiles are 2 x 2 (int and float accumulators).
template <bool kVnni, class Lanes>
KernelTable MakeX86Table() {
  KernelTable t;
  t.strips = true;
  t.f32 = RangeT<KernelFloat<F32Load, 4, 2>>;
  t.f16 = RangeT<KernelFloat<F16Load, 4, 2>>;
  t.bf16 = RangeT<KernelFloat<Bf16Load, 4, 2>>;
  t.q4_0 = StripKernel<Lanes, StripQ4_0>::Range;
  t.q4_1 = StripKernel<Lanes, StripQ4_1>::Range;
  t.q8_0 = StripKernel<Lanes, StripQ8_0>::Range;
  t.q4_k = RangeT<KernelK4<BlockQ4_K, false, 2, 2>>;
  t.q5_k = RangeT<KernelK4<BlockQ5_K, true, 2, 2>>;
  t.q6_k = RangeT<KernelQ6K<2, 2>>;
  return t;
}

}  // namespace
}  // namespace hearth::engine::cpu::kern
