// Bodies of the attention kernels (plan in attention_kernels.h), written over a context so that
// tests/engine/cuda/host_replay_attention.cu runs them on the CPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/cuda/attention_kernels.h"
#include "engine/cuda/kernel_ctx.cuh"
#include "engine/cuda/quant_device.cuh"

namespace hearth::engine::cuda {

inline constexpr float kAttentionLog2e = 1.4426950408889634f;  // base-2 softmax (as the CPU)
inline constexpr int kAttentionSlots = 4;                      // rows per warp at 8 warps x 32 rows
inline constexpr int kAttentionDims = kAttentionMaxHeadDim / kWarpSize;  // per lane

// Shared memory of the tile kernel: scaled queries [32][hd], K [32][hd + 1] (padded: lane p reads
// key p's row, conflict-free), V [32][hd].
inline int AttentionSmemBytes(int head_dim) {
  return (kAttentionMaxRows * head_dim + kAttentionChunkKeys * (head_dim + 1) +
          kAttentionChunkKeys * head_dim) *
         4;
}

HEARTH_HD float Exp2F(float v) {
#ifdef __CUDA_ARCH__
  return exp2f(v);
#else
  return std::exp2(v);
#endif
}

HEARTH_HD float MaxF(float a, float b) { return a > b ? a : b; }

HEARTH_HD float KvToFloat(const void* pool, int64_t off, bool f16) {
  if (f16) {
    const unsigned short bits = static_cast<const unsigned short*>(pool)[off];
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(bits));
#else
    return HalfToFloat(bits);
#endif
  }
  return static_cast<const float*>(pool)[off];
}

template <class Ctx>
HEARTH_HD float WarpMax(Ctx& ctx, float v) {
  for (int off = 16; off > 0; off >>= 1) v = MaxF(v, ctx.ShflXor(v, off));
  return v;
}

// Butterfly sum: every lane ends with the same bits (float addition commutes).
template <class Ctx>
HEARTH_HD float WarpSum(Ctx& ctx, float v) {
  for (int off = 16; off > 0; off >>= 1) v = AddRn(v, ctx.ShflXor(v, off));
  return v;
}

// (M, L, A) <- (M, L, A) merged with one segment's (m, l, acc) (one lane's dimensions). Segments
// are merged in order with this one function in both modes, so their bits agree.
HEARTH_HD void MergeAttentionState(float* M, float* L, float* A, float m, float l,
                                   const float* acc) {
  if (m == -INFINITY) return;
  if (*M == -INFINITY) {
    *M = m;
    *L = l;
#pragma unroll
    for (int i = 0; i < kAttentionDims; ++i) A[i] = acc[i];
    return;
  }
  const float mn = MaxF(*M, m);
  const float ca = *M == mn ? 1.0f : Exp2F(SubRn(*M, mn));
  const float cb = m == mn ? 1.0f : Exp2F(SubRn(m, mn));
  *L = AddRn(MulRn(*L, ca), MulRn(l, cb));
#pragma unroll
  for (int i = 0; i < kAttentionDims; ++i) A[i] = AddRn(MulRn(A[i], ca), MulRn(acc[i], cb));
  *M = mn;
}

// Writes one row's output A * (1 / L) (lane's dimensions).
HEARTH_HD void StoreAttentionRow(float* out, int lane, int hd, float L, const float* A) {
  const float inv = 1.0f / L;
#pragma unroll
  for (int i = 0; i < kAttentionDims; ++i) {
    if (lane + kWarpSize * i < hd) out[lane + kWarpSize * i] = MulRn(A[i], inv);
  }
}

