// CUDA matrix multiplication with quantized weights: y[n, rows] = x[n, cols] * W^T.
//
// Two paths (chosen by CudaMatMul in engine/cuda/cuda_matmul.h):
//   n <= kGemvMaxN (decode): LaunchGemv below reads the quantized blocks directly. One warp per
//       output row: the warp stages a chunk of the row's blocks into shared memory with 16-byte
//       loads (aligned down to 16 bytes, so rows of any byte length load coalesced), each lane
//       decodes groups of 8 weights to float (bit-identical to the CPU dequantizers) and
//       accumulates their dot with x in fp32 (FMA), and a warp-shuffle tree sums the lanes.
//   n > kGemvMaxN (prefill): W is dequantized tile by tile (row tiles) to fp16 in a scratch
//       buffer and multiplied with cublasGemmEx (fp16 inputs, fp32 accumulate and output,
//       CUBLAS_COMPUTE_32F) after x is rounded to fp16.
//
// Plain C++17 (no Abseil): seen by nvcc and by the host compiler.
//
// ---- Running the CUDA checks on a lent GPU machine ----
// The build machine has nvcc but no GPU; the GPU machine has the CUDA 13 driver and runtime but
// no compiler for Hearth's dependencies. scripts/gpu-check.sh --bundle packs .gpu/ here, and
// scripts/gpu-check.sh runs it there (see that script).
// Without a device the tests skip (GTEST_SKIP), so CPU-only CI runs them harmlessly.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "engine/cuda/dequantize.h"

namespace hearth::engine::cuda {

// Tokens per GEMV launch group (register accumulators per lane); CudaMatMul's kAuto sends
// larger batches to cuBLAS.
inline constexpr int kGemvMaxN = 8;

// The GEMV kernel reads whole 16-byte words, up to 15 bytes past the last block of W: every
// weight allocation must extend at least this far beyond its data (CudaWeight pads).
inline constexpr int kWeightPadBytes = 16;

// y[t * ldy + r] = sum_c x[t, c] * W[r, c] for t < n, r < rows.
//   w: device, [rows, cols / block_size] blocks, row-major and packed (row r starts at byte
//      r * cols / block_size * block_bytes; any alignment), followed by kWeightPadBytes readable
//      bytes. The base pointer must be 16-byte aligned (cudaMalloc's is).
//   x: device, [n, cols] float, row-major, 16-byte aligned.
//   y: device, row stride ldy (0: rows) >= rows; the elements above are written, no others.
// Tokens are taken in groups of kGemvMaxN (grid.y); every (row, token) output is computed with
// the same per-lane FMA chain and lane sum whatever n is, so the GEMV is batch-invariant.
// REQUIRES: n >= 1; cols % 32 == 0 (and % 256 for K-quants); type supported.
struct GemvParams {
  GgmlType type;
  const void* w = nullptr;
  const float* x = nullptr;
  float* y = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int n = 0;
  int64_t ldy = 0;
};

// Enqueues the GEMV on `stream`; cudaErrorInvalidValue when a REQUIRES above does not hold.
cudaError_t LaunchGemv(const GemvParams& params, cudaStream_t stream);

// dst[i] = fp16(src[i]) (round to nearest even), i < n. src: device [n] float; dst: device [n]
// binary16. Any n >= 0.
cudaError_t LaunchFloatToHalf(const float* src, void* dst, int64_t n, cudaStream_t stream);

}  // namespace hearth::engine::cuda
