// The mixture-of-experts kernel of CudaOps (the rest of a MoE block reuses ops_kernels.h's
// Gather and SiluMul and the matmuls; see moe_plan.h for the data flow).
//
// Plain C++17 (no Abseil): seen by nvcc and by the host compiler. The body lives in
// moe_device.cuh (host-replayable: tests/engine/cuda/host_replay_ops.cu).
//
// Determinism: one block per token; each output element is the weighted sum of the token's k
// expert rows in rank order r = 0..k-1 (then the shared expert), every product and sum rounded
// on its own (no fused multiply-add): the CPU's MoeFfn arithmetic (engine/cpu/moe.cc, built with
// -ffp-contract=off), so equal inputs give equal bits, whatever else shares the step. No atomics.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace hearth::engine::cuda {

// out[t, i] = w[t k] y[slots[t k], i] + w[t k + 1] y[slots[t k + 1], i] + ...   (rank order)
//             (+ sigmoid(shared_gate[t]) * shared[t, i], the sigmoid in double as the CPU's)
struct MoeCombineParams {
  const float* y = nullptr;            // device [routes, dim]: expert outputs, grouped order
  const int32_t* slots = nullptr;      // device [n * k]: row of y for route t * k + r
  const float* weights = nullptr;      // device [n * k]
  const float* shared = nullptr;       // device [n, dim] or null (no shared expert)
  const float* shared_gate = nullptr;  // device [n]: the gate's logit per token (with shared)
  float* out = nullptr;                // device [n, dim]; must not alias y or shared
  int32_t n = 0;
  int32_t k = 0;
  int64_t dim = 0;
};

cudaError_t LaunchMoeCombine(const MoeCombineParams& p, cudaStream_t stream);

}  // namespace hearth::engine::cuda
