// The AVX2+FMA tile kernel of attention.h (compiled with -mavx2 -mfma -mf16c; called only when
// the CPU has them), and the AVX2 SiLU of ops.cc, which shares its exp2.
//
// Scores: K tiles are [head_dim][block_size], so RB query rows x 16 key slots take 2 * RB
// accumulator registers and one FMA chain per score over d = 0 .. head_dim - 1; the chain is
// the same for every RB, so a row's scores do not depend on which rows share its tile.
// V sum: per row, [head_dim] accumulators in registers, one FMA per (key, 8 dims) in key order.
// K/V elements are float or fp16 (T = uint16_t, widened exactly by vcvtph2ps as loaded); the
// arithmetic after the load is the same for both.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "engine/cpu/attention.h"

namespace hearth::engine::cpu::internal {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

// 2^x for x in [-126, 126] (clamped outside; NaN becomes -126), relative error ~2e-7:
// 2^x = 2^n * e^(f ln 2) with n = round(x), |f| <= 1/2, e^y by its degree-7 Taylor polynomial.
inline __m256 Exp2(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-126.0f));
  x = _mm256_min_ps(x, _mm256_set1_ps(126.0f));
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 y = _mm256_mul_ps(_mm256_sub_ps(x, n), _mm256_set1_ps(0.6931471805599453f));
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, y, _mm256_set1_ps(1.0f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// Lanes [0, count) set (count clamped to [0, 8]).
inline __m256i LaneMask(int32_t count) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), idx);
}

// 8 K/V elements as floats.
inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 Load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Elements [0, count) of p as floats, the other lanes 0; reads nothing at or past p + count.
inline __m256 LoadPartial8(const float* p, int32_t count) {
  return _mm256_maskload_ps(p, LaneMask(count));
}
inline __m256 LoadPartial8(const uint16_t* p, int32_t count) {
  uint16_t buf[8] = {};
  std::memcpy(buf, p, std::clamp(count, 0, 8) * sizeof(uint16_t));
  return Load8(buf);
}

inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

