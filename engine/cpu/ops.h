// The small per-row operations of the CPU forward pass (everything that is not a matmul or
// attention).
//
// Each function computes every row (or element) with the same code whatever the row count, the
// row's index and the thread split, so a row's result depends only on that row's inputs: the
// batch-invariance guarantee of the backend rests on this (and on MatMul's). `pool` may be null
// (calling thread only); small inputs run on the calling thread either way.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/cpu/kernels/thread_pool.h"
#include "engine/model/model_config.h"

namespace hearth::engine::cpu {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for r in [0, n). x, y: [n, dim]; w: [dim].
// y may alias x. (Sum of squares in double, in 8 interleaved partial sums.)
void RmsNorm(const float* x, const float* w, int64_t n, int32_t dim, float eps, float* y,
             ThreadPool* pool = nullptr);

// x += delta (the residual connection), then y = RmsNorm(x), row by row in one pass: the same
// bits as AddInPlace followed by RmsNorm, with one parallel region instead of two.
// y must not alias x or delta.
void AddRmsNorm(float* x, const float* delta, const float* w, int64_t n, int32_t dim, float eps,
                float* y, ThreadPool* pool = nullptr);

// y[i] += b for each of n rows of width `dim`.
void AddBias(float* y, const float* b, int64_t n, int32_t dim);

// y[i] += x[i] for `count` elements (residual connections).
void AddInPlace(float* y, const float* x, int64_t count, ThreadPool* pool = nullptr);

// h[i] = silu(gate[i]) * up[i] for `count` elements; h may alias gate. On the AVX2 path with a
// polynomial exp (relative error ~1e-6), else std::exp; the same function for every element.
void SiluMul(const float* gate, const float* up, int64_t count, float* h,
             ThreadPool* pool = nullptr);

// RoPE angle table for a model: inv_freq[i] = base^(-2i/rope_dims) / freq_factor[i] / linear.
class Rope {
 public:
  // `freq_factors`: [rope_dims / 2] or empty.
  Rope(const ModelConfig& config, const std::vector<float>& freq_factors);

  // Floats of one position's row in a CosSin table: rope_dims / 2 pairs (cos, sin).
  int32_t table_width() const { return rope_dims_; }

  // table[t] = (cos, sin) of each angle at positions[t]: [n, table_width()] floats, computed
  // once per step and shared by every layer.
  void CosSin(const int32_t* positions, int64_t n, float* table, ThreadPool* pool = nullptr) const;

  // Rotates the first rope_dims of each of `num_heads` heads in x: [num_heads, head_dim], by
  // the angles of one row of a CosSin table, in the config's style (normal: pairs (2i, 2i+1);
  // neox: (i, i + rope_dims / 2)).
  void Apply(float* x, int32_t num_heads, const float* cos_sin) const;

  // As above at absolute position `pos` (computes the angles).
  void Apply(float* x, int32_t num_heads, int32_t pos) const;

 private:
  RopeStyle style_;
  int32_t head_dim_;
  int32_t rope_dims_;
  std::vector<float> inv_freq_;  // [rope_dims / 2]
};

}  // namespace hearth::engine::cpu
