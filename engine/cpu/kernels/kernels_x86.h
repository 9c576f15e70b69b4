// AVX2 kernel templates, included by kernels_avx2.cc (kVnni = false) and kernels_avxvnni.cc
// (kVnni = true), each compiled with its own -m flags. Everything here has internal linkage so
// the two instantiations can never be merged by the linker.
//
// Every output y[c][r] is computed by the same operation sequence whatever tile it falls in
// (float weights and K-quants: per block, in order, p = exact int32x8 lane sums, then
// acc = fma(float(p), d_w * d_x, acc) [+ a scalar min term]; y = HSum(acc) in a fixed lane
// order; the 32-element types: see kernels_x86_32.h).
// The integer products are exact on both variants (maddubs never saturates for these operand
// ranges: |pair| <= 2 * 128 * 127 < 32768), so avx2 and avxvnni agree bit for bit.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "engine/cpu/kernels/kernels.h"

namespace hearth::engine::cpu::kern {
namespace {

inline float Half(uint16_t h) { return _cvtsh_ss(h); }

inline float HSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Lane l = sum over bytes 4l..4l+3 of u * s (u unsigned, s signed), plus `acc`.
template <bool kVnni>
inline __m256i DotU8S8(__m256i acc, __m256i u, __m256i s) {
  if constexpr (kVnni) {
    return _mm256_dpbusd_avx_epi32(acc, u, s);
  } else {
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
  }
}

// 32 nibbles of qs[16] as bytes: [0, 16) low nibbles, [16, 32) high nibbles.
inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// Recursively picks the <R, C> instantiation for a partial tile.
template <class K, int NR, int NC, class... Args>
void TileDispatch(int nr, int nc, const Args&... args) {
  if constexpr (NR > 1) {
    if (nr < NR) return TileDispatch<K, NR - 1, NC>(nr, nc, args...);
  }
  if constexpr (NC > 1) {
    if (nc < NC) return TileDispatch<K, NR, NC - 1>(nr, nc, args...);
  }
  K::template Tile<NR, NC>(args...);
}

template <class K>
void RangeT(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  for (int64_t r = r0; r < r1; r += K::kNR) {
    const int nr = static_cast<int>(std::min<int64_t>(K::kNR, r1 - r));
    for (int64_t c = c0; c < c1; c += K::kNC) {
      const int nc = static_cast<int>(std::min<int64_t>(K::kNC, c1 - c));
      TileDispatch<K, K::kNR, K::kNC>(nr, nc, a, r, c);
    }
  }
}

// ---- 32-element block types -------------------------------------------------------------

// Per-type hooks: Unpack (weight bytes as the u8 operand), Prep (per x block: the accumulator
// start value that folds in the weight offset), Min (scalar per-block term, Q4_1 only).
template <bool kVnni>
struct Q4_0Ops {
  using Block = BlockQ4_0;
  static constexpr bool kHasMin = false;
  static __m256i Unpack(const Block& b) { return Nibbles(b.qs); }
  // (q - 8) . x = q . x - 8 * sum(x): start from -8 * lane sums of x.
  static __m256i Prep(__m256i x) {
    return _mm256_sub_epi32(_mm256_setzero_si256(),
                            DotU8S8<kVnni>(_mm256_setzero_si256(), _mm256_set1_epi8(8), x));
  }
  static __m256i Dot(__m256i w, __m256i x, __m256i prep) { return DotU8S8<kVnni>(prep, w, x); }
};

template <bool kVnni>
struct Q4_1Ops {
  using Block = BlockQ4_1;
  static constexpr bool kHasMin = true;
  static __m256i Unpack(const Block& b) { return Nibbles(b.qs); }
  static __m256i Prep(__m256i) { return _mm256_setzero_si256(); }
  static __m256i Dot(__m256i w, __m256i x, __m256i prep) { return DotU8S8<kVnni>(prep, w, x); }
};

template <bool kVnni>
struct Q8_0Ops {
  using Block = BlockQ8_0;
  static constexpr bool kHasMin = false;
  // vnni: w + 128 as u8 (w ^ 0x80), started from -128 * lane sums of x. avx2: raw w, sign trick.
  static __m256i Unpack(const Block& b) {
    const __m256i w = Load(b.qs);
    if constexpr (kVnni) return _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80)));
    return w;
  }
  static __m256i Prep(__m256i x) {
    if constexpr (kVnni) {
      return _mm256_sub_epi32(
          _mm256_setzero_si256(),
          DotU8S8<true>(_mm256_setzero_si256(), _mm256_set1_epi8(static_cast<char>(0x80)), x));
    }
    return _mm256_setzero_si256();
  }
  static __m256i Dot(__m256i w, __m256i x, __m256i prep) {
    if constexpr (kVnni) return DotU8S8<true>(prep, w, x);
    return DotU8S8<false>(prep, _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  }
};

// ---- Float weights ----------------------------------------------------------------------

struct F32Load {
  using T = float;
  static __m256 Load8(const T* p) { return _mm256_loadu_ps(p); }
  static float Load1(const T* p) { return *p; }
};
struct F16Load {
  using T = uint16_t;
  static __m256 Load8(const T* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float Load1(const T* p) { return Half(*p); }
};
struct Bf16Load {
  using T = uint16_t;
  static __m256 Load8(const T* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static float Load1(const T* p) { return Bf16ToFloat(*p); }
};

template <class L, int kTileR, int kTileC>
struct KernelFloat {
  static constexpr int kNR = kTileR, kNC = kTileC;
  using T = typename L::T;

  template <int NR, int NC>
  static void Tile(const MatArgs& a, int64_t r, int64_t c) {
    const T* w[NR];
    const float* x[NC];
    for (int i = 0; i < NR; ++i) w[i] = reinterpret_cast<const T*>(a.w + (r + i) * a.w_row_bytes);
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const float*>(a.x + (c + j) * a.x_row_bytes);
    __m256 acc[NR][NC];
    for (int i = 0; i < NR; ++i) {
      for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    const int64_t n8 = a.cols / 8 * 8;
    for (int64_t k = 0; k < n8; k += 8) {
      __m256 xv[NC];
      for (int j = 0; j < NC; ++j) xv[j] = _mm256_loadu_ps(x[j] + k);
      for (int i = 0; i < NR; ++i) {
        const __m256 wv = L::Load8(w[i] + k);
        for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
      }
    }
    for (int j = 0; j < NC; ++j) {
      float* y = a.y + (c + j) * a.y_stride + r;
      for (int i = 0; i < NR; ++i) {
        float tail = 0.0f;
        for (int64_t k = n8; k < a.cols; ++k) tail += L::Load1(w[i] + k) * x[j][k];
        y[i] = HSum(acc[i][j]) + tail;
      }
    }
  }
};

}  // namespace
}  // namespace hearth::engine::cpu::kern
