// AVX2 kernels for the 32-element block types (Q4_0, Q4_1, Q8_0); see kernels_x86.h for the
// invariants. Two ways to read a tile's weight rows, with identical arithmetic:
//   DirectRows: unpack each block as it is used (one tile of x: decode, n <= kNC);
//   PackedRows: unpack a tile of rows once into a small buffer, then sweep every x tile over
//               it (batches), so unpacking and scale conversion are paid once per row.
#pragma once

#include <vector>

#include "engine/cpu/kernels/kernels_x86.h"

namespace hearth::engine::cpu::kern {
namespace {

template <class Ops>
struct DirectRows {
  using Block = typename Ops::Block;
  const Block* w[4];
  __m256i Q(int i, int64_t b) const { return Ops::Unpack(w[i][b]); }
  float D(int i, int64_t b) const { return Half(w[i][b].d); }
  __m128 M(int nr, int64_t b) const {
    alignas(16) float m[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if constexpr (Ops::kHasMin) {
      for (int i = 0; i < nr; ++i) m[i] = Half(w[i][b].m);
    }
    return _mm_load_ps(m);
  }
};

// [nb][4] entries per row tile; rows past the tile's end are zero.
struct PackedRows {
  const uint8_t* q;  // [nb][4][32] Ops::Unpack bytes
  const float* d;    // [nb][4]
  const float* m;    // [nb][4] (Q4_1 mins; zero otherwise)
  __m256i Q(int i, int64_t b) const { return Load(q + (b * 4 + i) * kQK); }
  float D(int i, int64_t b) const { return d[b * 4 + i]; }
  __m128 M(int, int64_t b) const { return _mm_loadu_ps(m + b * 4); }
};

struct PackBuffer {
  std::vector<uint8_t> q;
  std::vector<float> d, m;
};

template <class Ops>
PackedRows Pack(const MatArgs& a, int64_t r, int nr, PackBuffer& buf) {
  using Block = typename Ops::Block;
  const int64_t nb = a.cols / kQK;
  buf.q.resize(nb * 4 * kQK);
  buf.d.resize(nb * 4);
  buf.m.resize(nb * 4);
  for (int i = 0; i < 4; ++i) {
    const Block* w = reinterpret_cast<const Block*>(a.w + (r + i) * a.w_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* q = buf.q.data() + (b * 4 + i) * kQK;
      if (i < nr) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), Ops::Unpack(w[b]));
        buf.d[b * 4 + i] = Half(w[b].d);
        if constexpr (Ops::kHasMin) {
          buf.m[b * 4 + i] = Half(w[b].m);
        } else {
          buf.m[b * 4 + i] = 0.0f;
        }
      } else {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_setzero_si256());
        buf.d[b * 4 + i] = 0.0f;
        buf.m[b * 4 + i] = 0.0f;
      }
    }
  }
  return PackedRows{buf.q.data(), buf.d.data(), buf.m.data()};
}

template <class Ops, int kTileR, int kTileC>
struct Kernel32 {
  static constexpr int kNR = kTileR, kNC = kTileC;
  static_assert(kTileR <= 4, "the min term keeps one row per __m128 lane");

  // Per block b, per output (i, j):
  //   acc += float(p_ij) * (d_i * dx_j)        p_ij exact int32x8 lane sums
  //   accm[j][i] += m_i * s_j                  (Q4_1; separate mul and add, lane i = row i)
  template <int NR, int NC, class Rows>
  static void Tile(const Rows& rows, const MatArgs& a, int64_t r, int64_t c) {
    const int64_t nb = a.cols / kQK;
    const ActQ8* x[NC];
    for (int j = 0; j < NC; ++j)
      x[j] = reinterpret_cast<const ActQ8*>(a.x + (c + j) * a.x_row_bytes);
    __m256 acc[NR][NC];
    __m128 accm[NC];
#pragma GCC unroll 8
    for (int j = 0; j < NC; ++j) {
      accm[j] = _mm_setzero_ps();
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) acc[i][j] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      __m256i prep[NC];
      __m256 xd[NC];
#pragma GCC unroll 8
      for (int j = 0; j < NC; ++j) {
        prep[j] = Ops::Prep(Load(x[j][b].q));
        xd[j] = _mm256_set1_ps(x[j][b].d);
      }
#pragma GCC unroll 8
      for (int i = 0; i < NR; ++i) {
        const __m256i wq = rows.Q(i, b);
        const __m256 wd = _mm256_set1_ps(rows.D(i, b));
#pragma GCC unroll 8
        for (int j = 0; j < NC; ++j) {
          const __m256i p = Ops::Dot(wq, Load(x[j][b].q), prep[j]);
          acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(wd, xd[j]), acc[i][j]);
        }
      }
      if constexpr (Ops::kHasMin) {
        const __m128 m = rows.M(NR, b);
#pragma GCC unroll 8
        for (int j = 0; j < NC; ++j) {
          accm[j] = _mm_add_ps(accm[j], _mm_mul_ps(m, _mm_set1_ps(x[j][b].s)));
        }
      }
    }
    for (int j = 0; j < NC; ++j) {
      float* y = a.y + (c + j) * a.y_stride + r;
      alignas(16) float mins[4];
      _mm_store_ps(mins, accm[j]);
      for (int i = 0; i < NR; ++i) {
        if constexpr (Ops::kHasMin) {
          y[i] = HSum(acc[i][j]) + mins[i];
        } else {
          y[i] = HSum(acc[i][j]);
        }
      }
    }
  }

  struct DirectTile {
    template <int NR, int NC>
    static void Tile(const MatArgs& a, const int64_t& r, const int64_t& c) {
      DirectRows<Ops> rows;
      for (int i = 0; i < 4; ++i) {
        rows.w[i] = reinterpret_cast<const typename Ops::Block*>(a.w + (r + std::min(i, NR - 1)) *
                                                                           a.w_row_bytes);
      }
      Kernel32::Tile<NR, NC>(rows, a, r, c);
    }
  };
  struct PackedTile {
    template <int NR, int NC>
    static void Tile(const PackedRows& rows, const MatArgs& a, const int64_t& r, const int64_t& c) {
      Kernel32::Tile<NR, NC>(rows, a, r, c);
    }
  };

  static void Range(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    thread_local PackBuffer buf;
    const bool pack = c1 - c0 > kNC;
    for (int64_t r = r0; r < r1; r += kNR) {
      const int nr = static_cast<int>(std::min<int64_t>(kNR, r1 - r));
      PackedRows rows{};
      if (pack) rows = Pack<Ops>(a, r, nr, buf);
      for (int64_t c = c0; c < c1; c += kNC) {
        const int nc = static_cast<int>(std::min<int64_t>(kNC, c1 - c));
        if (pack) {
          TileDispatch<PackedTile, kNR, kNC>(nr, nc, rows, a, r, c);
        } else {
          TileDispatch<DirectTile, kNR, kNC>(nr, nc, a, r, c);
        }
      }
    }
  }
};

}  // namespace
}  // namespace hearth::engine::cpu::kern
