#include "engine/cuda/cuda_matmul.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cuda/dequantize.h"
#include "engine/cuda/matmul.h"
#include "engine/cuda/mma_gemm.h"

namespace hearth::engine::cuda {

// The device code's type numbers must be GGUF's.
static_assert(kCudaF32 == static_cast<uint32_t>(GgmlType::kF32));
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

MatMulPath PathFor(CudaGemmMode mode, int64_t n, int64_t cublas_min_tokens) {
  switch (mode) {
    case CudaGemmMode::kInvariant:
      return MatMulPath::kTensorCore;
    case CudaGemmMode::kFast:
      return n >= cublas_min_tokens ? MatMulPath::kCublas : MatMulPath::kTensorCore;
    case CudaGemmMode::kExact:
      return MatMulPath::kGemv;
  }
  return MatMulPath::kTensorCore;
}

absl::StatusOr<std::unique_ptr<CudaMatMul>> CudaMatMul::Create(cudaStream_t stream,
                                                               size_t max_tile_bytes) {
  return std::unique_ptr<CudaMatMul>(new CudaMatMul(stream, max_tile_bytes));
}

CudaMatMul::~CudaMatMul() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

absl::Status CudaMatMul::EnsureScratch(CudaBuffer* buf, size_t bytes) {
  if (buf->size() >= bytes) return absl::OkStatus();
  // The old buffer may still be in use by enqueued work: wait before freeing it.
  RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
  *buf = CudaBuffer();
  ASSIGN_OR_RETURN(*buf, CudaBuffer::Allocate(bytes + bytes / 4));
  return absl::OkStatus();
}

absl::StatusOr<const uint16_t*> CudaMatMul::ToHalf(const float* x, int64_t count) {
  RETURN_IF_ERROR(EnsureScratch(&x_scratch_, static_cast<size_t>(count) * 2));
  RETURN_IF_ERROR(
      CudaStatus(LaunchFloatToHalf(x, x_scratch_.data(), count, stream_), "LaunchFloatToHalf"));
  return x_scratch_.as<const uint16_t>();
}

absl::Status CudaMatMul::Run(const CudaWeight& w, const float* x, float* y, int64_t n,
                             MatMulPath path) {
  if (path == MatMulPath::kAuto) path = n <= kGemvMaxN ? MatMulPath::kGemv : MatMulPath::kCublas;
  return RunView(w.view(), x, nullptr, y, w.rows(), n, path);
}

absl::Status CudaMatMul::RunView(const WeightView& w, const float* x, const uint16_t* x16, float* y,
                                 int64_t ldy, int64_t n, MatMulPath path) {
  if (n < 0) return absl::InvalidArgumentError("negative batch");
  if (ldy < w.rows) return absl::InvalidArgumentError("ldy < rows");
  if (n == 0 || w.rows == 0) return absl::OkStatus();
  if (path == MatMulPath::kAuto) path = n <= kGemvMaxN ? MatMulPath::kGemv : MatMulPath::kCublas;
  if (path == MatMulPath::kGemv) {
    GemvParams p{w.type, w.data, x, y, w.rows, w.cols, static_cast<int>(n), ldy};
    return CudaStatus(LaunchGemv(p, stream_), "LaunchGemv");
  }
  if (x16 == nullptr) {
    ASSIGN_OR_RETURN(x16, ToHalf(x, n * w.cols));
  }
  if (path == MatMulPath::kCublas) return RunCublas(w, x16, y, ldy, n);
  MmaGemmParams p;
  p.type = static_cast<uint32_t>(w.type);
  p.w = static_cast<const uint8_t*>(w.data);
  p.x = x16;
  p.y = y;
  p.rows = w.rows;
  p.cols = w.cols;
  p.ldy = ldy;
  p.n = static_cast<int32_t>(n);
  return CudaStatus(LaunchMmaGemm(p, stream_), "LaunchMmaGemm");
}

// Column-major view for cuBLAS: y^T [rows, n] (ld ldy) = W [rows, cols] (stored as the
// column-major [cols, rows], so op T, ld cols) * x^T [cols, n] (ld cols). A row tile
// [r0, r0 + tile) writes y^T rows r0.. of every column: pointer y + r0, ld stays ldy.
absl::Status CudaMatMul::RunCublas(const WeightView& w, const uint16_t* x16, float* y, int64_t ldy,
                                   int64_t n) {
  const int64_t rows = w.rows, cols = w.cols;
  if (handle_ == nullptr) {
    cublasHandle_t handle = nullptr;
    RETURN_IF_ERROR(CublasStatus(cublasCreate(&handle), "cublasCreate"));
    absl::Status s = CublasStatus(cublasSetStream(handle, stream_), "cublasSetStream");
    if (s.ok())
      s = CublasStatus(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    if (!s.ok()) {
      cublasDestroy(handle);
      return s;
    }
    handle_ = handle;
  }
  const int64_t row_bytes16 = cols * 2;
  const int64_t tile_rows =
      std::clamp<int64_t>(static_cast<int64_t>(max_tile_bytes_) / row_bytes16, 1, rows);
  RETURN_IF_ERROR(EnsureScratch(&w_scratch_, static_cast<size_t>(tile_rows * row_bytes16)));
  const int64_t row_qbytes = cols / CudaBlockElems(w.type) * CudaBlockBytes(w.type);
  const float alpha = 1.0f, beta = 0.0f;
  for (int64_t r0 = 0; r0 < rows; r0 += tile_rows) {
    const int64_t tr = std::min(tile_rows, rows - r0);
    DequantizeParams dq{w.type, static_cast<const uint8_t*>(w.data) + r0 * row_qbytes,
                        w_scratch_.data(), tr * cols, /*half_out=*/true};
    RETURN_IF_ERROR(CudaStatus(LaunchDequantize(dq, stream_), "LaunchDequantize"));
    RETURN_IF_ERROR(CublasStatus(
        cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(tr), static_cast<int>(n),
                     static_cast<int>(cols), &alpha, w_scratch_.data(), CUDA_R_16F,
                     static_cast<int>(cols), x16, CUDA_R_16F, static_cast<int>(cols), &beta, y + r0,
                     CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx"));
  }
  return absl::OkStatus();
}

}  // namespace hearth::engine::cuda
