// The AVX-512 tile kernel of attention.h (compiled with -mavx512f -mfma -mf16c; called only on
// the avx512 kernel path, for head_dim % 16 == 0 and block_size % 16 == 0).
//
// Like the AVX2 kernel, it runs the online softmax once per chunk of AttentionChunkKeys absolute
// positions ([0, 256), [256, 512), ...) rather than once per 16-key block, where the bookkeeping
// cost as much as the dot products: scores for the whole chunk first, then one max / exp2 / sum
// per row, then the V sums with every accumulator held in registers across the chunk. Chunk
// boundaries are absolute positions, so a row's arithmetic still depends only on its query, its
// position and the K/V it reads (attention.h's invariants hold):
//
// Scores: a 16-slot group of a K tile ([head_dim][block_size]) is one zmm per d; RB rows x NB
//   groups take RB * NB accumulators and one FMA chain per score over d = 0 .. head_dim - 1.
// Softmax: max over the row's valid slots (exact), e = 2^(s - m'), the chunk's e summed in 16
//   lanes in key order and reduced by _mm512_reduce_add_ps (a fixed tree).
// V sum: per row, up to 64 dims of accumulators in registers, one FMA per (key, 16 dims) in key
//   order; keys at or after a row's valid count are never read for that row (stale slots).
// K/V elements are float or fp16 (T = uint16_t, widened exactly by vcvtph2ps). fp16 K read by
// more than 4 rows is widened once per 4 groups into scratch instead of once per 4 rows; being
// exact, that leaves every row's arithmetic the same for either type and either path.
// GCC 12 warns falsely (-Wmaybe-uninitialized) on the undefined pass-through operand inside many
// plain AVX-512 intrinsics once inlined; the state must be set before the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "engine/cpu/attention.h"
#include "engine/cpu/attention_prefetch.h"

namespace hearth::engine::cpu::internal {
namespace {

using Prefetches = PrefetchQueue<8>;  // at most 4 blocks of K and of V

constexpr int32_t kMaxGroups = 256 / 16;  // 16-slot groups per chunk (16 <= block_size <= 256)

// 2^x as the AVX2 kernel's Exp2 (clamped to [-126, 126], degree-7 Taylor of e^(f ln 2)).
inline __m512 Exp2(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-126.0f));
  x = _mm512_min_ps(x, _mm512_set1_ps(126.0f));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 y = _mm512_mul_ps(_mm512_sub_ps(x, n), _mm512_set1_ps(0.6931471805599453f));
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f));
  const __m512i bits =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

// 16 K/V elements as floats (fp16 widened exactly).
inline __m512 Load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 Load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Lanes [0, count) of 16 (count >= 16: all).
inline __mmask16 FirstLanes(int32_t count) {
  return count >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << count) - 1);
}

// The loops over rows and vectors below carry `#pragma GCC unroll`: unrolled that early, GCC keeps
// the arrays of accumulators in registers (else it spills them to the stack around the key loops).

// e[r * es + 16 * j + i] = q_r . k_j[i] for RB rows (q rows hd apart) and NB 16-slot groups
// (group j's slot i of dim d at k[j] + d * bs + i).
template <int RB, int NB, typename T>
inline void Scores(const float* q, int32_t hd, const T* const* k, int32_t bs, float* e,
                   int32_t es) {
  __m512 acc[RB][NB];
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  for (int32_t d = 0; d < hd; ++d) {
    __m512 kd[NB];
#pragma GCC unroll 16
    for (int j = 0; j < NB; ++j) kd[j] = Load16(k[j] + int64_t{d} * bs);
#pragma GCC unroll 16
    for (int r = 0; r < RB; ++r) {
      const __m512 qd = _mm512_set1_ps(q[int64_t{r} * hd + d]);
#pragma GCC unroll 16
      for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_fmadd_ps(qd, kd[j], acc[r][j]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < NB; ++j) _mm512_storeu_ps(e + int64_t{r} * es + 16 * j, acc[r][j]);
  }
}

// Scores of `rows` rows against NB groups, 4 rows at a time, issuing an equal share of the
// queued prefetches before each 4.
template <int NB, typename T>
void ScoresRows(const float* q, int32_t hd, int32_t rows, const T* const* k, int32_t bs, float* e,
                int32_t es, Prefetches* pq) {
  const int32_t fours = (rows + 3) / 4;
  const int32_t share = (pq->total + fours - 1) / fours;
  int32_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    pq->Issue(share);
    Scores<4, NB>(q + int64_t{r} * hd, hd, k, bs, e + r * es, es);
  }
  pq->Issue(pq->total);
  const float* qr = q + int64_t{r} * hd;
  float* er = e + int64_t{r} * es;
  switch (rows - r) {
    case 3:
      Scores<3, NB>(qr, hd, k, bs, er, es);
      break;
    case 2:
      Scores<2, NB>(qr, hd, k, bs, er, es);
      break;
    case 1:
      Scores<1, NB>(qr, hd, k, bs, er, es);
      break;
    default:
      break;
  }
}

