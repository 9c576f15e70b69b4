// Host API of the CUDA matmul: quantized weights resident on the device and the three paths of
// y = x W^T (see engine/cuda/matmul.h and mma_gemm.h for the kernels):
//
//   kTensorCore  the fused dequantize + mma.sync kernel (mma_gemm.h), x rounded to fp16:
//                batch-invariant, every batch size. The default.
//   kCublas      W dequantized to fp16 row tiles + cublasGemmEx (fp32 accumulate): fastest for
//                large batches, but cuBLAS picks its algorithm by shape, so a row's bits may
//                depend on the batch size.
//   kGemv        the fp32 GEMV (matmul.h): weights exactly as the CPU decodes them and x in fp32,
//                token groups of 8; batch-invariant and the most exact, slow for prefill.
//
// CudaGemmMode chooses per call: kInvariant -> kTensorCore always; kFast -> kTensorCore below
// cublas_min_tokens, kCublas from there (the switch point measured by bench/cuda); kExact ->
// kGemv always. See engine/cuda/matmul.h for how to run the GPU checks on a lent machine.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/gemm_mode.h"
#include "engine/quant/ggml_type.h"

struct cublasContext;

namespace hearth::engine::cuda {

// A weight matrix W [rows, cols] in device memory as packed GGUF rows (16-byte aligned base,
// kWeightPadBytes readable after the data).
struct WeightView {
  GgmlType type = GgmlType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

// A weight matrix that owns its device copy. Move-only.
class CudaWeight {
 public:
  // Uploads `host_blocks` (rows * RowBytes(cols) bytes). REQUIRES: CudaSupportsType(type),
  // cols % 32 == 0 and a multiple of the block size (kInvalidArgument otherwise).
  static absl::StatusOr<CudaWeight> Upload(GgmlType type, int64_t rows, int64_t cols,
                                           const void* host_blocks);

  GgmlType type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  const void* data() const { return buffer_.data(); }
  // Bytes of quantized data (without padding).
  int64_t bytes() const { return bytes_; }
  WeightView view() const { return {type_, buffer_.data(), rows_, cols_}; }

 private:
  GgmlType type_ = GgmlType::kF32;
  int64_t rows_ = 0, cols_ = 0, bytes_ = 0;
  CudaBuffer buffer_;
};

enum class MatMulPath {
  kAuto,  // kGemv for n <= kGemvMaxN, kCublas above (CudaMatMul::Run's historical default)
  kGemv,
  kCublas,
  kTensorCore,
};

// The matmul modes (engine/gemm_mode.h: the `cuda_gemm` setting).
using CudaGemmMode = GemmMode;
inline const char* CudaGemmModeName(CudaGemmMode mode) { return GemmModeName(mode); }
inline std::optional<CudaGemmMode> ParseCudaGemmMode(std::string_view name) {
  return ParseGemmMode(name);
}

// The path `mode` takes for a batch of n tokens.
MatMulPath PathFor(CudaGemmMode mode, int64_t n, int64_t cublas_min_tokens);
// Whether a path reads x as fp16 (kTensorCore, kCublas).
inline bool PathUsesHalfInput(MatMulPath path) {
  return path == MatMulPath::kTensorCore || path == MatMulPath::kCublas;
}

// Runs y = x W^T on one stream. Owns a cuBLAS handle (created on first use of kCublas) and the
// fp16 scratch (dequantized weight tiles and an fp16 copy of x), grown on demand. Not
// thread-safe: one per stream/thread. Must be destroyed before the CUDA context is torn down.
class CudaMatMul {
 public:
  // `max_tile_bytes` bounds the fp16 scratch for dequantized weights: W is processed in row tiles
  // of at most that many bytes (at least one row). `stream` may be null (the legacy stream).
  static absl::StatusOr<std::unique_ptr<CudaMatMul>> Create(cudaStream_t stream = nullptr,
                                                            size_t max_tile_bytes = 64 << 20);
  ~CudaMatMul();
  CudaMatMul(const CudaMatMul&) = delete;
  CudaMatMul& operator=(const CudaMatMul&) = delete;

  // Enqueues y[t * rows + r] = x[t, :] . W[r, :] (asynchronous; synchronize before reading y).
  //   x: device [n, cols] float, 16-byte aligned; y: device [n, rows] float, every element
  //   written. REQUIRES: n >= 0, x/y not aliased. n == 0 is a no-op.
  absl::Status Run(const CudaWeight& w, const float* x, float* y, int64_t n,
                   MatMulPath path = MatMulPath::kAuto);

  // The general form: y[t * ldy + r] (ldy >= rows; other elements untouched). `x16`, if not
  // null, is x already rounded to fp16 ([n, cols] binary16), used by the fp16 paths instead of
  // converting x again (a fused matrix's segments share one conversion).
  absl::Status RunView(const WeightView& w, const float* x, const uint16_t* x16, float* y,
                       int64_t ldy, int64_t n, MatMulPath path);

  // x rounded to fp16 into this object's scratch; valid until the next call that converts.
  absl::StatusOr<const uint16_t*> ToHalf(const float* x, int64_t count);

  cudaStream_t stream() const { return stream_; }

 private:
  CudaMatMul(cudaStream_t stream, size_t max_tile_bytes)
      : stream_(stream), max_tile_bytes_(max_tile_bytes) {}
  absl::Status RunCublas(const WeightView& w, const uint16_t* x16, float* y, int64_t ldy,
                         int64_t n);
  absl::Status EnsureScratch(CudaBuffer* buf, size_t bytes);

  cudaStream_t stream_;
  size_t max_tile_bytes_;
  cublasContext* handle_ = nullptr;
  CudaBuffer w_scratch_;  // [tile_rows, cols] fp16
  CudaBuffer x_scratch_;  // [n, cols] fp16
};

}  // namespace hearth::engine::cuda