// Block per work item (block_x); warps = threads / 32; smem: AttentionSmemBytes(head_dim).
template <class Ctx>
HEARTH_HD void AttentionTileBody(Ctx& ctx, const AttentionParams& p, uint8_t* smem) {
  const AttentionWork w = p.work[ctx.block_x()];
  const AttentionSeq sq = p.seqs[w.seq];
  const KvLayout& lay = p.layout;
  const int hd = lay.head_dim, bs = lay.block_size;
  const int group = p.num_heads / lay.num_kv_heads;
  const int rows = w.num_tokens * w.num_heads;
  const int warps = ctx.threads() / kWarpSize, warp = ctx.thread() / kWarpSize;
  const int lane = ctx.thread() % kWarpSize;
  const int first_pos = sq.context_len - sq.num_tokens + w.token_offset;
  const int max_key = first_pos + w.num_tokens;  // keys [0, max_key) reach some row
  const int64_t q_dim = static_cast<int64_t>(p.num_heads) * hd;
  const int64_t k_base = lay.Offset(p.layer, 0, w.kv_head, 0);
  const int64_t v_base = lay.Offset(p.layer, 1, w.kv_head, 0);
  const int32_t* table = p.block_tables + sq.table_offset;
  float* qs = reinterpret_cast<float*>(smem);
  float* ks = qs + kAttentionMaxRows * hd;
  float* vs = ks + kAttentionChunkKeys * (hd + 1);

  const float q_scale = MulRn(p.scale, kAttentionLog2e);
  for (int i = ctx.thread(); i < rows * hd; i += ctx.threads()) {
    const int r = i / hd, d = i % hd;
    const int64_t tok = sq.token_begin + w.token_offset + r / w.num_heads;
    const int head = w.kv_head * group + w.head_offset + r % w.num_heads;
    qs[i] = MulRn(p.q[tok * q_dim + head * hd + d], q_scale);
  }

  float M[kAttentionSlots], L[kAttentionSlots], A[kAttentionSlots][kAttentionDims];
  float m[kAttentionSlots], l[kAttentionSlots], acc[kAttentionSlots][kAttentionDims];
#pragma unroll
  for (int s = 0; s < kAttentionSlots; ++s) {
    M[s] = -INFINITY;
    L[s] = 0.0f;
#pragma unroll
    for (int i = 0; i < kAttentionDims; ++i) A[s][i] = 0.0f;
  }
  const int seg_first = w.segment >= 0 ? w.segment : 0;
  const int seg_last = w.segment >= 0 ? w.segment : (max_key - 1) / kAttentionSegmentKeys;
  for (int g = seg_first; g <= seg_last; ++g) {
#pragma unroll
    for (int s = 0; s < kAttentionSlots; ++s) {
      m[s] = -INFINITY;
      l[s] = 0.0f;
#pragma unroll
      for (int i = 0; i < kAttentionDims; ++i) acc[s][i] = 0.0f;
    }
    const int seg_begin = g * kAttentionSegmentKeys;
    const int seg_end =
        seg_begin + kAttentionSegmentKeys < max_key ? seg_begin + kAttentionSegmentKeys : max_key;
    for (int k0 = seg_begin; k0 < seg_end; k0 += kAttentionChunkKeys) {
      const int nkeys = seg_end - k0 < kAttentionChunkKeys ? seg_end - k0 : kAttentionChunkKeys;
      ctx.SyncBlock();  // the previous chunk's readers are done; the queries are in place
      for (int i = ctx.thread(); i < nkeys * hd; i += ctx.threads()) {
        const int kp = i / hd, d = i % hd, pos = k0 + kp;
        const int64_t block_off = static_cast<int64_t>(table[pos / bs]) * lay.BlockElements() +
                                  static_cast<int64_t>(pos % bs) * hd + d;
        ks[kp * (hd + 1) + d] = KvToFloat(p.kv, block_off + k_base, lay.f16);
        vs[kp * hd + d] = KvToFloat(p.kv, block_off + v_base, lay.f16);
      }
      ctx.SyncBlock();
#pragma unroll
      for (int s = 0; s < kAttentionSlots; ++s) {
        const int r = warp + warps * s;
        const int pos = first_pos + r / (w.num_heads > 0 ? w.num_heads : 1);
        if (r < rows && pos >= k0) {  // the same for the whole warp
          const int nvalid = nkeys < pos - k0 + 1 ? nkeys : pos - k0 + 1;
          const bool valid = lane < nvalid;
          float score = -INFINITY;
          if (valid) {
            const float* qr = qs + r * hd;
            const float* kr = ks + lane * (hd + 1);
            float dot = 0.0f;
            for (int d = 0; d < hd; ++d) dot = fmaf(qr[d], kr[d], dot);
            score = dot;
          }
          const float mn = MaxF(m[s], WarpMax(ctx, score));
          const float e = valid ? Exp2F(SubRn(score, mn)) : 0.0f;
          const float corr = m[s] == -INFINITY ? 0.0f : Exp2F(SubRn(m[s], mn));
          l[s] = AddRn(MulRn(l[s], corr), WarpSum(ctx, e));
#pragma unroll
          for (int i = 0; i < kAttentionDims; ++i) acc[s][i] = MulRn(acc[s][i], corr);
          for (int kp = 0; kp < nvalid; ++kp) {
            const float ep = ctx.Shfl(e, kp);
            const float* vr = vs + kp * hd;
#pragma unroll
            for (int i = 0; i < kAttentionDims; ++i) {
              if (lane + kWarpSize * i < hd)
                acc[s][i] = fmaf(ep, vr[lane + kWarpSize * i], acc[s][i]);
            }
          }
          m[s] = mn;
        }
      }
    }
#pragma unroll
    for (int s = 0; s < kAttentionSlots; ++s) {
      const int r = warp + warps * s;
      if (r >= rows) continue;
      if (w.segment >= 0) {
        float* st = p.partials + (w.partial + static_cast<int64_t>(r) * w.segments + g) * (hd + 2);
        if (lane == 0) {
          st[0] = m[s];
          st[1] = l[s];
        }
#pragma unroll
        for (int i = 0; i < kAttentionDims; ++i) {
          if (lane + kWarpSize * i < hd) st[2 + lane + kWarpSize * i] = acc[s][i];
        }
      } else {
        MergeAttentionState(&M[s], &L[s], A[s], m[s], l[s], acc[s]);
      }
    }
  }
  if (w.segment >= 0) return;
#pragma unroll
  for (int s = 0; s < kAttentionSlots; ++s) {
    const int r = warp + warps * s;
    if (r >= rows) continue;
    const int64_t tok = sq.token_begin + w.token_offset + r / w.num_heads;
    const int head = w.kv_head * group + w.head_offset + r % w.num_heads;
    StoreAttentionRow(p.out + tok * q_dim + static_cast<int64_t>(head) * hd, lane, hd, L[s], A[s]);
  }
}

