// The mixture-of-experts feed-forward block on the CPU (DeviceOps::MoeFfn, device_ops.h):
//
//   x [n, dim] ── router MatMul ── logits [n, E] ── RouteTopK ── k (expert, weight) per token
//   GroupByExpert: each expert's routes, in token order
//   for each expert e with routes:                      (only these experts' bytes are read)
//     xe = the rows of x routed to e ── gate|up MatMul ── SiLU(gate) * up ── down MatMul
//     ── row i of the result into route slot y[t * k + r] of the token it came from
//   out[t] = w[t, 0] y[t k] + w[t, 1] y[t k + 1] + ...          (rank order)
//          (+ sigmoid(x[t] . shared_gate) * shared(x[t]) with a shared expert)
//
// Each expert's weights are streamed once per call for all the tokens routed to it (a batched
// step reads each used expert once, not once per token); a decode step of one token reads only
// its k experts.
//
// Batch invariance: out[t] depends only on x[t] and the weights, bit for bit. Routing reads only
// row t of the logits; MatMul rows are batch invariant (kernels/matmul.h), so an expert's output
// row for token t is the same whichever other tokens share the expert; and the k outputs are
// summed in rank order.
//
// Thread-safety: a MoeScratch is used by one caller at a time; the matrices are read-only.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/cpu/kernels/matmul.h"
#include "engine/cpu/kernels/thread_pool.h"

namespace hearth::engine::cpu {

// How a token's experts are chosen and weighted.
struct RoutingRule {
  int32_t top_k = 2;  // experts per token, in [1, num_experts]
  // true (Mixtral): weights = softmax over the k selected logits (they sum to 1).
  // false (Qwen2-MoE): weights = the selected experts' probabilities under a softmax over all
  // num_experts logits (not renormalized).
  bool normalize = true;
};

// For each of n rows of logits [n, num_experts]: experts[t * k + r] = the expert of rank r (the
// k largest logits in descending order; equal logits in ascending expert id; NaN ranks below
// every number) and weights[t * k + r] its weight (rule.normalize). Softmaxes in double.
// REQUIRES: 1 <= rule.top_k <= num_experts; experts and weights hold n * top_k values.
void RouteTopK(const float* logits, int64_t n, int32_t num_experts, const RoutingRule& rule,
               int32_t* experts, float* weights);

// The routes of a step grouped by expert: expert e's are routes[offsets[e], offsets[e + 1]),
// each a route index t * k + r, in ascending order (so in token order).
struct ExpertGroups {
  std::vector<int32_t> offsets;  // [num_experts + 1]
  std::vector<int32_t> routes;   // [num_routes]
};
// `experts`: [num_routes] expert ids in [0, num_experts) (RouteTopK's output).
void GroupByExpert(const int32_t* experts, int64_t num_routes, int32_t num_experts,
                   ExpertGroups* groups);

// One SwiGLU FFN: h = silu(x gate^T) * (x up^T), y = h down^T.
struct ExpertMatrices {
  WeightMatrix gate;  // [f, dim]
  WeightMatrix up;    // [f, dim]
  WeightMatrix down;  // [dim, f]
  // gate|up as one [2f, dim] matrix when their strips lie back to back (rows = 0 when not): one
  // pass over the threads instead of two, the same bits per row. Used in kQ8 precision only.
  WeightMatrix gate_up;
};

struct MoeMatrices {
  WeightMatrix router;                  // [num_experts, dim]
  std::vector<ExpertMatrices> experts;  // [num_experts]
  RoutingRule rule;
  // Optional shared expert (Qwen2-MoE), run for every token and scaled by sigmoid(x . gate):
  WeightMatrix shared_gate;  // [1, dim]; rows = 0: no shared expert
  ExpertMatrices shared;
};

// Working memory of MoeFfn, reused across calls, and what the last call routed.
struct MoeScratch {
  std::vector<float> logits;       // [n, num_experts]
  std::vector<int32_t> experts;    // [n, k]
  std::vector<float> weights;      // [n, k]
  ExpertGroups groups;             // tokens per expert e: groups.offsets[e + 1] - offsets[e]
  std::vector<float> xe;           // [rows of one expert, dim]
  std::vector<float> gate_up;      // [rows, 2 f] (or gate then up, [rows, f] each)
  std::vector<float> h;            // [rows, f]
  std::vector<float> ye;           // [rows, dim]
  std::vector<float> y;            // [n * k, dim] expert outputs by route
  std::vector<float> shared;       // [n, dim] shared expert output
  std::vector<float> shared_gate;  // [n]
};

// out [n, dim] = the MoE block of x [n, dim] (see the top of this file), activations meeting
// quantized weights with `precision` as MatMul does. `pool` may be null.
// REQUIRES: the matrices' shapes agree (router rows = experts.size(), cols = dim); out does not
// alias x.
void MoeFfn(const MoeMatrices& m, const float* x, int64_t n, int64_t dim, float* out,
            MoeScratch* scratch, ThreadPool* pool, ActPrecision precision);

// y [rows, dim] = the SwiGLU FFN of `e` over x [rows, dim] (MoeFfn's per-expert step; the dense
// FFN computes the same bits). gate_up and h are working memory.
void ExpertFfn(const ExpertMatrices& e, const float* x, int64_t rows, float* y,
               std::vector<float>* gate_up, std::vector<float>* h, ThreadPool* pool,
               ActPrecision precision);

}  // namespace hearth::engine::cpu
