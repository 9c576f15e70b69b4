// SIMD kernels for Q4_K, Q5_K and Q6_K weights in the strip layout (strips.h), on the vector
// traits of kernels_x86_strip.h (Lanes8: AVX2 / AVX-VNNI, Lanes16: AVX-512 VNNI). Each lane is
// one weight row, so every output follows the per-super-block sequence of strips.h, which the
// scalar twin (kernels_scalar.cc) repeats: the same bits on every path, batch size and tile.
//
// A tile is one strip's 8 or 16 rows against up to NC rows of x. Per sub-block, each weight
// vector is unpacked once and meets every x row of the tile (dot products with 4 x bytes
// broadcast from memory); the sub-block's int32 dot p is then scaled per lane into isum
// (ScaleInto: AVX-512 as one int16-pair product, ymm vpmulld). The mins meet x's
// per-sub-block sums as int16 pairs (vpdpwssd / vpmaddwd). AVX-512 uses a few asm statements
// where GCC 12's code for the intrinsics costs uops (DotX, DotS16X, ScaleInto).
// Integer ranges (|x| <= 127): the AVX2 maddubs pairs stay below 2 * 63 * 127 < 32768,
// |p| <= 32 * 31 * 127 < 2^23, every sum fits int32, so all variants compute the same exact
// integers.
#pragma once

#include "engine/cpu/kernels/kernels_x86_strip.h"

namespace hearth::engine::cpu::kern {
namespace {

#ifdef __AVX512F__
// p * sc as the int16 pairs (p & 255, p >> 8) . (sc, 256 sc): exact for |p| < 2^23 and
// -128 <= sc <= 127. Regroup moves p's bytes [b0 b1 b2 b3] to [b0 0 b1 b2]; Pair builds
// (sc, 256 sc) from sc's int32 lanes (low word of sc, high word of sc << 24).
inline __m512i Regroup(__m512i p) {
  const __m512i k = _mm512_set4_epi32(0x0E0D800C, 0x0A098008, 0x06058004, 0x02018000);
  return _mm512_shuffle_epi8(p, k);
}
// The maskz shift: GCC 12 warns (-Wmaybe-uninitialized) on the plain one's pass-through.
inline __m512i Pair(__m512i sc) {
  return _mm512_mask_blend_epi16(0x55555555, _mm512_maskz_slli_epi32(0xFFFF, sc, 24), sc);
}
#endif

// acc + the dot of w with x's 4 bytes broadcast. AVX-512 folds the broadcast into the dot
// product ({1to16}: one fused uop, not a load and a dot; GCC 12 does not fold it itself).
template <class V>
typename V::I DotX(typename V::I acc, typename V::I w, const int8_t* x) {
#ifdef __AVX512F__
  if constexpr (V::kLanes == 16) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0"
            : "+v"(acc)
            : "v"(w), "m"(*reinterpret_cast<const int32_t*>(x)));
    return acc;
  } else
#endif
  {
    return V::DotU8S8(acc, w, V::Bcast(x));
  }
}

// acc + the int16-pair dot of a with x's pair broadcast. AVX-512 reads the pair from memory
// ({1to16}); GCC 12 would keep xs in xmm registers and extract each pair (two more uops).
template <class V>
typename V::I DotS16X(typename V::I acc, typename V::I a, const int32_t* x) {
#ifdef __AVX512F__
  if constexpr (V::kLanes == 16) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(a), "m"(*x));
    return acc;
  } else
#endif
  {
    return V::DotS16(acc, a, V::Bcast(x));
  }
}

// What ScaleInto takes for a sub-block's scales sc: AVX-512 its int16 pairs, else sc.
template <class V>
typename V::I ScaleOperand(typename V::I sc) {
#ifdef __AVX512F__
  if constexpr (V::kLanes == 16) return Pair(sc);
#endif
  return sc;
}

// isum + p * sc, s = ScaleOperand(sc). AVX-512: vpshufb + vpdpwssd, not vpmulld's two uops
// (asm keeps isum in its register: GCC 12 copies it out and back around the intrinsic). ymm
// keeps vpmulld + add: the pair form gained little there at n = 32 and lost at n = 1.
template <class V>
typename V::I ScaleInto(typename V::I isum, typename V::I p, typename V::I s) {
#ifdef __AVX512F__
  if constexpr (V::kLanes == 16) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(isum) : "v"(Regroup(p)), "v"(s));
    return isum;
  } else
