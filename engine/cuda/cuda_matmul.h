// Host API of the CUDA matmul: weights resident on the device and the two-path MatMul
// (custom GEMV for decode, dequantize + cuBLAS for prefill). See engine/cuda/matmul.h for the
// kernels and for how to run the GPU checks on a lent machine.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/quant/ggml_type.h"

struct cublasContext;

namespace hearth::engine::cuda {

// A quantized weight matrix W [rows, cols] in device memory: rows * cols / block_size blocks,
// packed row-major exactly as GGUF stores them, plus kWeightPadBytes of padding. Move-only.
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

 private:
  GgmlType type_ = GgmlType::kF32;
  int64_t rows_ = 0, cols_ = 0, bytes_ = 0;
  CudaBuffer buffer_;
};

enum class MatMulPath {
  kAuto,    // GEMV for n <= kGemvMaxN, cuBLAS above
  kGemv,    // force the GEMV kernel (REQUIRES: n <= kGemvMaxN)
  kCublas,  // force dequantize + cublasGemmEx
};

// Runs y[n, rows] = x[n, cols] * W^T on one stream. Owns a cuBLAS handle and the fp16 scratch
// (dequantized weight tile and fp16 copy of x), grown on demand. Not thread-safe: one per
// stream/thread. Must be destroyed before the CUDA context is torn down.
class CudaMatMul {
 public:
  // `max_tile_bytes` bounds the fp16 scratch for dequantized weights: W is processed in row tiles
  // of at most that many bytes (at least one row). `stream` may be null (the legacy stream).
  static absl::StatusOr<std::unique_ptr<CudaMatMul>> Create(cudaStream_t stream = nullptr,
                                                            size_t max_tile_bytes = 64 << 20);
  ~CudaMatMul();
  CudaMatMul(const CudaMatMul&) = delete;
  CudaMatMul& operator=(const CudaMatMul&) = delete;

  // Enqueues the product on the stream (asynchronous; synchronize before reading y).
  //   x: device [n, cols] float, 16-byte aligned; y: device [n, rows] float, every element
  //   written. REQUIRES: n >= 0, x/y not aliased. n == 0 is a no-op.
  absl::Status Run(const CudaWeight& w, const float* x, float* y, int64_t n,
                   MatMulPath path = MatMulPath::kAuto);

  cudaStream_t stream() const { return stream_; }

 private:
  CudaMatMul(cudaStream_t stream, size_t max_tile_bytes, cublasContext* handle)
      : stream_(stream), max_tile_bytes_(max_tile_bytes), handle_(handle) {}
  absl::Status RunCublas(const CudaWeight& w, const float* x, float* y, int64_t n);
  absl::Status EnsureScratch(CudaBuffer* buf, size_t bytes);

  cudaStream_t stream_;
  size_t max_tile_bytes_;
  cublasContext* handle_;
  CudaBuffer w_scratch_;  // [tile_rows, cols] fp16
  CudaBuffer x_scratch_;  // [n, cols] fp16
};

}  // namespace hearth::engine::cuda
