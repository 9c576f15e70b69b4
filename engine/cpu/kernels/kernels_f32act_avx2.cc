// AVX2 + FMA + F16C float-activation kernels (compiled with -mavx2 -mfma -mf16c). The
// dequantizers repeat engine/quant's float operations one for one (multiply, then add or
// subtract: no fma), so the tile holds the same bits as the scalar twin's.
#include <immintrin.h>

#include "engine/cpu/kernels/kernels_f32act.h"

namespace hearth::engine::cpu::kern {
namespace {

inline float Half(uint16_t h) { return _cvtsh_ss(h); }

inline __m128i Load16(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline __m256i Load32(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Bytes 0..7 of v as floats (unsigned / signed).
inline __m256 U8ToFloat(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
inline __m256 S8ToFloat(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

// The row 16 rows further on (rows stream from DRAM at decode).
inline void Prefetch(const uint8_t* p, int64_t bytes) {
  for (int64_t off = 0; off < bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

// 16 unsigned byte values q (in v) -> out[0..16) = f(float(q)).
template <class F>
inline void Store16U(__m128i v, float* out, F f) {
  _mm256_storeu_ps(out, f(U8ToFloat(v)));
  _mm256_storeu_ps(out + 8, f(U8ToFloat(_mm_srli_si128(v, 8))));
}

void DeqQ4_0(const uint8_t* w, int64_t cols, float* out) {
  const auto* b = reinterpret_cast<const BlockQ4_0*>(w);
  const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  Prefetch(w + 16 * (cols / kQK) * sizeof(BlockQ4_0), (cols / kQK) * sizeof(BlockQ4_0));
  for (int64_t i = 0; i < cols / kQK; ++i, out += kQK) {
    const __m256 d = _mm256_set1_ps(Half(b[i].d));
    const __m128i t = Load16(b[i].qs);
    // q - 8 in [-8, 8): signed bytes.
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(t, low4), eight);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(t, 4), low4), eight);
    _mm256_storeu_ps(out, _mm256_mul_ps(d, S8ToFloat(lo)));
    _mm256_storeu_ps(out + 8, _mm256_mul_ps(d, S8ToFloat(_mm_srli_si128(lo, 8))));
    _mm256_storeu_ps(out + 16, _mm256_mul_ps(d, S8ToFloat(hi)));
    _mm256_storeu_ps(out + 24, _mm256_mul_ps(d, S8ToFloat(_mm_srli_si128(hi, 8))));
  }
}

void DeqQ4_1(const uint8_t* w, int64_t cols, float* out) {
  const auto* b = reinterpret_cast<const BlockQ4_1*>(w);
  const __m128i low4 = _mm_set1_epi8(0x0F);
  Prefetch(w + 16 * (cols / kQK) * sizeof(BlockQ4_1), (cols / kQK) * sizeof(BlockQ4_1));
  for (int64_t i = 0; i < cols / kQK; ++i, out += kQK) {
    const __m256 d = _mm256_set1_ps(Half(b[i].d));
    const __m256 m = _mm256_set1_ps(Half(b[i].m));
    const __m128i t = Load16(b[i].qs);
    auto f = [&](__m256 q) { return _mm256_add_ps(_mm256_mul_ps(d, q), m); };
    Store16U(_mm_and_si128(t, low4), out, f);
    Store16U(_mm_and_si128(_mm_srli_epi16(t, 4), low4), out + 16, f);
  }
}

void DeqQ8_0(const uint8_t* w, int64_t cols, float* out) {
  const auto* b = reinterpret_cast<const BlockQ8_0*>(w);
  Prefetch(w + 16 * (cols / kQK) * sizeof(BlockQ8_0), (cols / kQK) * sizeof(BlockQ8_0));
  for (int64_t i = 0; i < cols / kQK; ++i, out += kQK) {
    const __m256 d = _mm256_set1_ps(Half(b[i].d));
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs + 16));
    _mm256_storeu_ps(out, _mm256_mul_ps(S8ToFloat(q0), d));
    _mm256_storeu_ps(out + 8, _mm256_mul_ps(S8ToFloat(_mm_srli_si128(q0, 8)), d));
    _mm256_storeu_ps(out + 16, _mm256_mul_ps(S8ToFloat(q1), d));
    _mm256_storeu_ps(out + 24, _mm256_mul_ps(S8ToFloat(_mm_srli_si128(q1, 8)), d));
  }
}

// Q4_K / Q5_K: y = (d * sc[j]) * q - (dmin * m[j]) for sub-block j.
template <typename Block, bool kFive>
void DeqK4(const uint8_t* w, int64_t cols, float* out) {
  const auto* b = reinterpret_cast<const Block*>(w);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  Prefetch(w + 16 * (cols / kQKK) * sizeof(Block), (cols / kQKK) * sizeof(Block));
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    const float d = Half(b[i].d), dmin = Half(b[i].dmin);
    __m256i qh;
    if constexpr (kFive) qh = Load32(b[i].qh);
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = Load32(b[i].qs + 32 * c);
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * c + h;
        uint8_t sc, m;
        ScaleMinK4(j, b[i].scales, &sc, &m);
        const __m256 dsc = _mm256_set1_ps(d * static_cast<float>(sc));
        const __m256 dm = _mm256_set1_ps(dmin * static_cast<float>(m));
        __m256i q = _mm256_and_si256(h == 0 ? raw : _mm256_srli_epi16(raw, 4), low4);
        if constexpr (kFive) {
          const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << j));
          const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
          q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(16)));
        }
        auto f = [&](__m256 v) { return _mm256_sub_ps(_mm256_mul_ps(dsc, v), dm); };
        Store16U(_mm256_castsi256_si128(q), out, f);
        Store16U(_mm256_extracti128_si256(q, 1), out + 16, f);
        out += 32;
      }
    }
  }
}