// e[r * e_stride + p] = q_r . k_p for RB rows (q rows hd apart) and key slots p in [p0, p0 + 16)
// of a K tile kt [hd][bs]; slots >= bs read as 0.
template <int RB, typename T>
inline void Scores16(const float* q, int32_t hd, const T* kt, int32_t bs, int32_t p0, float* e,
                     int32_t e_stride) {
  __m256 acc[RB][2];
  for (int r = 0; r < RB; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const T* k = kt + p0;
  if (bs - p0 >= 16) {
    for (int32_t d = 0; d < hd; ++d, k += bs) {
      const __m256 k0 = Load8(k);
      const __m256 k1 = Load8(k + 8);
      for (int r = 0; r < RB; ++r) {
        const __m256 qd = _mm256_broadcast_ss(q + int64_t{r} * hd + d);
        acc[r][0] = _mm256_fmadd_ps(qd, k0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(qd, k1, acc[r][1]);
      }
    }
  } else {
    for (int32_t d = 0; d < hd; ++d, k += bs) {
      const __m256 k0 = LoadPartial8(k, bs - p0);
      const __m256 k1 = LoadPartial8(k + 8, bs - p0 - 8);
      for (int r = 0; r < RB; ++r) {
        const __m256 qd = _mm256_broadcast_ss(q + int64_t{r} * hd + d);
        acc[r][0] = _mm256_fmadd_ps(qd, k0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(qd, k1, acc[r][1]);
      }
    }
  }
  for (int r = 0; r < RB; ++r) {
    _mm256_storeu_ps(e + int64_t{r} * e_stride + p0, acc[r][0]);
    _mm256_storeu_ps(e + int64_t{r} * e_stride + p0 + 8, acc[r][1]);
  }
}

// Scores of rows [r0, rows) against all slots of one block.
template <typename T>
void BlockScores(const float* q, int32_t hd, int32_t r0, int32_t rows, const T* kt, int32_t bs,
                 float* e, int32_t e_stride) {
  for (int32_t p0 = 0; p0 < bs; p0 += 16) {
    int32_t r = r0;
    for (; r + 4 <= rows; r += 4) {
      Scores16<4>(q + int64_t{r} * hd, hd, kt, bs, p0, e + int64_t{r} * e_stride, e_stride);
    }
    const float* qr = q + int64_t{r} * hd;
    float* er = e + int64_t{r} * e_stride;
    switch (rows - r) {
      case 3:
        Scores16<3>(qr, hd, kt, bs, p0, er, e_stride);
        break;
      case 2:
        Scores16<2>(qr, hd, kt, bs, p0, er, e_stride);
        break;
      case 1:
        Scores16<1>(qr, hd, kt, bs, p0, er, e_stride);
        break;
      default:
        break;
    }
  }
}

// For RB rows at once: acc_r[0, hd) += sum_{p < valid_r} e_r[p] * v[p], after acc_r *= corr_r
// when corr_r != 1. Each V vector is loaded (and widened) once for all RB rows; every (row, dim)
// still sees AccumulateV's operations in the same order, so the bits are the same.
template <int RB, typename T>
void AccumulateVRows(const float* const* e, const int32_t* valid, const float* corr, const T* v,
                     int32_t hd, float* const* acc) {
  int32_t min_valid = valid[0], max_valid = valid[0];
  for (int r = 1; r < RB; ++r) {
    min_valid = std::min(min_valid, valid[r]);
    max_valid = std::max(max_valid, valid[r]);
  }
  constexpr int NV = 4;  // 32 dims: RB * NV accumulators
  auto pass = [&](int32_t d0, auto nv_tag) {
    constexpr int kNV = decltype(nv_tag)::value;
    __m256 a[RB][kNV];
    for (int r = 0; r < RB; ++r) {
      const __m256 c = _mm256_set1_ps(corr[r]);
      for (int i = 0; i < kNV; ++i) {
        a[r][i] = _mm256_loadu_ps(acc[r] + d0 + 8 * i);
        if (corr[r] != 1.0f) a[r][i] = _mm256_mul_ps(a[r][i], c);
      }
    }
    const T* vp = v + d0;
    int32_t p = 0;
    for (; p < min_valid; ++p, vp += hd) {
      __m256 w[RB];
      for (int r = 0; r < RB; ++r) w[r] = _mm256_broadcast_ss(e[r] + p);
      for (int i = 0; i < kNV; ++i) {
        const __m256 x = Load8(vp + 8 * i);
        for (int r = 0; r < RB; ++r) a[r][i] = _mm256_fmadd_ps(w[r], x, a[r][i]);
      }
    }
    for (; p < max_valid; ++p, vp += hd) {  // the last block of a chunk: rows end at their own
      for (int i = 0; i < kNV; ++i) {       // positions
        const __m256 x = Load8(vp + 8 * i);
        for (int r = 0; r < RB; ++r) {
          if (p < valid[r]) a[r][i] = _mm256_fmadd_ps(_mm256_broadcast_ss(e[r] + p), x, a[r][i]);
        }
      }
    }
    for (int r = 0; r < RB; ++r) {
      for (int i = 0; i < kNV; ++i) _mm256_storeu_ps(acc[r] + d0 + 8 * i, a[r][i]);
    }
  };
  int32_t d0 = 0;
  for (; d0 + 8 * NV <= hd; d0 += 8 * NV) pass(d0, std::integral_constant<int, NV>());
  for (; d0 < hd; d0 += 8) pass(d0, std::integral_constant<int, 1>());
}

template <typename T>
void AttendTileAvx2Typed(const AttentionTile& t, AttentionScratch* s) {
  const int32_t hd = t.head_dim;
  const int32_t bs = t.block_size;
  const int32_t e_stride = (bs + 15) / 16 * 16;
  const int32_t rows = t.num_tokens * t.num_heads;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  s->q.resize(int64_t{rows} * hd);
  s->acc.assign(int64_t{rows} * hd, 0.0f);
  s->e.resize(int64_t{rows} * e_stride);
  s->m.assign(rows, neg_inf);
  s->l.assign(rows, 0.0f);
  s->corr.resize(rows);
  s->valid.resize(rows);
  const __m256 q_scale = _mm256_set1_ps(t.scale * kLog2e);
  for (int32_t r = 0; r < rows; ++r) {
    const float* src = t.q + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    float* dst = &s->q[int64_t{r} * hd];
    for (int32_t d = 0; d < hd; d += 8) {
      _mm256_storeu_ps(dst + d, _mm256_mul_ps(_mm256_loadu_ps(src + d), q_scale));
    }
  }
  const int32_t last_pos = t.first_pos + t.num_tokens - 1;
  const int32_t last_block = last_pos / bs;
  // Blocks sit anywhere in the pool, so the hardware prefetchers cannot guess the next one:
  // fetch block b + 1's K tile before block b's scores and its V tile before block b's V sums.
  const int64_t tile_bytes = int64_t{hd} * bs * sizeof(T);
  auto prefetch = [&](const void* base, int32_t b) {
    const char* p = reinterpret_cast<const char*>(static_cast<const T*>(base) +
                                                  t.block_stride * t.block_table[b]);
    for (int64_t off = 0; off < tile_bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
  };
  prefetch(t.k0, 0);
  prefetch(t.v0, 0);
  for (int32_t b = 0; b <= last_block; ++b) {
    if (b < last_block) prefetch(t.k0, b + 1);
    const int32_t start = b * bs;
    const T* kt = static_cast<const T*>(t.k0) + t.block_stride * t.block_table[b];  // [hd][bs]
    const int32_t r0 = std::max(0, start - t.first_pos) * t.num_heads;
    BlockScores(s->q.data(), hd, r0, rows, kt, bs, s->e.data(), e_stride);
    for (int32_t r = r0; r < rows; ++r) {
      const int32_t valid = std::min(bs, t.first_pos + r / t.num_heads - start + 1);
      float* e = &s->e[int64_t{r} * e_stride];
      // Block max over the valid slots (max is exact, so lane order does not matter).
      __m256 mx = _mm256_set1_ps(neg_inf);
      for (int32_t p = 0; p < valid; p += 8) {
        const __m256 keep = _mm256_castsi256_ps(LaneMask(valid - p));
        mx = _mm256_max_ps(mx,
                           _mm256_blendv_ps(_mm256_set1_ps(neg_inf), _mm256_loadu_ps(e + p), keep));
      }
      const float m_old = s->m[r];
      const float m_new = std::max(m_old, HorizontalMax(mx));
      float corr = 0.0f;
      if (m_old != neg_inf)
        _mm_store_ss(&corr, _mm256_castps256_ps128(Exp2(_mm256_set1_ps(m_old - m_new))));
      if (m_old == m_new) corr = 1.0f;
      s->m[r] = m_new;
      const __m256 mv = _mm256_set1_ps(m_new);
      for (int32_t p = 0; p < valid; p += 8) {
        const __m256 keep = _mm256_castsi256_ps(LaneMask(valid - p));
        const __m256 x = Exp2(_mm256_sub_ps(_mm256_loadu_ps(e + p), mv));
        _mm256_storeu_ps(e + p, _mm256_blendv_ps(_mm256_setzero_ps(), x, keep));
      }
      float l = s->l[r] * corr;
      for (int32_t p = 0; p < valid; ++p) l += e[p];
      s->l[r] = l;
      s->corr[r] = corr;
      s->valid[r] = valid;
    }
    if (b < last_block) prefetch(t.v0, b + 1);
    // V for the rows in threes (a decode tile's query heads share every V load).
    const T* v = static_cast<const T*>(t.v0) + t.block_stride * t.block_table[b];  // [bs][hd]
    for (int32_t r = r0; r < rows; r += 3) {
      const float* e[3];
      float* acc[3];
      for (int32_t i = 0; i < 3 && r + i < rows; ++i) {
        e[i] = &s->e[int64_t{r + i} * e_stride];
        acc[i] = &s->acc[int64_t{r + i} * hd];
      }
      switch (std::min<int32_t>(3, rows - r)) {
        case 3:
          AccumulateVRows<3, T>(e, &s->valid[r], &s->corr[r], v, hd, acc);
          break;
        case 2:
          AccumulateVRows<2, T>(e, &s->valid[r], &s->corr[r], v, hd, acc);
          break;
        default:
          AccumulateVRows<1, T>(e, &s->valid[r], &s->corr[r], v, hd, acc);
          break;
      }
    }
  }
  for (int32_t r = 0; r < rows; ++r) {
    float* out = t.out + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    const __m256 inv_l = _mm256_set1_ps(1.0f / s->l[r]);
    for (int32_t d = 0; d < hd; d += 8) {
      _mm256_storeu_ps(out + d,
                       _mm256_mul_ps(_mm256_loadu_ps(&s->acc[int64_t{r} * hd + d]), inv_l));
    }
  }
}

}  // namespace

void AttendTileAvx2(const AttentionTile& tile, AttentionScratch* scratch) {
  if (tile.kv_dtype == KvDtype::kF16) {
    AttendTileAvx2Typed<uint16_t>(tile, scratch);
  } else {
    AttendTileAvx2Typed<float>(tile, scratch);
  }
}

void SiluMulAvx2(const float* gate, const float* up, int64_t count, float* h) {
  // Every element, the tail included, goes through the same vector code (the tail through an
  // 8-float buffer), so an element's result never depends on its index or on `count`.
  const __m256 neg_log2e = _mm256_set1_ps(-kLog2e);
  const __m256 one = _mm256_set1_ps(1.0f);
  auto silu_mul = [&](__m256 g, __m256 u) {
    const __m256 t = Exp2(_mm256_mul_ps(g, neg_log2e));  // e^-g
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, t)), u);
  };
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    _mm256_storeu_ps(h + i, silu_mul(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  }
  if (i < count) {
    float g[8] = {}, u[8] = {}, r[8];
    std::memcpy(g, gate + i, (count - i) * sizeof(float));
    std::memcpy(u, up + i, (count - i) * sizeof(float));
    _mm256_storeu_ps(r, silu_mul(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    std::memcpy(h + i, r, (count - i) * sizeof(float));
  }
}

}  // namespace hearth::engine::cpu::internal