#endif
  {
    return V::Add(isum, V::Mullo(p, s));
  }
}

// Per-type hooks. Vec<V>(q, g, v): weight vector v (0..7, elements 4v..4v+3) of the 32-element
// group g, q pointing at this lane group's bytes of the record. Scale<V>: sub-block s's scales
// as int32 lanes. PrepX: what the x row contributes per super-block (xs, int32s); Start: the
// int32 start of sub-block s's dot.
struct KStripQ4K {
  static constexpr KStripLayout kLayout = kQ4KStrip;
  static constexpr int kSubsPerGroup = 1;
  static constexpr bool kHasMin = true;

  template <class V>
  static typename V::I Nibbles(const uint8_t* q, int g, int v) {
    const typename V::I raw = V::Load(q + 256 * g + 64 * (v % 4));
    return v < 4 ? V::Low4(raw) : V::High4(raw);
  }
  template <class V>
  static typename V::I Vec(const uint8_t* q, int g, int v) {
    return Nibbles<V>(q, g, v);
  }
  template <class V>
  static typename V::I Scale(const uint8_t* sc, int s) {
    return V::WidenU8(sc + 16 * s);
  }
  // xs[0..3] = int16 pairs (bsum_2k, bsum_2k+1) of the 32-element sub-block sums.
  static void PrepX(const ActQ8K& x, int32_t* xs) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xs), _mm_hadd_epi16(lo, hi));
  }
  template <class V>
  static typename V::I Start(const int32_t*, int) {
    return V::Zero();
  }
};

// Q4_K plus the fifth bit: bit v of the sub-block's hbits byte, moved to bit 4.
struct KStripQ5K : KStripQ4K {
  static constexpr KStripLayout kLayout = kQ5KStrip;

  template <class V>
  static typename V::I Vec(const uint8_t* q, int g, int v) {
    const typename V::I h = V::Load(q + kLayout.hbits + 64 * g);
    typename V::I bit;  // v is a constant once the caller's loop is unrolled
    switch (v) {
      case 0:
        bit = V::template Shl16<4>(h);
        break;
      case 1:
        bit = V::template Shl16<3>(h);
        break;
      case 2:
        bit = V::template Shl16<2>(h);
        break;
      case 3:
        bit = V::template Shl16<1>(h);
        break;
      case 4:
        bit = h;
        break;
      case 5:
        bit = V::template Shr16<1>(h);
        break;
      case 6:
        bit = V::template Shr16<2>(h);
        break;
      default:
        bit = V::template Shr16<3>(h);
        break;
    }
    return V::Or(Nibbles<V>(q, g, v), V::And(bit, V::Bytes(0x10)));
  }
};

// Q6_K: 16-element sub-blocks (two per group: vectors 0..3 and 4..7), signed int8 scales, the
// -32 offset folded into each sub-block dot's start (-32 bsum_s, exact).
struct KStripQ6K {
  static constexpr KStripLayout kLayout = kQ6KStrip;
  static constexpr int kSubsPerGroup = 2;
  static constexpr bool kHasMin = false;

  template <class V>
  static typename V::I Vec(const uint8_t* q, int g, int v) {
    const typename V::I h = V::Load(q + kLayout.hbits + 64 * (2 * g + v / 4));
    typename V::I bits;  // field v % 4 moved to bits 4..5
    switch (v % 4) {
      case 0:
        bits = V::template Shl16<4>(h);
        break;
      case 1:
        bits = V::template Shl16<2>(h);
        break;
      case 2:
        bits = h;
        break;
      default:
        bits = V::template Shr16<2>(h);
        break;
    }
    return V::Or(KStripQ4K::Nibbles<V>(q, g, v), V::And(bits, V::Bytes(0x30)));
  }
  template <class V>
  static typename V::I Scale(const uint8_t* sc, int s) {
    return V::WidenS8(sc + 16 * s);
  }
  // xs[s] = -32 * bsum_s.
  static void PrepX(const ActQ8K& x, int32_t* xs) {
    for (int h = 0; h < 2; ++h) {
      const __m256i b =
          _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8 * h)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(xs + 8 * h),
                          _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(b, 5)));
    }
  }
  template <class V>
  static typename V::I Start(const int32_t* xs, int s) {
    return V::Bcast(xs + s);
  }
};

