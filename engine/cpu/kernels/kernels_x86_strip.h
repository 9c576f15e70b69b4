// SIMD kernels for Q4_0, Q4_1 and Q8_0 weights in the strip layout (strips.h), for 8 lanes
// (AVX2, AVX-VNNI) and 16 lanes (AVX-512 VNNI). Each vector lane is one weight row, so every
// output is computed by the per-block operation sequence of strips.h, which the scalar twin
// (kernels_scalar.cc) repeats: all paths give the same bits, for any batch size or tile.
//
// A tile is one strip's 8 or 16 rows against up to kTileCols rows of x: per block, the weight
// quants are unpacked once into 8 vectors and reused for every x row of the tile; each x row
// contributes 8 dot-product instructions with its 4-byte groups broadcast from memory.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/cpu/kernels/kernels.h"
#include "engine/cpu/kernels/strips.h"

namespace hearth::engine::cpu::kern {
namespace {

// 8 int32 / float lanes. kVnni: AVX-VNNI dot products; else maddubs + madd (exact here).
template <bool kVnni_>
struct Lanes8 {
  static constexpr int kLanes = 8;
  static constexpr bool kVnni = kVnni_;
  static constexpr int kTileCols = 5;  // 5 int + 5 float accumulators + temps in 16 regs
  using I = __m256i;
  using F = __m256;