// Q6_K: y = (d * scales[e / 16]) * (q - 32).
void DeqQ6_K(const uint8_t* w, int64_t cols, float* out) {
  const auto* b = reinterpret_cast<const BlockQ6_K*>(w);
  const __m256i low4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
  const __m256i m32 = _mm256_set1_epi8(32);
  Prefetch(w + 16 * (cols / kQKK) * sizeof(BlockQ6_K), (cols / kQKK) * sizeof(BlockQ6_K));
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    const float d = Half(b[i].d);
    for (int j = 0; j < 2; ++j) {
      const __m256i qh = Load32(b[i].qh + 32 * j);
      for (int s = 0; s < 4; ++s) {
        const __m256i ql = Load32(b[i].ql + 64 * j + 32 * (s % 2));
        const __m256i lo = _mm256_and_si256(s < 2 ? ql : _mm256_srli_epi16(ql, 4), low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), three);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), m32);
        const int sc = 8 * j + 2 * s;
        const __m256 d0 = _mm256_set1_ps(d * static_cast<float>(b[i].scales[sc]));
        const __m256 d1 = _mm256_set1_ps(d * static_cast<float>(b[i].scales[sc + 1]));
        const __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
        _mm256_storeu_ps(out, _mm256_mul_ps(d0, S8ToFloat(q0)));
        _mm256_storeu_ps(out + 8, _mm256_mul_ps(d0, S8ToFloat(_mm_srli_si128(q0, 8))));
        _mm256_storeu_ps(out + 16, _mm256_mul_ps(d1, S8ToFloat(q1)));
        _mm256_storeu_ps(out + 24, _mm256_mul_ps(d1, S8ToFloat(_mm_srli_si128(q1, 8))));
        out += 32;
      }
    }
  }
}

// Same lane order as kernels.h: ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
inline float HSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct Avx2Dot {
  static constexpr int kNC = 3;

  template <int NR, int NC>
  static void Tile(const float* tile, const MatArgs& a, int64_t r, int64_t c) {
    const float* w[NR];
    const float* x[NC];
    for (int i = 0; i < NR; ++i) w[i] = tile + i * a.cols;
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const float*>(a.x + (c + j) * a.x_row_bytes);
    __m256 acc[NR][NC];
    for (int i = 0; i < NR; ++i) {
      for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < a.cols; k += 8) {
      __m256 xv[NC];
      for (int j = 0; j < NC; ++j) xv[j] = _mm256_loadu_ps(x[j] + k);
      for (int i = 0; i < NR; ++i) {
        const __m256 wv = _mm256_loadu_ps(w[i] + k);
        for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
      }
    }
    for (int j = 0; j < NC; ++j) {
      float* y = a.y + (c + j) * a.y_stride + r;
      for (int i = 0; i < NR; ++i) y[i] = HSum(acc[i][j]);
    }
  }

  template <int NR>
  static void Cols(const float* tile, const MatArgs& a, int64_t r, int64_t c0, int64_t c1) {
    int64_t c = c0;
    for (; c + kNC <= c1; c += kNC) Tile<NR, kNC>(tile, a, r, c);
    for (; c < c1; ++c) Tile<NR, 1>(tile, a, r, c);
  }

  static void Run(const float* tile, int nr, const MatArgs& a, int64_t r, int64_t c0, int64_t c1) {
    static_assert(kF32ActRows == 4);
    switch (nr) {
      case 4:
        return Cols<4>(tile, a, r, c0, c1);
      case 3:
        return Cols<3>(tile, a, r, c0, c1);
      case 2:
        return Cols<2>(tile, a, r, c0, c1);
      default:
        return Cols<1>(tile, a, r, c0, c1);
    }
  }
};

}  // namespace

const KernelTable& Avx2F32ActKernels() {
  static const KernelTable table = {
      .q4_0 = RangeF32Act<DeqQ4_0, Avx2Dot>,
      .q4_1 = RangeF32Act<DeqQ4_1, Avx2Dot>,
      .q8_0 = RangeF32Act<DeqQ8_0, Avx2Dot>,
      .q4_k = RangeF32Act<DeqK4<BlockQ4_K, false>, Avx2Dot>,
      .q5_k = RangeF32Act<DeqK4<BlockQ5_K, true>, Avx2Dot>,
      .q6_k = RangeF32Act<DeqQ6_K, Avx2Dot>,
  };
  return table;
}

}  // namespace hearth::engine::cpu::kern
