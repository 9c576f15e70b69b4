// Quantized matrix products on the CPU: the kernels the forward pass spends its time in.
//
//   y[n, rows] = x[n, cols] * W[rows, cols]^T
//
// W is a GGUF weight (shape {cols, rows}) in any supported GgmlType. Every weight block is read
// once per call and reused across all n rows of x (the point of batching).
//
// Two activation precisions for block-quantized W (F32/F16/BF16 W always use float x):
//
//   kQ8 (default, fast): x is quantized once per call to 8 bits per 32 (or 256) elements (Q8
//     blocks, llama.cpp's approach) and the products are exact integer dot products. The
//     result is W_deq * x_q8: on SmolLM2-135M this puts ~1-2 logit units of noise on the
//     output, enough to flip greedy choices at near-ties versus a float reference.
//   kF32 (exact): x stays float; weight rows are dequantized on the fly (bit-exact with
//     engine/quant, hence gguf-py) into a small per-thread tile reused across all n rows of x,
//     and multiplied with FMA. The result is the float product W_deq * x up to float32
//     summation rounding (8 lanes, fixed order; see kern::ScalarF32ActKernels). Scalar and
//     SIMD paths give the same bits. Decode costs somewhat more than kQ8 (more float work per
//     weight byte). Use it when outputs must match a float reference token for token (tests,
//     evaluation, reproducing another float implementation); use kQ8 for throughput.
//
// Batch invariance: row i of y depends only on row i of x and on W, bit for bit, whatever n
// is and however the work is split across threads. (Each output element is computed by one
// thread in a fixed order.) The engine's reproducibility guarantee rests on this.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/cpu/kernels/memory.h"
#include "engine/cpu/kernels/thread_pool.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine::cpu {

// How activations meet block-quantized weights (see the top of this file).
enum class ActPrecision { kQ8, kF32 };
std::string_view ActPrecisionName(ActPrecision precision);             // "q8" | "f32"
std::optional<ActPrecision> ParseActPrecision(std::string_view name);  // inverse; else nullopt

struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  const void* data = nullptr;  // rows * row_bytes bytes
  int64_t rows = 0;            // output features
  int64_t cols = 0;            // input features (multiple of the type's block size)
  int64_t row_bytes = 0;
  // Optional: the same weights in the strip layout the SIMD int8 kernels read for Q4_0, Q4_1,
  // Q8_0, Q4_K, Q5_K and Q6_K (kernels/strips.h), made by PackedWeights. Without it those paths
  // repack the weights on every call: right, but slow (fine for tests).
  const uint8_t* strips = nullptr;
};

// The strip copies of a set of matrices, repacked once at load into one buffer (the same bytes
// as the GGUF data; huge pages, since decode streams every weight once per token).
class PackedWeights {
 public:
  // Adds `w`; returns its index for matrix(). Call before Pack().
  int Add(const WeightMatrix& w);
  // Repacks every added matrix whose type the active kernel path reads as strips (with
  // `any_path`, every strip-type matrix). `pool` may be null. ResourceExhausted (and nothing
  // packed) when the buffer cannot be had.
  absl::Status Pack(ThreadPool* pool, bool any_path = false);
  // The matrix as added, with `strips` set if it was repacked.
  const WeightMatrix& matrix(int i) const { return matrices_[i]; }
  int64_t packed_bytes() const { return packed_bytes_; }

 private:
  std::vector<WeightMatrix> matrices_;
  AlignedBytes data_;
  int64_t packed_bytes_ = 0;
};

// `parts` stacked by rows as one matrix over their strips (Q|K|V, gate|up: one matmul over the
// threads instead of several, the same bits per row), when every part has strips, all lie back
// to back in that order with the same type and cols, and every part but the last fills whole
// strips; else a matrix with rows = 0. Its data is null: only the strip kernels may read it.
WeightMatrix ConcatenatedStrips(const std::vector<WeightMatrix>& parts);

// REQUIRES: x has n * w.cols floats, y room for n * w.rows floats; pool may be null (runs on
// the calling thread).
void MatMul(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool,
            ActPrecision precision = ActPrecision::kQ8);

// The scalar reference ("twin") of MatMul: same quantization of x, plain loops. Used by the
// tests that check every SIMD kernel, and on machines without AVX2/FMA. In kF32 mode it gives
// the same bits as every SIMD path.
void MatMulReference(const WeightMatrix& w, const float* x, int64_t n, float* y,
                     ActPrecision precision = ActPrecision::kQ8);

// Whether MatMul has a kernel for `type` (F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K).
bool MatMulSupports(GgmlType type);

// x quantized once and shared by several matmuls with the same input (Q/K/V, gate/up).
// Each 8-bit format is made on first use (never in kF32 precision, where matmuls read x
// directly). Not thread-safe.
// REQUIRES: x (n * cols floats) outlives this object and does not change while it is used.
class QuantizedActivations {
 public:
  QuantizedActivations(const float* x, int64_t n, int64_t cols,
                       ActPrecision precision = ActPrecision::kQ8)
      : x_(x), n_(n), cols_(cols), precision_(precision) {}

  ActPrecision precision() const { return precision_; }
  const float* x() const { return x_; }
  int64_t n() const { return n_; }
  int64_t cols() const { return cols_; }

  // [n] rows of the format's blocks (see kernels.h), made on first call. `pool` may be null.
  const uint8_t* Q8Rows(ThreadPool* pool);   // 32-element blocks
  const uint8_t* Q8KRows(ThreadPool* pool);  // 256-element blocks with per-16 sums

 private:
  const float* x_;
  int64_t n_;
  int64_t cols_;
  ActPrecision precision_;
  // Made on first use; not zeroed first (QuantizeRows writes every byte).
  std::unique_ptr<uint8_t[]> q8_, q8k_;
};

// As MatMul, with x pre-quantized. Bitwise identical to
// MatMul(w, x.x(), x.n(), y, pool, x.precision()).
// REQUIRES: x.cols() == w.cols.
void MatMul(const WeightMatrix& w, QuantizedActivations& x, float* y, ThreadPool* pool);

// Instruction-set paths. The active one is chosen once, from the environment variable
// HEARTH_CPU_KERNELS = scalar | avx2 | avxvnni | avx512 | auto (default auto: the best the CPU has;
// a path the CPU lacks falls back to auto).
enum class CpuKernelPath { kScalar, kAvx2, kAvxVnni, kAvx512 };
std::string_view CpuKernelPathName(CpuKernelPath path);
bool CpuKernelPathSupported(CpuKernelPath path);
CpuKernelPath ActiveCpuKernelPath();

// MatMul on a given path (tests, benches). REQUIRES: CpuKernelPathSupported(path).
// avx2 and avxvnni give bitwise identical results (their integer dot products are exact);
// avx512 is the same code with AVX-512 registers and encodings (same bits too); scalar gives
// the same bits for the block-quantized types and differs only by float rounding order for
// float weights (kQ8; in kF32 all paths agree bit for bit). Each path
// is batch invariant.
void MatMulOnPath(CpuKernelPath path, const WeightMatrix& w, const float* x, int64_t n, float* y,
                  ThreadPool* pool, ActPrecision precision = ActPrecision::kQ8);

}  // namespace hearth::engine::cpu