// ScoresRows for nb <= 4 groups.
template <typename T>
void ScoresGroups(int32_t nb, const float* q, int32_t hd, int32_t rows, const T* const* k,
                  int32_t bs, float* e, int32_t es, Prefetches* pq) {
  switch (nb) {
    case 4:
      return ScoresRows<4>(q, hd, rows, k, bs, e, es, pq);
    case 3:
      return ScoresRows<3>(q, hd, rows, k, bs, e, es, pq);
    case 2:
      return ScoresRows<2>(q, hd, rows, k, bs, e, es, pq);
    default:
      return ScoresRows<1>(q, hd, rows, k, bs, e, es, pq);
  }
}

// For RB rows: acc_r[d0, d0 + 16 * NV) = acc_r * corr_r + sum_{p < valid_r} e_r[p] v_p, keys p
// of the chunk in order (key p in V tile v[p / bs], slot p % bs; [bs][hd] tiles).
template <int RB, int NV, typename T>
void AccumulateV(const float* const* e, const int32_t* valid, const float* corr, const T* const* v,
                 int32_t bs, int32_t hd, int32_t d0, float* const* acc) {
  int32_t min_valid = valid[0], max_valid = valid[0];
#pragma GCC unroll 16
  for (int r = 1; r < RB; ++r) {
    min_valid = std::min(min_valid, valid[r]);
    max_valid = std::max(max_valid, valid[r]);
  }
  __m512 a[RB][NV];
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
    const __m512 c = _mm512_set1_ps(corr[r]);
#pragma GCC unroll 16
    for (int i = 0; i < NV; ++i) {
      a[r][i] = _mm512_loadu_ps(acc[r] + d0 + 16 * i);
      if (corr[r] != 1.0f) a[r][i] = _mm512_mul_ps(a[r][i], c);
    }
  }
  for (int32_t b = 0; b * bs < max_valid; ++b) {
    const int32_t p_begin = b * bs;
    const int32_t p_end = std::min(max_valid, p_begin + bs);
    const int32_t p_all = std::clamp(min_valid, p_begin, p_end);  // every row valid before it
    const T* vp = v[b] + d0;
    int32_t p = p_begin;
    for (; p < p_all; ++p, vp += hd) {
      __m512 w[RB];
#pragma GCC unroll 16
      for (int r = 0; r < RB; ++r) w[r] = _mm512_set1_ps(e[r][p]);
#pragma GCC unroll 16
      for (int i = 0; i < NV; ++i) {
        const __m512 x = Load16(vp + 16 * i);
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) a[r][i] = _mm512_fmadd_ps(w[r], x, a[r][i]);
      }
    }
    for (; p < p_end; ++p, vp += hd) {
#pragma GCC unroll 16
      for (int i = 0; i < NV; ++i) {
        const __m512 x = Load16(vp + 16 * i);
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) {
          if (p < valid[r]) a[r][i] = _mm512_fmadd_ps(_mm512_set1_ps(e[r][p]), x, a[r][i]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
    for (int i = 0; i < NV; ++i) _mm512_storeu_ps(acc[r] + d0 + 16 * i, a[r][i]);
  }
}

template <int RB, typename T>
void AccumulateVDims(const float* const* e, const int32_t* valid, const float* corr,
                     const T* const* v, int32_t bs, int32_t hd, float* const* acc) {
  int32_t d0 = 0;
  for (; d0 + 64 <= hd; d0 += 64) AccumulateV<RB, 4>(e, valid, corr, v, bs, hd, d0, acc);
  for (; d0 < hd; d0 += 16) AccumulateV<RB, 1>(e, valid, corr, v, bs, hd, d0, acc);
}

template <typename T>
void AttendTileAvx512Typed(const AttentionTile& t, AttentionScratch* s) {
  const int32_t hd = t.head_dim;
  const int32_t bs = t.block_size;
  const int32_t rows = t.num_tokens * t.num_heads;
  const int32_t chunk_keys = AttentionChunkKeys(bs);
  const int32_t es = chunk_keys;
  // fp16 K read by more than 4 rows is widened once per 4 groups into floats after the scores in
  // s->e, instead of once per 4 rows (vcvtph2ps competes with the FMAs for ports). Widening is
  // exact, so the rows' arithmetic is the same either way. (Widening V as well measured no gain:
  // its FMAs outnumber its conversions 4 to 1, and the widened copy no longer fits L1.)
  constexpr bool kHalf = std::is_same_v<T, uint16_t>;
  const int64_t wide_floats = kHalf ? int64_t{hd} * 64 + 16 : 0;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  s->q.resize(int64_t{rows} * hd);
  s->acc.assign(int64_t{rows} * hd, 0.0f);
  s->e.resize(int64_t{rows} * es + wide_floats);
  s->m.assign(rows, neg_inf);
  s->l.assign(rows, 0.0f);
  s->corr.resize(rows);
  s->valid.resize(rows);
  // [hd][64], on a cache line: a zmm load that straddles two lines costs twice.
  float* const wide = reinterpret_cast<float*>(
      (reinterpret_cast<uintptr_t>(s->e.data() + int64_t{rows} * es) + 63) & ~uintptr_t{63});
  const __m512 q_scale = _mm512_set1_ps(t.scale * kLog2e);
  for (int32_t r = 0; r < rows; ++r) {
    const float* src = t.q + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    float* dst = &s->q[int64_t{r} * hd];
    for (int32_t d = 0; d < hd; d += 16) {
      _mm512_storeu_ps(dst + d, _mm512_mul_ps(_mm512_loadu_ps(src + d), q_scale));
    }
  }
  const int32_t keys = std::min(t.first_pos + t.num_tokens, t.key_end);  // reach some row
  const int64_t tile_bytes = int64_t{hd} * bs * sizeof(T);
  auto tile = [&](const void* base, int32_t b) {
    return static_cast<const T*>(base) + t.block_stride * t.block_table[b];
  };
  // Blocks sit anywhere in the pool, so the hardware prefetchers cannot guess the next one.
  const int32_t last_block = (keys - 1) / bs;
  const int32_t ahead = std::max(1, 64 / bs);  // blocks per four groups
  for (int32_t b = t.key_begin / bs; b < t.key_begin / bs + ahead && b <= last_block; ++b) {
    const char* c = reinterpret_cast<const char*>(tile(t.k0, b));
    for (int64_t off = 0; off < tile_bytes; off += 64) _mm_prefetch(c + off, _MM_HINT_T0);
  }
  for (int32_t start = t.key_begin; start < keys; start += chunk_keys) {
    const int32_t b0 = start / bs;
    const int32_t chunk_end = std::min(keys, start + chunk_keys);
    const int32_t groups = (chunk_end - start + 15) / 16;
    const int32_t r0 = std::max(0, start - t.first_pos) * t.num_heads;  // rows reaching start
    const bool widen = kHalf && rows - r0 > 4;
    const T* kg[kMaxGroups];
    const T* vt[kMaxGroups];
    for (int32_t g = 0; g < groups; ++g) kg[g] = tile(t.k0, b0 + g * 16 / bs) + g * 16 % bs;
    for (int32_t b = 0; b * bs < chunk_end - start; ++b) vt[b] = tile(t.v0, b0 + b);
    // Scores, four groups at a time, fetching the next blocks' K and this chunk's V meanwhile.
    const float* q = s->q.data() + int64_t{r0} * hd;
    float* e = s->e.data() + int64_t{r0} * es;
    for (int32_t g = 0; g < groups; g += 4) {
      Prefetches pq;  // at most 4 blocks of K and of V
      for (int32_t b = (start + 16 * g) / bs; b < (start + 16 * (g + 4)) / bs; ++b) {
        if (b + ahead <= last_block) pq.Add(tile(t.k0, b + ahead), tile_bytes, true);
        if (b <= last_block) pq.Add(tile(t.v0, b), tile_bytes, false);
      }
      const int32_t nb = std::min(4, groups - g);
      if (widen) {  // group j at column 16 * j
        for (int32_t d = 0; d < hd; ++d) {
          for (int32_t j = 0; j < nb; ++j) {
            _mm512_storeu_ps(wide + int64_t{d} * 64 + 16 * j, Load16(kg[g + j] + int64_t{d} * bs));
          }
        }
        const float* kw[4] = {wide, wide + 16, wide + 32, wide + 48};
        ScoresGroups(nb, q, hd, rows - r0, kw, 64, e + 16 * g, es, &pq);
      } else {
        ScoresGroups(nb, q, hd, rows - r0, kg + g, bs, e + 16 * g, es, &pq);
      }
    }
    // Online softmax, once per chunk and row.
    for (int32_t r = r0; r < rows; ++r) {
      const int32_t valid = std::min(chunk_end, t.first_pos + r / t.num_heads + 1) - start;
      float* er = &s->e[int64_t{r} * es];
      __m512 mx = _mm512_set1_ps(neg_inf);
      for (int32_t p = 0; p < valid; p += 16) {
        mx = _mm512_mask_max_ps(mx, FirstLanes(valid - p), mx, _mm512_loadu_ps(er + p));
      }
      const float m_old = s->m[r];
      const float m_new = std::max(m_old, _mm512_reduce_max_ps(mx));
      float corr = 0.0f;
      if (m_old != neg_inf) corr = _mm512_cvtss_f32(Exp2(_mm512_set1_ps(m_old - m_new)));
      if (m_old == m_new) corr = 1.0f;
      s->m[r] = m_new;
      const __m512 mv = _mm512_set1_ps(m_new);
      __m512 sum = _mm512_setzero_ps();
      for (int32_t p = 0; p < valid; p += 16) {
        const __m512 x = _mm512_maskz_mov_ps(FirstLanes(valid - p),
                                             Exp2(_mm512_sub_ps(_mm512_loadu_ps(er + p), mv)));
        _mm512_storeu_ps(er + p, x);
        sum = _mm512_add_ps(sum, x);
      }
      s->l[r] = s->l[r] * corr + _mm512_reduce_add_ps(sum);
      s->corr[r] = corr;
      s->valid[r] = valid;
    }
    // V sums, rows in fours (a decode tile's query heads share every V load).
    for (int32_t r = r0; r < rows; r += 4) {
      const float* er[4] = {};
      float* acc[4] = {};
      for (int32_t i = 0; i < 4 && r + i < rows; ++i) {
        er[i] = &s->e[int64_t{r + i} * es];
        acc[i] = &s->acc[int64_t{r + i} * hd];
      }
      switch (std::min<int32_t>(4, rows - r)) {
        case 4:
          AccumulateVDims<4, T>(er, &s->valid[r], &s->corr[r], vt, bs, hd, acc);
          break;
        case 3:
          AccumulateVDims<3, T>(er, &s->valid[r], &s->corr[r], vt, bs, hd, acc);
          break;
        case 2:
          AccumulateVDims<2, T>(er, &s->valid[r], &s->corr[r], vt, bs, hd, acc);
          break;
        default:
          AccumulateVDims<1, T>(er, &s->valid[r], &s->corr[r], vt, bs, hd, acc);
          break;
      }
    }
  }
  FinishTile(t, *s);
}

}  // namespace

void AttendTileAvx512(const AttentionTile& tile, AttentionScratch* scratch) {
  if (tile.kv_dtype == KvDtype::kF16) {
    AttendTileAvx512Typed<uint16_t>(tile, scratch);
  } else {
    AttendTileAvx512Typed<float>(tile, scratch);
  }
}

}  // namespace hearth::engine::cpu::internal
