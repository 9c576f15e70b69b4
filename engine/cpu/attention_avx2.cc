// The AVX2+FMA tile kernel of attention.h (compiled with -mavx2 -mfma -mf16c; called only when
// the CPU has them), and the AVX2 SiLU of ops.cc, which shares its exp2.
//
// Like the AVX-512 kernel, it runs the online softmax once per chunk of absolute positions
// ([0, c), [c, 2c), ... with c = max(1, 256 / block_size) whole blocks) instead of once per K/V
// block: scores for the whole chunk into scratch, then one max / exp2 / sum per row, then the V
// sums with the accumulators in registers across the chunk. Chunk boundaries depend only on
// block_size, so a row's arithmetic still depends only on its query, its position and the K/V it
// reads (attention.h's invariants hold):
//
// Scores: K tiles are [head_dim][block_size]; a 16-slot group of a block (a block's last group is
//   partial when block_size % 16 != 0) is two ymm per d, so 3 rows x 2 groups take 12
//   accumulators and one FMA chain per score over d = 0 .. head_dim - 1, whatever rows share it.
// Softmax: max over the row's valid slots (exact), e = 2^(s - m'), the chunk's e summed in 8 lanes
//   in key order and reduced by a fixed tree; slots past the row's valid count are selected away.
// V sum: rows in threes, 32 dims (12 accumulators) at a time for all rows before the next 32, one
//   FMA per (key, 8 dims) in key order; keys at or past a row's valid count are never read for it.
// K/V elements are float or fp16 (T = uint16_t, widened exactly by vcvtph2ps). fp16 K/V read by
// more than 3 rows are widened once into scratch instead of once per 3 rows; being exact, that
// leaves every row's arithmetic the same for either type and either path.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "engine/cpu/attention.h"
#include "engine/cpu/attention_prefetch.h"

