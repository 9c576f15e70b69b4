// How CudaOps::MoeFfn lays out one mixture-of-experts block of a step (host-only code, unit
// tested on the CPU: tests/engine/cuda/moe_plan_test.cc).
//
// From the router logits [n, num_experts] (downloaded once per MoE block: the per-expert matmul
// launches need each expert's row count on the host anyway), the routes are chosen with the CPU's
// own rule (cpu::RouteTopK: k largest logits, equal logits in ascending expert id, NaN last,
// weights softmaxed in double), so both devices route identically given the same logits. The
// step's n * k routes are then grouped by expert (cpu::GroupByExpert: expert by expert, each in
// token order), and every buffer of the block is one contiguous array in that grouped order:
//
//   xg   [routes, dim]          xg[i] = x[gather[i]]                 (one gather launch)
//   gu   expert by expert       [rows_e, 2 f_e] = xg rows of e * gate_up_e^T
//   h    expert by expert       [rows_e, f_e] = silu(gate) * up
//   yg   [routes, dim]          rows of e = h_e * down_e^T
//   out[t] = sum over r = 0..k-1 of weights[t k + r] * yg[slots[t k + r]]   (moe_kernels.h)
//
// Only experts with routes appear in `runs`, so only their weights are read.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace hearth::engine::cuda {

// One expert's share of the step.
struct MoeRun {
  int32_t expert = 0;
  int32_t rows = 0;       // routes to this expert
  int64_t route0 = 0;     // first grouped route: rows [route0, route0 + rows) of xg and yg
  int64_t gu_offset = 0;  // floats into gu
  int64_t h_offset = 0;   // floats into h
};

struct MoePlan {
  int64_t n = 0;
  int32_t top_k = 0;
  std::vector<int32_t> experts;  // [n * k] expert of route t * k + r (rank order)
  std::vector<float> weights;    // [n * k]
  std::vector<int32_t> gather;   // [n * k] token of grouped route i
  std::vector<int32_t> slots;    // [n * k] grouped position of route t * k + r
  std::vector<MoeRun> runs;      // experts with routes, ascending id
  int64_t gu_floats = 0;         // sum of rows_e * 2 f_e
  int64_t h_floats = 0;          // sum of rows_e * f_e
};

// The plan of a step of n tokens. expert_ffn[e] = f_e (expert e's intermediate width).
// REQUIRES: 1 <= top_k <= expert_ffn.size(); logits holds n * expert_ffn.size() floats.
void BuildMoePlan(const float* logits, int64_t n, int32_t top_k, bool normalize,
                  absl::Span<const int64_t> expert_ffn, MoePlan* plan);

}  // namespace hearth::engine::cuda