  static I Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const I*>(p)); }
  static I Bcast(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static I Bcast(const int32_t* p) { return _mm256_set1_epi32(*p); }
  static I Zero() { return _mm256_setzero_si256(); }
  static I Low4(I v) { return _mm256_and_si256(v, _mm256_set1_epi8(0x0F)); }
  static I High4(I v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F)); }
  static I FlipSign(I v) { return _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))); }
  // acc + sums over 4-byte groups of u (unsigned) * s (signed).
  static I DotU8S8(I acc, I u, I s) {
    if constexpr (kVnni) {
      return _mm256_dpbusd_avx_epi32(acc, u, s);
    } else {
      return _mm256_add_epi32(acc,
                              _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
    }
  }
  // acc + sums over 4-byte groups of w * s, both signed (AVX2 sign trick; |s| <= 127).
  static I DotS8S8(I acc, I w, I s) {
    return DotU8S8(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(s, w));
  }
  static F Halves(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static F ToFloat(I v) { return _mm256_cvtepi32_ps(v); }
  static F Set1(float v) { return _mm256_set1_ps(v); }
  static F ZeroF() { return _mm256_setzero_ps(); }
  static F Mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F Fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static void Store(float* p, F v) { _mm256_storeu_ps(p, v); }
  // For the K-quant strips (kernels_x86_kstrip.h).
  static I Add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I Mullo(I a, I b) { return _mm256_mullo_epi32(a, b); }
  static I And(I a, I b) { return _mm256_and_si256(a, b); }
  static I Or(I a, I b) { return _mm256_or_si256(a, b); }
  static I Bytes(int8_t v) { return _mm256_set1_epi8(v); }
  template <int N>
  static I Shl16(I v) {
    return _mm256_slli_epi16(v, N);
  }
  template <int N>
  static I Shr16(I v) {
    return _mm256_srli_epi16(v, N);
  }
  // kLanes bytes -> int32 lanes; 2 kLanes bytes -> int16 pairs.
  static I WidenU8(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static I WidenS8(const uint8_t* p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static I WidenU8Pairs(const uint8_t* p) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // acc + sums over int16 pairs of a * b (exact for these operand ranges).
  static I DotS16(I acc, I a, I b) {
    if constexpr (kVnni) {
      return _mm256_dpwssd_avx_epi32(acc, a, b);
    } else {
      return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
    }
  }
  static F Fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
};

#ifdef __AVX512F__
// 16 lanes with AVX-512 VNNI.
struct Lanes16 {
  static constexpr int kLanes = 16;
  static constexpr bool kVnni = true;
  static constexpr int kTileCols = 12;  // 12 int + 12 float accumulators + temps in 32 regs
  using I = __m512i;
  using F = __m512;

  static I Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static I Bcast(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static I Bcast(const int32_t* p) { return _mm512_set1_epi32(*p); }
  // A zeroing idiom per use (GCC would otherwise copy one zero register: a real uop each).
  static I Zero() {
    I z;
    __asm__("vpxord %0, %0, %0" : "=v"(z));
    return z;
  }
  static I Low4(I v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0F)); }
  static I High4(I v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F)); }
  static I FlipSign(I v) { return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80))); }
  static I DotU8S8(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static I DotS8S8(I acc, I, I) { return acc; }  // unused: kVnni
  // The maskz forms with a full mask: the same instructions, without GCC 12's false
  // -Wmaybe-uninitialized on the plain intrinsics' undefined pass-through operand.
  static F Halves(const uint16_t* p) {
    return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static F ToFloat(I v) { return _mm512_maskz_cvtepi32_ps(0xFFFF, v); }
  static F Set1(float v) { return _mm512_set1_ps(v); }
  static F ZeroF() { return _mm512_setzero_ps(); }
  static F Mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F Fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static void Store(float* p, F v) { _mm512_storeu_ps(p, v); }
  // For the K-quant strips (kernels_x86_kstrip.h).
  static I Add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I Mullo(I a, I b) { return _mm512_mullo_epi32(a, b); }
  static I And(I a, I b) { return _mm512_and_si512(a, b); }
  static I Or(I a, I b) { return _mm512_or_si512(a, b); }
  static I Bytes(int8_t v) { return _mm512_set1_epi8(v); }
  template <int N>
  static I Shl16(I v) {
    return _mm512_slli_epi16(v, N);
  }
  template <int N>
  static I Shr16(I v) {
    return _mm512_srli_epi16(v, N);
  }
  // maskz forms for the same reason as Halves.
  static I WidenU8(const uint8_t* p) {
    return _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I WidenS8(const uint8_t* p) {
    return _mm512_maskz_cvtepi8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I WidenU8Pairs(const uint8_t* p) {
    return _mm512_maskz_cvtepu8_epi16(0xFFFFFFFF,
                                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static I DotS16(I acc, I a, I b) { return _mm512_dpwssd_epi32(acc, a, b); }
  static F Fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
};
#endif

// Per-type hooks. Pair(q, i): vectors i and Second(i) of a block's quants (i = 0..3; this lane
// group's bytes of the 64-byte chunks), i.e. the weights that meet the x bytes 4i..4i+3 and
// 4 Second(i)..; Start: the int32 accumulator's start for an x block; Dot: one 4-byte group.
struct StripQ4_0 {
  static constexpr GgmlType kType = GgmlType::kQ4_0;
  static constexpr bool kHasMin = false;
  static constexpr int Second(int i) { return i + 4; }  // one chunk holds vectors i and i + 4
  template <class V>
  static void Pair(const uint8_t* q, int i, typename V::I* a, typename V::I* b) {
    const typename V::I raw = V::Load(q + 64 * i);
    *a = V::Low4(raw);
    *b = V::High4(raw);
  }
  template <class V>
  static typename V::I Start(const ActQ8& x) {
    return V::Bcast(&x.neg8_sum);  // (q - 8) . x = q . x - 8 sum(x)
  }
  template <class V>
  static typename V::I Dot(typename V::I acc, typename V::I w, typename V::I x) {
    return V::DotU8S8(acc, w, x);
  }
};

struct StripQ4_1 : StripQ4_0 {
  static constexpr GgmlType kType = GgmlType::kQ4_1;
  static constexpr bool kHasMin = true;
  template <class V>
  static typename V::I Start(const ActQ8&) {
    return V::Zero();
  }
};

struct StripQ8_0 {
  static constexpr GgmlType kType = GgmlType::kQ8_0;
  static constexpr bool kHasMin = false;
  // VNNI takes unsigned weights: w + 128, and the accumulator starts at -128 sum(x).
  static constexpr int Second(int i) { return i + 4; }
  template <class V>
  static void Pair(const uint8_t* q, int i, typename V::I* a, typename V::I* b) {
    *a = V::Load(q + 64 * i);
    *b = V::Load(q + 64 * Second(i));
    if constexpr (V::kVnni) {
      *a = V::FlipSign(*a);
      *b = V::FlipSign(*b);
    }
  }
  template <class V>
  static typename V::I Start(const ActQ8& x) {
    if constexpr (V::kVnni) return V::Bcast(&x.neg128_sum);
    return V::Zero();
  }
  template <class V>
  static typename V::I Dot(typename V::I acc, typename V::I w, typename V::I x) {
    if constexpr (V::kVnni) return V::DotU8S8(acc, w, x);
    return V::DotS8S8(acc, w, x);
  }
};

// Stores a tile's accumulators: x row c + j's outputs for this lane group's rows (nr of them).
template <class V, int NC>
inline void StoreStripTile(const MatArgs& a, int64_t strip, int group, int nr, int64_t c,
                           const typename V::F* acc) {
  const int64_t row0 = strip * kStripRows + group * V::kLanes;
  for (int j = 0; j < NC; ++j) {
    float* y = a.y + (c + j) * a.y_stride + row0;
    if (nr == V::kLanes) {
      V::Store(y, acc[j]);
    } else {
      alignas(64) float tmp[V::kLanes];
      V::Store(tmp, acc[j]);
      std::memcpy(y, tmp, nr * sizeof(float));
    }
  }
}

// Walks rows [r0, r1) strip by strip and lane group by lane group, and x rows [c0, c1) in
// tiles of kTileCols, calling Kernel::Tile<NC>(a, strip, group, nr, c) (NC = the tile's width).
// REQUIRES: r0 % kStripRows == 0.
template <class V, class Kernel, int kTileCols>
struct StripRange {
  template <int NC>
  static void TileUpTo(int nc, const MatArgs& a, int64_t strip, int group, int nr, int64_t c) {
    if constexpr (NC > 1) {
      if (nc < NC) return TileUpTo<NC - 1>(nc, a, strip, group, nr, c);
    }
    Kernel::template Tile<NC>(a, strip, group, nr, c);
  }

  static void Run(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t strip = r0 / kStripRows; strip * kStripRows < r1; ++strip) {
      for (int group = 0; group < kStripRows / V::kLanes; ++group) {
        const int64_t row0 = strip * kStripRows + group * V::kLanes;
        if (row0 >= r1) break;
        const int nr = static_cast<int>(std::min<int64_t>(V::kLanes, r1 - row0));
        for (int64_t c = c0; c < c1; c += kTileCols) {
          const int nc = static_cast<int>(std::min<int64_t>(kTileCols, c1 - c));
          TileUpTo<kTileCols>(nc, a, strip, group, nr, c);
        }
      }
    }
  }
};

template <class V, class Ops>
struct StripKernel {
  using I = typename V::I;
  using F = typename V::F;

  // Rows [row0, row0 + nr) (nr <= kLanes, one lane group of a strip) x rows [c, c + NC).
  template <int NC>
  static void Tile(const MatArgs& a, int64_t strip, int group, int nr, int64_t c) {
    const int64_t nb = a.cols / kQK;
    const int64_t qbytes = StripQuantBytes(Ops::kType);
    const uint8_t* base = a.w + strip * a.w_strip_bytes;
    const uint8_t* quants = base + group * V::kLanes * 4;
    const uint16_t* d = reinterpret_cast<const uint16_t*>(base + nb * qbytes) + group * V::kLanes;
    const uint16_t* m = d + nb * kStripRows;
    const ActQ8* x[NC];
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const ActQ8*>(a.x + (c + j) * a.x_row_bytes);
    F acc[NC];
    for (int j = 0; j < NC; ++j) acc[j] = V::ZeroF();
    const int64_t next_strip = a.w_strip_bytes;  // weights stream from DRAM: prefetch ahead
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* q = quants + b * qbytes;
      for (int64_t off = 0; off < qbytes; off += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(q + next_strip + off), _MM_HINT_T0);
      }
      _mm_prefetch(reinterpret_cast<const char*>(d + b * kStripRows) + next_strip, _MM_HINT_T0);
      if constexpr (Ops::kHasMin) {
        _mm_prefetch(reinterpret_cast<const char*>(m + b * kStripRows) + next_strip, _MM_HINT_T0);
      }
      // Two weight vectors live at a time; NC independent dot-product chains advance together.
      I p[NC];
#pragma GCC unroll 16
      for (int j = 0; j < NC; ++j) p[j] = Ops::template Start<V>(x[j][b]);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        I w0, w1;
        Ops::template Pair<V>(q, i, &w0, &w1);
#pragma GCC unroll 16
        for (int j = 0; j < NC; ++j)
          p[j] = Ops::template Dot<V>(p[j], w0, V::Bcast(x[j][b].q + 4 * i));
        const int i1 = Ops::Second(i);
#pragma GCC unroll 16
        for (int j = 0; j < NC; ++j)
          p[j] = Ops::template Dot<V>(p[j], w1, V::Bcast(x[j][b].q + 4 * i1));
      }
      const F wd = V::Halves(d + b * kStripRows);
#pragma GCC unroll 16
      for (int j = 0; j < NC; ++j)
        acc[j] = V::Fma(V::ToFloat(p[j]), V::Mul(wd, V::Set1(x[j][b].d)), acc[j]);
      if constexpr (Ops::kHasMin) {
        const F wm = V::Halves(m + b * kStripRows);
#pragma GCC unroll 16
        for (int j = 0; j < NC; ++j) acc[j] = V::Fma(wm, V::Set1(x[j][b].s), acc[j]);
      }
    }
    StoreStripTile<V, NC>(a, strip, group, nr, c, acc);
  }

  // REQUIRES: r0 % kStripRows == 0.
  static void Range(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    StripRange<V, StripKernel, V::kTileCols>::Run(a, r0, r1, c0, c1);
  }
};

}  // namespace
}  // namespace hearth::engine::cpu::kern
