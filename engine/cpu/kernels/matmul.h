// Quantized matrix products on the CPU: the kernels the forward pass spends its time in.
//
//   y[n, rows] = x[n, cols] * W[rows, cols]^T
//
// W is a GGUF weight (shape {cols, rows}) in any supported GgmlType. For block-quantized W the
// activations are quantized once per call to 8 bits per row (Q8 blocks) and every weight block
// is read once per call and reused across all n rows of x (the point of batching).
//
// Batch invariance: row i of y depends only on row i of x and on W, bit for bit, whatever n
// is and however the work is split across threads. (Each output element is computed by one
// thread in a fixed order.) The engine's reproducibility guarantee rests on this.
#pragma once

#include <cstdint>

#include "engine/cpu/kernels/thread_pool.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine::cpu {

struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  const void* data = nullptr;  // rows * row_bytes bytes
  int64_t rows = 0;            // output features
  int64_t cols = 0;            // input features (multiple of the type's block size)
  int64_t row_bytes = 0;
};

// REQUIRES: x has n * w.cols floats, y room for n * w.rows floats; pool may be null (runs on
// the calling thread).
void MatMul(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool);

// The scalar reference ("twin") of MatMul: same quantization of x, plain loops. Used by the
// tests that check every SIMD kernel, and on machines without AVX2/FMA.
void MatMulReference(const WeightMatrix& w, const float* x, int64_t n, float* y);

}  // namespace hearth::engine::cpu
