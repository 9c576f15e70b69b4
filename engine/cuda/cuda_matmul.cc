#include "engine/cuda/cuda_matmul.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cuda/dequantize.h"
#include "engine/cuda/matmul.h"

namespace hearth::engine::cuda {

// The device code's type numbers must be GGUF's.
static_assert(kCudaF16 == static_cast<uint32_t>(GgmlType::kF16));
static_assert(kCudaBF16 == static_cast<uint32_t>(GgmlType::kBF16));
static_assert(kCudaQ4_0 == static_cast<uint32_t>(GgmlType::kQ4_0));
static_assert(kCudaQ4_1 == static_cast<uint32_t>(GgmlType::kQ4_1));
static_assert(kCudaQ8_0 == static_cast<uint32_t>(GgmlType::kQ8_0));
static_assert(kCudaQ4_K == static_cast<uint32_t>(GgmlType::kQ4_K));
static_assert(kCudaQ5_K == static_cast<uint32_t>(GgmlType::kQ5_K));
static_assert(kCudaQ6_K == static_cast<uint32_t>(GgmlType::kQ6_K));

namespace {

absl::Status CublasStatus(cublasStatus_t s, std::string_view what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  std::string msg = absl::StrCat(std::string(what), ": ", cublasGetStatusName(s), " (",
                                 cublasGetStatusString(s), ")");
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<CudaWeight> CudaWeight::Upload(GgmlType type, int64_t rows, int64_t cols,
                                              const void* host_blocks) {
  if (!CudaSupportsType(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA kernels do not handle type ", static_cast<uint32_t>(type)));
  }
  const int64_t elems = CudaBlockElems(type);
  if (rows < 0 || cols < 0 || cols % 32 != 0 || cols % elems != 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad weight shape [", rows, ", ", cols, "]"));
  }
  CudaWeight w;
  w.type_ = type;
  w.rows_ = rows;
  w.cols_ = cols;
  w.bytes_ = rows * (cols / elems) * CudaBlockBytes(type);
  ASSIGN_OR_RETURN(w.buffer_, CudaBuffer::Allocate(w.bytes_ + kWeightPadBytes));
  RETURN_IF_ERROR(w.buffer_.Fill(0));
  RETURN_IF_ERROR(w.buffer_.Upload(host_blocks, w.bytes_));
  return w;
}

absl::StatusOr<std::unique_ptr<CudaMatMul>> CudaMatMul::Create(cudaStream_t stream,
                                                               size_t max_tile_bytes) {
  cublasHandle_t handle = nullptr;
  RETURN_IF_ERROR(CublasStatus(cublasCreate(&handle), "cublasCreate"));
  absl::Status s = CublasStatus(cublasSetStream(handle, stream), "cublasSetStream");
  if (s.ok()) s = CublasStatus(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  if (!s.ok()) {
    cublasDestroy(handle);
    return s;
  }
  return std::unique_ptr<CudaMatMul>(new CudaMatMul(stream, max_tile_bytes, handle));
}

CudaMatMul::~CudaMatMul() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

absl::Status CudaMatMul::EnsureScratch(CudaBuffer* buf, size_t bytes) {
  if (buf->size() >= bytes) return absl::OkStatus();
  // The old buffer may still be in use by enqueued work: wait before freeing it.
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
  *buf = CudaBuffer();
  ASSIGN_OR_RETURN(*buf, CudaBuffer::Allocate(bytes));
  return absl::OkStatus();
}

absl::Status CudaMatMul::Run(const CudaWeight& w, const float* x, float* y, int64_t n,
                             MatMulPath path) {
  if (n < 0) return absl::InvalidArgumentError("negative batch");
  if (n == 0 || w.rows() == 0) return absl::OkStatus();
  const bool gemv = path == MatMulPath::kGemv || (path == MatMulPath::kAuto && n <= kGemvMaxN);
  if (!gemv) return RunCublas(w, x, y, n);
  if (n > kGemvMaxN) {
    return absl::InvalidArgumentError(absl::StrCat("GEMV path takes n <= ", kGemvMaxN));
  }
  GemvParams p{w.type(), w.data(), x, y, w.rows(), w.cols(), static_cast<int>(n)};
  return CudaStatus(LaunchGemv(p, stream_), "LaunchGemv");
}

// Column-major view for cuBLAS: y^T [rows, n] (ld rows) = W [rows, cols] (stored as the
// column-major [cols, rows], so op T, ld cols) * x^T [cols, n] (ld cols). A row tile
// [r0, r0 + tile) writes y^T rows r0.. of every column: pointer y + r0, ld stays rows.
absl::Status CudaMatMul::RunCublas(const CudaWeight& w, const float* x, float* y, int64_t n) {
  const int64_t rows = w.rows(), cols = w.cols();
  if (cols == 0) {
    return CudaStatus(cudaMemsetAsync(y, 0, static_cast<size_t>(n * rows) * sizeof(float), stream_),
                      "cudaMemsetAsync");
  }
  const int64_t row_bytes16 = cols * 2;
  const int64_t tile_rows =
      std::clamp<int64_t>(static_cast<int64_t>(max_tile_bytes_) / row_bytes16, 1, rows);
  RETURN_IF_ERROR(EnsureScratch(&w_scratch_, static_cast<size_t>(tile_rows * row_bytes16)));
  RETURN_IF_ERROR(EnsureScratch(&x_scratch_, static_cast<size_t>(n * row_bytes16)));
  RETURN_IF_ERROR(
      CudaStatus(LaunchFloatToHalf(x, x_scratch_.data(), n * cols, stream_), "LaunchFloatToHalf"));
  const int64_t block_bytes = CudaBlockBytes(w.type());
  const int64_t row_qbytes = cols / CudaBlockElems(w.type()) * block_bytes;
  const float alpha = 1.0f, beta = 0.0f;
  for (int64_t r0 = 0; r0 < rows; r0 += tile_rows) {
    const int64_t tr = std::min(tile_rows, rows - r0);
    DequantizeParams dq{w.type(), static_cast<const uint8_t*>(w.data()) + r0 * row_qbytes,
                        w_scratch_.data(), tr * cols, /*half_out=*/true};
    RETURN_IF_ERROR(CudaStatus(LaunchDequantize(dq, stream_), "LaunchDequantize"));
    RETURN_IF_ERROR(CublasStatus(
        cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(tr), static_cast<int>(n),
                     static_cast<int>(cols), &alpha, w_scratch_.data(), CUDA_R_16F,
                     static_cast<int>(cols), x_scratch_.data(), CUDA_R_16F, static_cast<int>(cols),
                     &beta, y + r0, CUDA_R_32F, static_cast<int>(rows), CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx"));
  }
  return absl::OkStatus();
}

}  // namespace hearth::engine::cuda
