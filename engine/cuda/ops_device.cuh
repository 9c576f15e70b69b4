// Bodies of the kernels declared in ops_kernels.h (nvcc only), written over a context (see
// kernel_ctx.cuh) so that tests/engine/cuda/host_replay_ops.cu runs them on the CPU.
//
// Floats are combined with explicitly rounded operations (MulRn, AddRn, SubRn) wherever the CPU
// twin (engine/cpu/ops.cc) computes without fused multiply-adds, so that the same inputs give
// the same bits on both: embedding rows, RoPE rotations and the K/V written to the cache are
// bit-identical to the CPU's; RmsNorm sums its squares in a different (but fixed) order and
// SiluMul uses CUDA's expf, so those agree to a few ulp.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_ctx.cuh"
#include "engine/cuda/ops_kernels.h"
#include "engine/cuda/quant_device.cuh"

namespace hearth::engine::cuda {

HEARTH_HD float DivRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

HEARTH_HD float ExpF(float v) {
#ifdef __CUDA_ARCH__
  return expf(v);
#else
  return std::exp(v);
#endif
}

// Block per token (block_x), threads over the row's groups of 8 elements.
template <typename T, class Ctx>
HEARTH_HD void EmbedBody(Ctx& ctx, const EmbedParams& p) {
  constexpr int kGroups = T::kElems / 8;
  const int64_t t = ctx.block_x();
  const uint8_t* row = p.table + static_cast<int64_t>(p.tokens[t]) * p.row_bytes;
  float* out = p.x + t * p.dim;
  for (int g = ctx.thread(); g < p.dim / 8; g += ctx.threads()) {
    T::Group(row + (g / kGroups) * T::kBytes, g % kGroups, out + 8 * g);
  }
}

// Block per row (block_x), kNormThreads threads; smem: kNormThreads doubles.
template <class Ctx>
HEARTH_HD void RmsNormBody(Ctx& ctx, const RmsNormParams& p, uint8_t* smem) {
  double* part = reinterpret_cast<double*>(smem);
  const int tid = ctx.thread(), threads = ctx.threads();
  const int64_t r = ctx.block_x();
  float* x = p.x + r * p.dim;
  float* y = p.y + r * p.dim;
  const float* delta = p.delta == nullptr ? nullptr : p.delta + r * p.dim;
  double s = 0.0;
  for (int i = tid; i < p.dim; i += threads) {
    float v = x[i];
    if (delta != nullptr) {
      v = AddRn(v, delta[i]);
      x[i] = v;
    }
    s += static_cast<double>(v) * v;  // the product is exact in double: fused or not, same bits
  }
  part[tid] = s;
  ctx.SyncBlock();
  for (int stride = threads / 2; stride > 0; stride /= 2) {
    if (tid < stride) part[tid] += part[tid + stride];
    ctx.SyncBlock();
  }
  const double ss = part[0];
  const float scale = static_cast<float>(1.0 / sqrt(ss / p.dim + static_cast<double>(p.eps)));
  for (int i = tid; i < p.dim; i += threads) y[i] = MulRn(MulRn(x[i], scale), p.w[i]);
}

// Thread per (token, angle): flat index block_x * threads + thread.
template <class Ctx>
HEARTH_HD void RopeTableBody(Ctx& ctx, const RopeTableParams& p) {
  const int half = p.rope_dims / 2;
  const int64_t idx = static_cast<int64_t>(ctx.block_x()) * ctx.threads() + ctx.thread();
  if (idx >= static_cast<int64_t>(p.n) * half) return;
  const int64_t t = idx / half;
  const int i = static_cast<int>(idx % half);
  const double angle = static_cast<double>(p.positions[t]) * static_cast<double>(p.inv_freq[i]);
  p.cos_sin[t * p.rope_dims + 2 * i] = static_cast<float>(cos(angle));
  p.cos_sin[t * p.rope_dims + 2 * i + 1] = static_cast<float>(sin(angle));
}

// One element of the K/V pool.
HEARTH_HD void StoreKvElement(const RopeStoreParams& p, int32_t slot, int kv, int head, int d,
                              float v) {
  const KvLayout& l = p.layout;
  const int64_t off = static_cast<int64_t>(slot / l.block_size) * l.BlockElements() +
                      l.Offset(p.layer, kv, head, slot % l.block_size) + d;
  if (l.f16) {
    static_cast<uint16_t*>(p.kv)[off] = HalfBits(v);
  } else {
    static_cast<float*>(p.kv)[off] = v;
  }
}

// Block per token (block_x), threads over the row's q_dim + 2 kv_dim elements. Each element is
// computed on its own (reading its RoPE partner), so no thread waits for another.
template <class Ctx>
HEARTH_HD void RopeStoreBody(Ctx& ctx, const RopeStoreParams& p) {
  const int hd = p.layout.head_dim;
  const int qd = p.num_heads * hd, kvd = p.layout.num_kv_heads * hd;
  const int64_t t = ctx.block_x();
  const float* row = p.qkv + t * (qd + 2 * kvd);
  const float* cs = p.cos_sin + t * p.rope_dims;
  const int32_t slot = p.slots[t];
  const int half = p.rope_dims / 2;
  for (int j = ctx.thread(); j < qd + 2 * kvd; j += ctx.threads()) {
    const float v = p.bias == nullptr ? row[j] : AddRn(row[j], p.bias[j]);
    if (j >= qd + kvd) {  // V
      const int jj = j - qd - kvd;
      if (slot >= 0) StoreKvElement(p, slot, 1, jj / hd, jj % hd, v);
      continue;
    }
    const int jj = j < qd ? j : j - qd;
    const int d = jj % hd;
    float out = v;
    if (d < p.rope_dims) {
      int i, partner;
      bool first;
      if (p.neox) {
        first = d < half;
        i = first ? d : d - half;
        partner = first ? d + half : d - half;
      } else {
        first = d % 2 == 0;
        i = d / 2;
        partner = first ? d + 1 : d - 1;
      }
      const int pj = j - d + partner;
      const float pv = p.bias == nullptr ? row[pj] : AddRn(row[pj], p.bias[pj]);
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float x0 = first ? v : pv, x1 = first ? pv : v;
      out = first ? SubRn(MulRn(x0, c), MulRn(x1, s)) : AddRn(MulRn(x0, s), MulRn(x1, c));
    }
    if (j < qd) {
      p.q[t * qd + j] = out;
    } else if (slot >= 0) {
      StoreKvElement(p, slot, 0, jj / hd, d, out);
    }
  }
}

// Thread per element: flat index block_x * threads + thread.
template <class Ctx>
HEARTH_HD void SiluMulBody(Ctx& ctx, const SiluMulParams& p) {
  const int64_t idx = static_cast<int64_t>(ctx.block_x()) * ctx.threads() + ctx.thread();
  if (idx >= static_cast<int64_t>(p.n) * p.f) return;
  const int64_t t = idx / p.f, i = idx % p.f;
  const float g = p.gate_up[t * 2 * p.f + i];
  const float u = p.gate_up[t * 2 * p.f + p.f + i];
  p.h[idx] = MulRn(DivRn(g, AddRn(1.0f, ExpF(-g))), u);
}

// Block per output row (block_x).
template <class Ctx>
HEARTH_HD void GatherBody(Ctx& ctx, const GatherParams& p) {
  const int64_t i = ctx.block_x();
  const float* src = p.x + static_cast<int64_t>(p.rows[i]) * p.cols;
  float* dst = p.y + i * p.cols;
  for (int64_t c = ctx.thread(); c < p.cols; c += ctx.threads()) dst[c] = src[c];
}

}  // namespace hearth::engine::cuda
