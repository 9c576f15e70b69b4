// AVX2 kernels for the 32-element block types (Q4_0, Q4_1, Q8_0); see kernels_x86.h.
//
// Blocks are taken in groups of 8 and each output keeps one float lane per block of a group:
//   isum8[k] = exact integer dot of block 8g + k (0 past the last block)
//   acc = fma(float(isum8), wd8 * xd8, acc)        (lane k: d_w(8g + k) * d_x(8g + k))
//   acc = fma(m8, s8, acc)                         (Q4_1 only: lane k: m_w * s_x)
//   y = HSum(acc)
// Two ways to get isum8, with identical integers (so identical bits):
//   direct: per block int32x8 lane sums (Ops::Dot), then a horizontal-add tree over the 8
//           blocks (decode: n <= kNC, no repacking);
//   packed: weights of a row tile and x of a column chunk are unpacked and transposed once so
//           that vector v, lane k holds bytes 4v..4v+3 of block k; then eight dot-accumulate
//           instructions give isum8 directly (batches: ~1.5 vector ops per block instead of 4).
#pragma once

#include <vector>

#include "engine/cpu/kernels/kernels_x86.h"

namespace hearth::engine::cpu::kern {
namespace {

constexpr int kGroup = 8;
#ifndef HEARTH_PREFETCH_ROWS
#define HEARTH_PREFETCH_ROWS 16
#endif
constexpr int64_t kPrefetchRows = HEARTH_PREFETCH_ROWS;

// Lane k = sum of the 8 lanes of p[k].
inline __m256i Reduce8(const __m256i p[8]) {
  const __m256i t0 = _mm256_hadd_epi32(p[0], p[1]);
  const __m256i t1 = _mm256_hadd_epi32(p[2], p[3]);
  const __m256i t2 = _mm256_hadd_epi32(p[4], p[5]);
  const __m256i t3 = _mm256_hadd_epi32(p[6], p[7]);
  const __m256i u0 = _mm256_hadd_epi32(t0, t1);  // [p0..p3 low halves | p0..p3 high halves]
  const __m256i u1 = _mm256_hadd_epi32(t2, t3);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                          _mm256_permute2x128_si256(u0, u1, 0x31));
}

// In place: out[v] lane k = in[k] lane v (8x8 transpose of int32).
inline void Transpose8(__m256i r[8]) {
  __m256i t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    s[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    s[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    s[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    s[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2x128_si256(s[i], s[i + 4], 0x20);
    r[i + 4] = _mm256_permute2x128_si256(s[i], s[i + 4], 0x31);
  }
}

// Eight fp16 values held in the low 16 bits of each int32 lane -> floats (exact).
inline __m256 HalvesToFloat(__m256i v) {
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
  return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

inline void Store(uint8_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

// Repacked operands of one group: 8 transposed vectors, 8 scales, 8 offsets (see Ops::Prep),
// 8 Q4_1 terms (weights: mins m; activations: s = d * sum(q)). 256 + 96 bytes.
struct PackedGroup {
  uint8_t v[kGroup][32];
  int32_t prep[kGroup];
  float d[kGroup];
  float ms[kGroup];
};

template <class Ops>
struct Kernel32Common {
  using Block = typename Ops::Block;

  static float MinOf(const Block& b) {
    if constexpr (Ops::kHasMin) {
      return Half(b.m);
    } else {
      (void)b;
      return 0.0f;
    }
  }

  // Weight row `w`, groups [0, ng) -> out[ng].
  static void PackWeights(const Block* w, int64_t nb, PackedGroup* out) {
    for (int64_t g = 0; g * kGroup < nb; ++g) {
      __m256i r[kGroup];
      for (int k = 0; k < kGroup; ++k) {
        const int64_t b = g * kGroup + k;
        const bool ok = b < nb;
        r[k] = ok ? Ops::Unpack(w[b]) : _mm256_setzero_si256();
        out[g].d[k] = ok ? Half(w[b].d) : 0.0f;
        out[g].ms[k] = ok ? MinOf(w[b]) : 0.0f;
        out[g].prep[k] = 0;
      }
      Transpose8(r);
      for (int v = 0; v < kGroup; ++v) Store(out[g].v[v], r[v]);
    }
  }

  // Activation row `x`, groups [0, ng) -> out[ng]. prep lane k = Ops::Prep of block k, summed.
  static void PackActivations(const ActQ8* x, int64_t nb, PackedGroup* out) {
    for (int64_t g = 0; g * kGroup < nb; ++g) {
      __m256i r[kGroup], prep[kGroup];
      for (int k = 0; k < kGroup; ++k) {
        const int64_t b = g * kGroup + k;
        const bool ok = b < nb;
        r[k] = ok ? Load(x[b].q) : _mm256_setzero_si256();
        prep[k] = Ops::Prep(r[k]);
        out[g].d[k] = ok ? x[b].d : 0.0f;
        out[g].ms[k] = ok ? x[b].s : 0.0f;
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[g].prep), Reduce8(prep));
      Transpose8(r);
      for (int v = 0; v < kGroup; ++v) Store(out[g].v[v], r[v]);
    }
  }

  // The float step shared by both ways (identical operations, hence identical bits).
  static __m256 Accumulate(__m256 acc, __m256i isum8, __m256 wd8, __m256 xd8, __m256 wm8,
                           __m256 xs8) {
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum8), _mm256_mul_ps(wd8, xd8), acc);
    if constexpr (Ops::kHasMin) acc = _mm256_fmadd_ps(wm8, xs8, acc);
    return acc;
  }
};

template <class Ops, int kTileR, int kTileC>
struct Kernel32 {
  static constexpr int kNR = kTileR, kNC = kTileC;
  using Common = Kernel32Common<Ops>;
  using Block = typename Ops::Block;

  // Direct: blocks read in place; the 8 blocks' scales come in by (masked) gathers.
  struct DirectTile {
    template <int NR, int NC>
    static void Tile(const MatArgs& a, const int64_t& r, const int64_t& c) {
      const int64_t nb = a.cols / kQK;
      const Block* w[NR];
      const ActQ8* x[NC];
      for (int i = 0; i < NR; ++i)
        w[i] = reinterpret_cast<const Block*>(a.w + (r + i) * a.w_row_bytes);
      for (int j = 0; j < NC; ++j)
        x[j] = reinterpret_cast<const ActQ8*>(a.x + (c + j) * a.x_row_bytes);
      __m256 acc[NR][NC];
      for (int i = 0; i < NR; ++i) {
        for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_setzero_ps();
      }
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i widx = _mm256_mullo_epi32(lane, _mm256_set1_epi32(sizeof(Block)));
      const __m256i xidx = _mm256_mullo_epi32(lane, _mm256_set1_epi32(sizeof(ActQ8)));
      for (int64_t g = 0; g * kGroup < nb; ++g) {
        const int nk = static_cast<int>(std::min<int64_t>(kGroup, nb - g * kGroup));
        const int64_t b0 = g * kGroup;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nk), lane);
        __m256 xd[NC], xs[NC];
        for (int j = 0; j < NC; ++j) {
          xd[j] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), &x[j][b0].d, xidx,
                                           _mm256_castsi256_ps(mask), 1);
          xs[j] = Ops::kHasMin ? _mm256_mask_i32gather_ps(_mm256_setzero_ps(), &x[j][b0].s, xidx,
                                                          _mm256_castsi256_ps(mask), 1)
                               : _mm256_setzero_ps();
        }
        for (int i = 0; i < NR; ++i) {
          // Each block starts with fp16 d (and, for Q4_1, fp16 m right after it).
          const __m256i dm = _mm256_mask_i32gather_epi32(
              _mm256_setzero_si256(), reinterpret_cast<const int*>(&w[i][b0]), widx, mask, 1);
          const __m256 wd8 = HalvesToFloat(_mm256_and_si256(dm, _mm256_set1_epi32(0xFFFF)));
          const __m256 wm8 =
              Ops::kHasMin ? HalvesToFloat(_mm256_srli_epi32(dm, 16)) : _mm256_setzero_ps();
          // Streams from DRAM at decode: prefetch the same group kPrefetchRows rows ahead.
          const char* ahead =
              reinterpret_cast<const char*>(&w[i][b0]) + kPrefetchRows * a.w_row_bytes;
          for (int off = 0; off < kGroup * static_cast<int>(sizeof(Block)); off += 64) {
            _mm_prefetch(ahead + off, _MM_HINT_T0);
          }
          __m256i wq[kGroup];
          for (int k = 0; k < kGroup; ++k) {
            wq[k] = k < nk ? Ops::Unpack(w[i][b0 + k]) : _mm256_setzero_si256();
          }
          for (int j = 0; j < NC; ++j) {
            __m256i p[kGroup];
            for (int k = 0; k < kGroup; ++k) {
              if (k < nk) {
                const __m256i xq = Load(x[j][b0 + k].q);
                p[k] = Ops::Dot(wq[k], xq, Ops::Prep(xq));
              } else {
                p[k] = _mm256_setzero_si256();
              }
            }
            acc[i][j] = Common::Accumulate(acc[i][j], Reduce8(p), wd8, xd[j], wm8, xs[j]);
          }
        }
      }
      for (int j = 0; j < NC; ++j) {
        float* y = a.y + (c + j) * a.y_stride + r;
        for (int i = 0; i < NR; ++i) y[i] = HSum(acc[i][j]);
      }
    }
  };

  // Packed: operands prepared by Range.
  struct PackedArgs {
    const PackedGroup* w;  // [4][ng]
    const PackedGroup* x;  // [c1 - c0][ng], row 0 = column c0
    int64_t ng;
    int64_t c0;
  };
  struct PackedTile {
    template <int NR, int NC>
    static void Tile(const PackedArgs& p, const MatArgs& a, const int64_t& r, const int64_t& c) {
      __m256 acc[NR][NC];
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) {
#pragma GCC unroll 8
        for (int j = 0; j < NC; ++j) acc[i][j] = _mm256_setzero_ps();
      }
      const PackedGroup* w = p.w;
      const PackedGroup* x = p.x + (c - p.c0) * p.ng;
      for (int64_t g = 0; g < p.ng; ++g) {
#pragma GCC unroll 8
        for (int i = 0; i < NR; ++i) {
          const PackedGroup& wg = w[i * p.ng + g];
#pragma GCC unroll 8
          for (int j = 0; j < NC; ++j) {
            const PackedGroup& xg = x[j * p.ng + g];
            __m256i isum = Load(xg.prep);
#pragma GCC unroll 8
            for (int v = 0; v < kGroup; ++v) isum = Ops::Dot(Load(wg.v[v]), Load(xg.v[v]), isum);
            acc[i][j] =
                Common::Accumulate(acc[i][j], isum, _mm256_loadu_ps(wg.d), _mm256_loadu_ps(xg.d),
                                   _mm256_loadu_ps(wg.ms), _mm256_loadu_ps(xg.ms));
          }
        }
      }
      for (int j = 0; j < NC; ++j) {
        float* y = a.y + (c + j) * a.y_stride + r;
        for (int i = 0; i < NR; ++i) y[i] = HSum(acc[i][j]);
      }
    }
  };

  static void Range(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    if (c1 - c0 <= kNC) {
      for (int64_t r = r0; r < r1; r += kNR) {
        const int nr = static_cast<int>(std::min<int64_t>(kNR, r1 - r));
        for (int64_t c = c0; c < c1; c += kNC) {
          const int nc = static_cast<int>(std::min<int64_t>(kNC, c1 - c));
          TileDispatch<DirectTile, kNR, kNC>(nr, nc, a, r, c);
        }
      }
      return;
    }
    const int64_t nb = a.cols / kQK;
    const int64_t ng = (nb + kGroup - 1) / kGroup;
    thread_local std::vector<PackedGroup> wbuf, xbuf;
    wbuf.resize(4 * ng);
    xbuf.resize((c1 - c0) * ng);
    for (int64_t c = c0; c < c1; ++c) {
      Common::PackActivations(reinterpret_cast<const ActQ8*>(a.x + c * a.x_row_bytes), nb,
                              xbuf.data() + (c - c0) * ng);
    }
    const PackedArgs p{wbuf.data(), xbuf.data(), ng, c0};
    for (int64_t r = r0; r < r1; r += kNR) {
      const int nr = static_cast<int>(std::min<int64_t>(kNR, r1 - r));
      for (int i = 0; i < nr; ++i) {
        Common::PackWeights(reinterpret_cast<const Block*>(a.w + (r + i) * a.w_row_bytes), nb,
                            wbuf.data() + i * ng);
      }
      for (int64_t c = c0; c < c1; c += kNC) {
        const int nc = static_cast<int>(std::min<int64_t>(kNC, c1 - c));
        TileDispatch<PackedTile, kNR, kNC>(nr, nc, p, a, r, c);
      }
    }
  }
};

}  // namespace
}  // namespace hearth::engine::cpu::kern
