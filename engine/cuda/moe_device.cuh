// Body of the kernel declared in moe_kernels.h (nvcc only), written over a context (see
// kernel_ctx.cuh) so that tests/engine/cuda/host_replay_ops.cu runs it on the CPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_ctx.cuh"
#include "engine/cuda/moe_kernels.h"
#include "engine/cuda/quant_device.cuh"

namespace hearth::engine::cuda {

// sigmoid(v) = 1 / (1 + exp(-v)) in double, rounded to float once (engine/cpu/moe.cc Sigmoid).
HEARTH_HD float SigmoidD(float v) {
  return static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(v))));
}

// Block per token (block_x), threads over the row's elements.
template <class Ctx>
HEARTH_HD void MoeCombineBody(Ctx& ctx, const MoeCombineParams& p) {
  const int64_t t = ctx.block_x();
  const int32_t* slots = p.slots + t * p.k;
  const float* w = p.weights + t * p.k;
  float* o = p.out + t * p.dim;
  const float g = p.shared == nullptr ? 0.0f : SigmoidD(p.shared_gate[t]);
  for (int64_t i = ctx.thread(); i < p.dim; i += ctx.threads()) {
    float v = MulRn(w[0], p.y[int64_t{slots[0]} * p.dim + i]);
    for (int32_t r = 1; r < p.k; ++r) {
      v = AddRn(v, MulRn(w[r], p.y[int64_t{slots[r]} * p.dim + i]));
    }
    if (p.shared != nullptr) v = AddRn(v, MulRn(g, p.shared[t * p.dim + i]));
    o[i] = v;
  }
}

}  // namespace hearth::engine::cuda
