// The AVX-512 (F, BW, VL, VNNI) kernel table. Compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni (plus the AVX2 flags). Q8_0 gets a 512-bit kernel that takes two blocks per
// instruction (+30% at batch 32 over AVX-VNNI; Q8_0 is the tied output projection, the
// biggest matmul). Every other type reuses the AVX-VNNI templates (same bits as avxvnni): a
// 512-bit Q4_1 kernel was measured 20% faster at n = 32 but 27% slower at n = 1, where the
// nibble unpacking of two blocks costs more than it saves.
//
// Kernel512 stays generic over a min term (kHasMin) so a Q4_1 variant can be retried.
//
// Per output (i, j), for each pair of blocks (b, b + 1) in order (a lone last block pairs with
// zeros): p = exact int32x16 lane sums (lanes 0-7 block b, 8-15 block b + 1);
//   acc = fma(float(p), [d_i(b) dx_j(b)] x8 ++ [d_i(b+1) dx_j(b+1)] x8, acc);
// Q4_1 adds accm[j][i] += m_i(b) * s_j(b) block by block (lane i of a __m128 = row i; a
// separate mul and add, so each lane rounds as a scalar would); y = HSum512(acc) (+ accm).
// Every tile shape runs exactly these operations, so results are batch invariant.
#include <immintrin.h>

#include "engine/cpu/kernels/kernels_x86_k.h"