// Block per merge job (block_x): each warp merges its rows' segment states in order.
template <class Ctx>
HEARTH_HD void AttentionMergeBody(Ctx& ctx, const AttentionParams& p) {
  const AttentionWork w = p.merges[ctx.block_x()];
  const AttentionSeq sq = p.seqs[w.seq];
  const int hd = p.layout.head_dim;
  const int group = p.num_heads / p.layout.num_kv_heads;
  const int rows = w.num_tokens * w.num_heads;
  const int warps = ctx.threads() / kWarpSize, warp = ctx.thread() / kWarpSize;
  const int lane = ctx.thread() % kWarpSize;
  const int64_t q_dim = static_cast<int64_t>(p.num_heads) * hd;
  for (int r = warp; r < rows; r += warps) {
    float M = -INFINITY, L = 0.0f, A[kAttentionDims] = {};
    for (int g = 0; g < w.segments; ++g) {
      const float* st =
          p.partials + (w.partial + static_cast<int64_t>(r) * w.segments + g) * (hd + 2);
      float acc[kAttentionDims];
#pragma unroll
      for (int i = 0; i < kAttentionDims; ++i) {
        acc[i] = lane + kWarpSize * i < hd ? st[2 + lane + kWarpSize * i] : 0.0f;
      }
      MergeAttentionState(&M, &L, A, st[0], st[1], acc);
    }
    const int64_t tok = sq.token_begin + w.token_offset + r / w.num_heads;
    const int head = w.kv_head * group + w.head_offset + r % w.num_heads;
    StoreAttentionRow(p.out + tok * q_dim + static_cast<int64_t>(head) * hd, lane, hd, L, A);
  }
}

}  // namespace hearth::engine::cuda