template <class V, class Ops, int kTileCols>
struct KStripKernel {
  using I = typename V::I;
  using F = typename V::F;
  static constexpr KStripLayout kL = Ops::kLayout;

  // Rows [row0, row0 + nr) (nr <= kLanes, one lane group of a strip) x rows [c, c + NC).
  template <int NC>
  static void Tile(const MatArgs& a, int64_t strip, int group, int nr, int64_t c) {
    const int64_t nb = a.cols / kQKK;
    const uint8_t* base = a.w + strip * a.w_strip_bytes;
    const ActQ8K* x[NC];
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const ActQ8K*>(a.x + (c + j) * a.x_row_bytes);
    F acc[NC];
    for (int j = 0; j < NC; ++j) acc[j] = V::ZeroF();
    alignas(64) int32_t xs[NC][16];
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* rec = base + b * kL.bytes;
      // Weights stream from DRAM: prefetch the next strip's record. AVX-512 (12-column tiles)
      // into L2 only, leaving L1 to x's rows and this strip: each hint measured the faster on
      // its width.
      for (int off = 0; off < kL.bytes; off += 64) {
        const char* next = reinterpret_cast<const char*>(rec + a.w_strip_bytes + off);
        if constexpr (V::kLanes == 16) {
          _mm_prefetch(next, _MM_HINT_T1);
        } else {
          _mm_prefetch(next, _MM_HINT_T0);
        }
      }
      for (int j = 0; j < NC; ++j) Ops::PrepX(x[j][b], xs[j]);
      const uint8_t* q = rec + group * V::kLanes * 4;
      const uint8_t* sc = rec + kL.scales + group * V::kLanes;
      I isum[NC];
#pragma GCC unroll 16
      for (int j = 0; j < NC; ++j) isum[j] = V::Zero();
      for (int g = 0; g < 8; ++g) {
#pragma GCC unroll 2
        for (int h = 0; h < Ops::kSubsPerGroup; ++h) {
          constexpr int kVecs = 8 / Ops::kSubsPerGroup;
          const int s = g * Ops::kSubsPerGroup + h;
          I p[NC];
#pragma GCC unroll 16
          for (int j = 0; j < NC; ++j) p[j] = Ops::template Start<V>(xs[j], s);
#pragma GCC unroll 8
          for (int i = 0; i < kVecs; ++i) {
            const int v = h * kVecs + i;
            const I w = Ops::template Vec<V>(q, g, v);
#pragma GCC unroll 16
            for (int j = 0; j < NC; ++j) p[j] = DotX<V>(p[j], w, x[j][b].q + 32 * g + 4 * v);
          }
          const I scale = ScaleOperand<V>(Ops::template Scale<V>(sc, s));
#pragma GCC unroll 16
          for (int j = 0; j < NC; ++j) isum[j] = ScaleInto<V>(isum[j], p[j], scale);
        }
      }
      const F wd = V::Halves(reinterpret_cast<const uint16_t*>(rec + kL.d) + group * V::kLanes);
#pragma GCC unroll 16
      for (int j = 0; j < NC; ++j)
        acc[j] = V::Fma(V::ToFloat(isum[j]), V::Mul(wd, V::Set1(x[j][b].d)), acc[j]);
      if constexpr (Ops::kHasMin) {
        I m[4];
        for (int k = 0; k < 4; ++k)
          m[k] = V::WidenU8Pairs(rec + kL.mins + 32 * k + group * V::kLanes * 2);
        const F wm =
            V::Halves(reinterpret_cast<const uint16_t*>(rec + kL.dmin) + group * V::kLanes);
#pragma GCC unroll 16
        for (int j = 0; j < NC; ++j) {
          I im = V::Zero();
          for (int k = 0; k < 4; ++k) im = DotS16X<V>(im, m[k], xs[j] + k);
          acc[j] = V::Fnma(V::ToFloat(im), V::Mul(wm, V::Set1(x[j][b].d)), acc[j]);
        }
      }
    }
    StoreStripTile<V, NC>(a, strip, group, nr, c, acc);
  }

  // REQUIRES: r0 % kStripRows == 0.
  static void Range(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    StripRange<V, KStripKernel, kTileCols>::Run(a, r0, r1, c0, c1);
  }
};

}  // namespace
}  // namespace hearth::engine::cpu::kern