namespace hearth::engine::cpu::kern {
namespace {

inline float HSum512(__m512 v) {
  return HSum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

inline __m512i Dot512(__m512i acc, __m512i u, __m512i s) { return _mm512_dpbusd_epi32(acc, u, s); }

inline __m512i Pair256(__m256i a, __m256i b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}
inline __m512 PairScale(float a, float b) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

struct Q8_0x {
  using Block = BlockQ8_0;
  static constexpr bool kHasMin = false;
  static __m512i Unpack(const Block* w, int64_t b, bool second) {
    const __m256i w1 = second ? Load(w[b + 1].qs) : _mm256_set1_epi8(static_cast<char>(0x80));
    // w + 128 as u8; a missing block becomes 0 after the xor.
    return _mm512_xor_si512(Pair256(Load(w[b].qs), w1), _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  static __m512i Prep(__m512i x) {
    return _mm512_sub_epi32(
        _mm512_setzero_si512(),
        Dot512(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(0x80)), x));
  }
};

template <class Ops>
float MinOf(const typename Ops::Block& blk) {
  if constexpr (Ops::kHasMin) {
    return Half(blk.m);
  } else {
    return 0.0f;
  }
}

// Unpacked rows of one row tile: [4][nb_pairs][64] bytes, [4][nb + 1] scales, [nb][4] mins.
struct Packed512 {
  std::vector<uint8_t> q;
  std::vector<float> d, m;
  int64_t pairs = 0, nb = 0;
};

template <class Ops, int kTileR, int kTileC>
struct Kernel512 {
  static constexpr int kNR = kTileR, kNC = kTileC;
  using Block = typename Ops::Block;

  static void Pack(const MatArgs& a, int64_t r, int nr, Packed512& p) {
    p.nb = a.cols / kQK;
    p.pairs = (p.nb + 1) / 2;
    p.q.resize(4 * p.pairs * 64);
    p.d.assign(4 * (p.nb + 1), 0.0f);
    p.m.assign(4 * p.nb, 0.0f);
    for (int i = 0; i < 4; ++i) {
      const Block* w =
          reinterpret_cast<const Block*>(a.w + (r + std::min(i, nr - 1)) * a.w_row_bytes);
      for (int64_t k = 0; k < p.pairs; ++k) {
        _mm512_storeu_si512(p.q.data() + (i * p.pairs + k) * 64,
                            Ops::Unpack(w, 2 * k, 2 * k + 1 < p.nb));
      }
      for (int64_t b = 0; b < p.nb; ++b) {
        p.d[i * (p.nb + 1) + b] = Half(w[b].d);
        if (i < nr) p.m[b * 4 + i] = MinOf<Ops>(w[b]);
      }
    }
  }

  template <int NR, int NC, bool kPacked>
  static void Tile(const Packed512* packed, const MatArgs& a, int64_t r, int64_t c) {
    const int64_t nb = a.cols / kQK;
    const Block* w[NR];
    const ActQ8* x[NC];
    for (int i = 0; i < NR; ++i)
      w[i] = reinterpret_cast<const Block*>(a.w + (r + i) * a.w_row_bytes);
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const ActQ8*>(a.x + (c + j) * a.x_row_bytes);
    __m512 acc[NR][NC];
    static_assert(NR <= 4, "the min term keeps one row per __m128 lane");
    __m128 accm[NC];
    for (int j = 0; j < NC; ++j) {
      accm[j] = _mm_setzero_ps();
      for (int i = 0; i < NR; ++i) acc[i][j] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b += 2) {
      const bool second = b + 1 < nb;
      __m512i xq[NC], prep[NC];
      __m512 xd[NC];
#pragma GCC unroll 8
      for (int j = 0; j < NC; ++j) {
        xq[j] = Pair256(Load(x[j][b].q), second ? Load(x[j][b + 1].q) : _mm256_setzero_si256());
        prep[j] = Ops::Prep(xq[j]);
        xd[j] = PairScale(x[j][b].d, second ? x[j][b + 1].d : 0.0f);
      }
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) {
        __m512i wq;
        __m512 wd;
        if constexpr (kPacked) {
          wq = _mm512_loadu_si512(packed->q.data() + (i * packed->pairs + b / 2) * 64);
          const float* d = packed->d.data() + i * (packed->nb + 1) + b;
          wd = PairScale(d[0], d[1]);
        } else {
          wq = Ops::Unpack(w[i], b, second);
          wd = PairScale(Half(w[i][b].d), second ? Half(w[i][b + 1].d) : 0.0f);
        }
#pragma GCC unroll 8
        for (int j = 0; j < NC; ++j) {
          const __m512i p = Dot512(prep[j], wq, xq[j]);
          acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(wd, xd[j]), acc[i][j]);
        }
      }
      if constexpr (Ops::kHasMin) {
        for (int64_t bb = b; bb < std::min(b + 2, nb); ++bb) {
          __m128 m;
          if constexpr (kPacked) {
            m = _mm_loadu_ps(packed->m.data() + bb * 4);
          } else {
            uint16_t mh[4] = {0, 0, 0, 0};
            for (int i = 0; i < NR; ++i) mh[i] = w[i][bb].m;
            m = _mm_cvtph_ps(_mm_setr_epi16(
                static_cast<int16_t>(mh[0]), static_cast<int16_t>(mh[1]),
                static_cast<int16_t>(mh[2]), static_cast<int16_t>(mh[3]), 0, 0, 0, 0));
          }
#pragma GCC unroll 8
          for (int j = 0; j < NC; ++j) {
            accm[j] = _mm_add_ps(accm[j], _mm_mul_ps(m, _mm_set1_ps(x[j][bb].s)));
          }
        }
      }
    }
    for (int j = 0; j < NC; ++j) {
      float* y = a.y + (c + j) * a.y_stride + r;
      alignas(16) float mins[4];
      _mm_store_ps(mins, accm[j]);
      for (int i = 0; i < NR; ++i) {
        if constexpr (Ops::kHasMin) {
          y[i] = HSum512(acc[i][j]) + mins[i];
        } else {
          y[i] = HSum512(acc[i][j]);
        }
      }
    }
  }

  template <bool kPacked>
  struct At {
    template <int NR, int NC>
    static void Tile(const Packed512* packed, const MatArgs& a, const int64_t& r,
                     const int64_t& c) {
      Kernel512::Tile<NR, NC, kPacked>(packed, a, r, c);
    }
  };

  static void Range(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    thread_local Packed512 buf;
    const bool pack = c1 - c0 > kNC;
    const Packed512* packed = &buf;
    for (int64_t r = r0; r < r1; r += kNR) {
      const int nr = static_cast<int>(std::min<int64_t>(kNR, r1 - r));
      if (pack) Pack(a, r, nr, buf);
      for (int64_t c = c0; c < c1; c += kNC) {
        const int nc = static_cast<int>(std::min<int64_t>(kNC, c1 - c));
        if (pack) {
          TileDispatch<At<true>, kNR, kNC>(nr, nc, packed, a, r, c);
        } else {
          TileDispatch<At<false>, kNR, kNC>(nr, nc, packed, a, r, c);
        }
      }
    }
  }
};

}  // namespace

const KernelTable& Avx512Kernels() {
  static const KernelTable table = [] {
    KernelTable t = MakeX86Table<true>();
    t.q8_0 = Kernel512<Q8_0x, 4, 4>::Range;
    return t;
  }();
  return table;
}

}  // namespace hearth::engine::cpu::kern
