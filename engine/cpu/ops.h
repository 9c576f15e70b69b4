// The small per-row operations of the CPU forward pass (everything that is not a matmul).
//
// Each function works row by row in a fixed order, so a row's result depends only on that
// row's inputs: the batch-invariance guarantee of the backend rests on this (and on MatMul's).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"

namespace hearth::engine::cpu {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for r in [0, n). x, y: [n, dim]; w: [dim].
// y may alias x.
void RmsNorm(const float* x, const float* w, int64_t n, int32_t dim, float eps, float* y);

// y[i] += b for each of n rows of width `dim`.
void AddBias(float* y, const float* b, int64_t n, int32_t dim);

// h[i] = silu(gate[i]) * up[i] for `count` elements; h may alias gate.
void SiluMul(const float* gate, const float* up, int64_t count, float* h);

// RoPE angle table for a model: inv_freq[i] = base^(-2i/rope_dims) / freq_factor[i] / linear.
class Rope {
 public:
  // `freq_factors`: [rope_dims / 2] or empty.
  Rope(const ModelConfig& config, const std::vector<float>& freq_factors);

  // Rotates the first rope_dims of each of `num_heads` heads in x: [num_heads, head_dim], at
  // absolute position `pos`, in the config's style (normal: pairs (2i, 2i+1); neox: (i, i+d/2)).
  void Apply(float* x, int32_t num_heads, int32_t pos) const;

 private:
  RopeStyle style_;
  int32_t head_dim_;
  int32_t rope_dims_;
  std::vector<float> inv_freq_;  // [rope_dims / 2]
};

}  // namespace hearth::engine::cpu
