// AVX2 float-weight kernel templates and helpers, included (through kernels_x86_k.h) by
// kernels_avx2.cc, kernels_avxvnni.cc and kernels_avx512.cc, each compiled with its own -m
// flags. Everything here has internal linkage so the instantiations can never be merged by the
// linker.
//
// Every output y[c][r] is computed by the same operation sequence whatever tile it falls in
// (float weights: 8 lanes of fma in order, y = HSum(acc) in a fixed lane order, then the tail;
// the block-quantized types: see kernels_x86_strip.h and kernels_x86_kstrip.h).
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