namespace hearth::engine::cpu::internal {
namespace {

using Prefetches = PrefetchQueue<4>;  // K and V of one chunk slice

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

// Slots [0, n) of 16 (n >= 16: all) of one K row of a group, 8 at a time, the rest 0.
template <bool kFull, typename T>
inline __m256 LoadK(const T* p, int32_t n) {
  if constexpr (kFull) {
    return Load8(p);
  } else {
    return LoadPartial8(p, n);
  }
}

// The loops over rows and vectors below carry `#pragma GCC unroll`: unrolled that early, GCC keeps
// the arrays of accumulators in registers (else a copy that is not inlined stores all of them on
// every iteration).

// e[r * es + eo[j] + i] = q_r . k_j[i] for RB rows (q rows hd apart), NB 16-slot groups and
// slots i < n[j] (group j's slot i of dim d at k[j] + d * ks + i; e untouched past n[j]). Each
// score is one FMA chain over d = 0 .. hd - 1 whatever RB and NB are. kFull: all 16 slots of
// every group may be read (n[j] limits only the stores).
template <int RB, int NB, bool kFull, typename T>
inline void Scores(const float* q, int32_t hd, const T* const* k, int32_t ks, const int32_t* n,
                   float* e, const int32_t* eo, int32_t es) {
  __m256 acc[RB][2 * NB];
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
    for (int i = 0; i < 2 * NB; ++i) acc[r][i] = _mm256_setzero_ps();
  }
  for (int32_t d = 0; d < hd; ++d) {
    __m256 qd[RB];
#pragma GCC unroll 16
    for (int r = 0; r < RB; ++r) qd[r] = _mm256_broadcast_ss(q + int64_t{r} * hd + d);
#pragma GCC unroll 16
    for (int j = 0; j < NB; ++j) {
      const T* kd = k[j] + int64_t{d} * ks;
#pragma GCC unroll 16
      for (int h = 0; h < 2; ++h) {
        const __m256 x = LoadK<kFull>(kd + 8 * h, n[j] - 8 * h);
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) {
          acc[r][2 * j + h] = _mm256_fmadd_ps(qd[r], x, acc[r][2 * j + h]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < NB; ++j) {
      float* er = e + int64_t{r} * es + eo[j];
#pragma GCC unroll 16
      for (int h = 0; h < 2; ++h) {
        if (n[j] >= 16) {
          _mm256_storeu_ps(er + 8 * h, acc[r][2 * j + h]);
        } else {  // a partial group ends its block: the next block's scores follow at n[j]
          _mm256_maskstore_ps(er + 8 * h, LaneMask(n[j] - 8 * h), acc[r][2 * j + h]);
        }
      }
    }
  }
}

// Scores of `rows` rows against NB groups, 3 rows at a time (3 rows x 2 groups are 12
// accumulators; with 3 query broadcasts and one K vector the 16 ymm registers), issuing an equal
// share of the queued prefetches before each 3.
template <int NB, bool kFull, typename T>
void ScoresRows(const float* q, int32_t hd, int32_t rows, const T* const* k, int32_t ks,
                const int32_t* n, float* e, const int32_t* eo, int32_t es, Prefetches* pq) {
  const int32_t threes = (rows + 2) / 3;
  const int32_t share = (pq->total + threes - 1) / threes;
  int32_t r = 0;
  for (; r + 3 <= rows; r += 3) {
    pq->Issue(share);
    Scores<3, NB, kFull>(q + int64_t{r} * hd, hd, k, ks, n, e + int64_t{r} * es, eo, es);
  }
  pq->Issue(pq->total);
  const float* qr = q + int64_t{r} * hd;
  float* er = e + int64_t{r} * es;
  if (rows - r == 2) Scores<2, NB, kFull>(qr, hd, k, ks, n, er, eo, es);
  if (rows - r == 1) Scores<1, NB, kFull>(qr, hd, k, ks, n, er, eo, es);
}

// Where AccumulateV finds V: key p of the chunk at Block(p / bs) + (p % bs) * row, dims from d0.
template <typename T>
struct PagedV {  // the tile's V blocks [bs][hd], from the chunk's first block on
  const T* base;
  const int32_t* table;
  int64_t stride;
  int32_t row;
  const T* Block(int32_t b, int32_t d0) const { return base + stride * table[b] + d0; }
};
struct WidenedV {  // a copy of the chunk's V dims [d0, d0 + row) as floats, [keys][row]
  const float* base;
  int32_t bs;
  int32_t row;
  const float* Block(int32_t b, int32_t /*d0*/) const { return base + int64_t{b} * bs * row; }
};

// For RB rows: acc_r[d0, d0 + 8 * NV) = acc_r * corr_r (when corr_r != 1) + sum_{p < valid_r}
// e_r[p] v_p over the chunk's keys p in order, the accumulators in registers across the whole
// chunk. Each V vector is loaded once for all RB rows; every (row, dim) sees the same operations
// in the same order whatever RB is. Keys at or past a row's valid count are never read for it.
template <int RB, int NV, typename V>
void AccumulateV(const float* const* e, const int32_t* valid, const float* corr, const V& v,
                 int32_t bs, int32_t d0, float* const* acc) {
  int32_t min_valid = valid[0], max_valid = valid[0];
#pragma GCC unroll 16
  for (int r = 1; r < RB; ++r) {
    min_valid = std::min(min_valid, valid[r]);
    max_valid = std::max(max_valid, valid[r]);
  }
  __m256 a[RB][NV];
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
    const __m256 c = _mm256_set1_ps(corr[r]);
#pragma GCC unroll 16
    for (int i = 0; i < NV; ++i) {
      a[r][i] = _mm256_loadu_ps(acc[r] + d0 + 8 * i);
      if (corr[r] != 1.0f) a[r][i] = _mm256_mul_ps(a[r][i], c);
    }
  }
  for (int32_t b = 0; b * bs < max_valid; ++b) {
    const int32_t p_begin = b * bs;
    const int32_t p_end = std::min(max_valid, p_begin + bs);
    const int32_t p_all = std::clamp(min_valid, p_begin, p_end);  // every row valid before it
    auto vp = v.Block(b, d0);
    int32_t p = p_begin;
    for (; p < p_all; ++p, vp += v.row) {
      __m256 w[RB];
#pragma GCC unroll 16
      for (int r = 0; r < RB; ++r) w[r] = _mm256_broadcast_ss(e[r] + p);
#pragma GCC unroll 16
      for (int i = 0; i < NV; ++i) {
        const __m256 x = Load8(vp + 8 * i);
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) a[r][i] = _mm256_fmadd_ps(w[r], x, a[r][i]);
      }
    }
    for (; p < p_end; ++p, vp += v.row) {  // the rows end at their own positions
#pragma GCC unroll 16
      for (int i = 0; i < NV; ++i) {
        const __m256 x = Load8(vp + 8 * i);
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) {
          if (p < valid[r]) a[r][i] = _mm256_fmadd_ps(_mm256_broadcast_ss(e[r] + p), x, a[r][i]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
    for (int i = 0; i < NV; ++i) _mm256_storeu_ps(acc[r] + d0 + 8 * i, a[r][i]);
  }
}

// AccumulateV for rb <= 3 rows and dims [d0, d0 + 32) (wide) or [d0, d0 + 8): 3 rows x 4
// vectors are 12 accumulators, with 3 weights and one V vector the 16 ymm registers.
template <typename V>
void AccumulateVSlice(int32_t rb, bool wide, const float* const* e, const int32_t* valid,
                      const float* corr, const V& v, int32_t bs, int32_t d0, float* const* acc) {
  if (rb == 3) {
    if (wide) return AccumulateV<3, 4>(e, valid, corr, v, bs, d0, acc);
    return AccumulateV<3, 1>(e, valid, corr, v, bs, d0, acc);
  }
  if (rb == 2) {
    if (wide) return AccumulateV<2, 4>(e, valid, corr, v, bs, d0, acc);
    return AccumulateV<2, 1>(e, valid, corr, v, bs, d0, acc);
  }
  if (wide) return AccumulateV<1, 4>(e, valid, corr, v, bs, d0, acc);
  AccumulateV<1, 1>(e, valid, corr, v, bs, d0, acc);
}

inline float HorizontalSum(__m256 v) {  // a fixed tree: the same bits for every row grouping
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

template <typename T>
void AttendTileAvx2Typed(const AttentionTile& t, AttentionScratch* s) {
  const int32_t hd = t.head_dim;
  const int32_t bs = t.block_size;
  const int32_t rows = t.num_tokens * t.num_heads;
  const int32_t chunk_keys = AttentionChunkKeys(bs);
  const int32_t es = (chunk_keys + 15) / 16 * 16;
  const int32_t block_groups = (bs + 15) / 16;  // 16-slot groups per block, the last partial
  // fp16 K/V read by more than 3 rows are widened once per chunk (V) or group pair (K) into
  // floats after the scores in s->e, instead of once per 3 rows (vcvtph2ps competes with the
  // FMAs for ports). Widening is exact, so the rows' arithmetic is the same either way.
  constexpr bool kHalf = std::is_same_v<T, uint16_t>;
  const int64_t wide_floats = kHalf ? int64_t{32} * std::max(hd, chunk_keys) : 0;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  s->q.resize(int64_t{rows} * hd);
  s->acc.assign(int64_t{rows} * hd, 0.0f);
  s->e.resize(int64_t{rows} * es + wide_floats);
  s->m.assign(rows, neg_inf);
  s->l.assign(rows, 0.0f);
  s->corr.resize(rows);
  s->valid.resize(rows);
  float* const wide = s->e.data() + int64_t{rows} * es;
  const __m256 q_scale = _mm256_set1_ps(t.scale * kLog2e);
  for (int32_t r = 0; r < rows; ++r) {
    const float* src = t.q + (r / t.num_heads) * t.row_stride + (r % t.num_heads) * hd;
    float* dst = &s->q[int64_t{r} * hd];
    for (int32_t d = 0; d < hd; d += 8) {
      _mm256_storeu_ps(dst + d, _mm256_mul_ps(_mm256_loadu_ps(src + d), q_scale));
    }
  }
  auto k_tile = [&](int32_t b) {  // [hd][bs]
    return static_cast<const T*>(t.k0) + t.block_stride * t.block_table[b];
  };
  const int32_t keys = std::min(t.first_pos + t.num_tokens, t.key_end);  // reach some row
  const int32_t last_block = (keys - 1) / bs;
  // Blocks sit anywhere in the pool, so the hardware prefetchers cannot guess the next one:
  // K runs `ahead` blocks (64 keys) in front of the scores, and a chunk's V is fetched to L2
  // while its scores are computed.
  const int64_t tile_bytes = int64_t{hd} * bs * sizeof(T);
  const int32_t ahead = std::max(1, 64 / bs);
  for (int32_t b = t.key_begin / bs; b < t.key_begin / bs + ahead && b <= last_block; ++b) {
    const char* c = reinterpret_cast<const char*>(k_tile(b));
    for (int64_t off = 0; off < tile_bytes; off += 64) _mm_prefetch(c + off, _MM_HINT_T0);
  }
  for (int32_t start = t.key_begin; start < keys; start += chunk_keys) {
    const int32_t b0 = start / bs;
    const int32_t n = std::min(keys, start + chunk_keys) - start;  // the chunk's keys
    const int32_t groups = (n - 1) / bs * block_groups + (n - 1) % bs / 16 + 1;
    const int32_t r0 = std::max(0, start - t.first_pos) * t.num_heads;  // rows reaching start
    const bool widen = kHalf && rows - r0 > 3;
    const PagedV<T> v_paged{static_cast<const T*>(t.v0), t.block_table + b0, t.block_stride, hd};
    const float* q = s->q.data() + int64_t{r0} * hd;
    float* e = s->e.data() + int64_t{r0} * es;
    // Scores, two 16-slot groups at a time (group g: block b0 + g / block_groups, slots from
    // g % block_groups * 16), into e at the groups' key offsets in the chunk.
    for (int32_t g = 0; g < groups; g += 2) {
      const int32_t nb = std::min(2, groups - g);
      const T* kg[2] = {};
      int32_t cnt[2] = {}, eo[2] = {};
      bool full = true;
      Prefetches pq;
      for (int32_t j = 0; j < nb; ++j) {
        const int32_t b = b0 + (g + j) / block_groups;
        const int32_t p0 = (g + j) % block_groups * 16;
        if (p0 == 0) {
          if (b + ahead <= last_block) pq.Add(k_tile(b + ahead), tile_bytes, true);
          pq.Add(v_paged.Block(b - b0, 0), tile_bytes, false);
        }
        kg[j] = k_tile(b) + p0;
        cnt[j] = std::min(16, bs - p0);
        eo[j] = (b - b0) * bs + p0;
        full = full && cnt[j] == 16;
      }
      const int32_t rn = rows - r0;
      if (widen) {
        // [hd][32] floats, slots past a group's count 0 (never stored to e).
        for (int32_t d = 0; d < hd; ++d) {
          for (int32_t j = 0; j < nb; ++j) {
            const T* kd = kg[j] + int64_t{d} * bs;
            float* wd = wide + int64_t{d} * 32 + 16 * j;
            if (cnt[j] == 16) {
              _mm256_storeu_ps(wd, Load8(kd));
              _mm256_storeu_ps(wd + 8, Load8(kd + 8));
            } else {
              _mm256_storeu_ps(wd, LoadPartial8(kd, cnt[j]));
              _mm256_storeu_ps(wd + 8, LoadPartial8(kd + 8, cnt[j] - 8));
            }
          }
        }
        const float* kw[2] = {wide, wide + 16};
        if (nb == 2) {
          ScoresRows<2, true>(q, hd, rn, kw, 32, cnt, e, eo, es, &pq);
        } else {
          ScoresRows<1, true>(q, hd, rn, kw, 32, cnt, e, eo, es, &pq);
        }
      } else if (nb == 2 && full) {
        ScoresRows<2, true>(q, hd, rn, kg, bs, cnt, e, eo, es, &pq);
      } else if (nb == 2) {
        ScoresRows<2, false>(q, hd, rn, kg, bs, cnt, e, eo, es, &pq);
      } else if (full) {
        ScoresRows<1, true>(q, hd, rn, kg, bs, cnt, e, eo, es, &pq);
      } else {
        ScoresRows<1, false>(q, hd, rn, kg, bs, cnt, e, eo, es, &pq);
      }
    }
    // Online softmax, once per chunk and row. Slots past the row's valid count (future or stale
    // keys, possibly NaN) are selected away in the last vector, never multiplied.
    for (int32_t r = r0; r < rows; ++r) {
      const int32_t valid = std::min(n, t.first_pos + r / t.num_heads + 1 - start);
      const int32_t whole = valid / 8 * 8;
      float* er = &s->e[int64_t{r} * es];
      __m256 mx = _mm256_set1_ps(neg_inf);
      for (int32_t p = 0; p < whole; p += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(er + p));
      const __m256 keep = _mm256_castsi256_ps(LaneMask(valid - whole));
      if (whole < valid) {
        mx = _mm256_max_ps(
            mx, _mm256_blendv_ps(_mm256_set1_ps(neg_inf), _mm256_loadu_ps(er + whole), keep));
      }
      const float m_old = s->m[r];
      const float m_new = std::max(m_old, HorizontalMax(mx));
      float corr = 0.0f;
      if (m_old != neg_inf)
        _mm_store_ss(&corr, _mm256_castps256_ps128(Exp2(_mm256_set1_ps(m_old - m_new))));
      if (m_old == m_new) corr = 1.0f;
      s->m[r] = m_new;
      const __m256 mv = _mm256_set1_ps(m_new);
      __m256 sum = _mm256_setzero_ps();
      for (int32_t p = 0; p < whole; p += 8) {
        const __m256 x = Exp2(_mm256_sub_ps(_mm256_loadu_ps(er + p), mv));
        _mm256_storeu_ps(er + p, x);
        sum = _mm256_add_ps(sum, x);
      }
      if (whole < valid) {
        const __m256 x = _mm256_blendv_ps(
            _mm256_setzero_ps(), Exp2(_mm256_sub_ps(_mm256_loadu_ps(er + whole), mv)), keep);
        _mm256_storeu_ps(er + whole, x);
        sum = _mm256_add_ps(sum, x);
      }
      s->l[r] = s->l[r] * corr + HorizontalSum(sum);
      s->corr[r] = corr;
      s->valid[r] = valid;
    }
    // V sums, rows in threes (a decode tile's query heads share every V load), one 32-dim slice
    // for all rows before the next (the slice of the chunk's V stays in L1 across the rows).
    for (int32_t d0 = 0; d0 < hd;) {
      const bool wide_slice = hd - d0 >= 32;
      const int32_t w = wide_slice ? 32 : 8;
      const WidenedV v_wide{wide, bs, w};
      if (widen) {
        for (int32_t p = 0; p < n; ++p) {
          const T* src = v_paged.Block(p / bs, d0) + int64_t{p % bs} * hd;
          for (int32_t i = 0; i < w; i += 8) _mm256_storeu_ps(wide + p * w + i, Load8(src + i));
        }
      }
      for (int32_t r = r0; r < rows; r += 3) {
        const float* er[3] = {};
        float* acc[3] = {};
        for (int32_t i = 0; i < 3 && r + i < rows; ++i) {
          er[i] = &s->e[int64_t{r + i} * es];
          acc[i] = &s->acc[int64_t{r + i} * hd];
        }
        const int32_t rb = std::min<int32_t>(3, rows - r);
        if (widen) {
          AccumulateVSlice(rb, wide_slice, er, &s->valid[r], &s->corr[r], v_wide, bs, d0, acc);
        } else {
          AccumulateVSlice(rb, wide_slice, er, &s->valid[r], &s->corr[r], v_paged, bs, d0, acc);
        }
      }
      d0 += w;
    }
  }
  FinishTile(t, *s);
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
