#include "engine/cuda/cuda_buffer.h"

#include <cuda_runtime.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace hearth::engine::cuda {

absl::Status CudaStatus(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();  // clear the non-sticky error state
  std::string msg = absl::StrCat(std::string(what), ": ", cudaGetErrorName(err), " (",
                                 cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

bool CudaDeviceAvailable() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return count > 0;
}

CudaBuffer::~CudaBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

CudaBuffer::CudaBuffer(CudaBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}

CudaBuffer& CudaBuffer::operator=(CudaBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

absl::StatusOr<CudaBuffer> CudaBuffer::Allocate(size_t bytes) {
  CudaBuffer buf;
  if (bytes == 0) return buf;
  void* p = nullptr;
  absl::Status s = CudaStatus(cudaMalloc(&p, bytes), absl::StrCat("cudaMalloc(", bytes, ")"));
  if (!s.ok()) return s;
  buf.ptr_ = p;
  buf.size_ = bytes;
  return buf;
}

absl::Status CudaBuffer::Upload(const void* host, size_t bytes, size_t offset) {
  if (offset > size_ || bytes > size_ - offset) {
    return absl::OutOfRangeError(
        absl::StrCat("CudaBuffer::Upload: ", bytes, " bytes at ", offset, " into ", size_));
  }
  if (bytes == 0) return absl::OkStatus();
  return CudaStatus(
      cudaMemcpy(static_cast<char*>(ptr_) + offset, host, bytes, cudaMemcpyHostToDevice),
      "cudaMemcpy H2D");
}

absl::Status CudaBuffer::Download(void* host, size_t bytes, size_t offset) const {
  if (offset > size_ || bytes > size_ - offset) {
    return absl::OutOfRangeError(
        absl::StrCat("CudaBuffer::Download: ", bytes, " bytes at ", offset, " from ", size_));
  }
  if (bytes == 0) return absl::OkStatus();
  return CudaStatus(
      cudaMemcpy(host, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost),
      "cudaMemcpy D2H");
}

absl::Status CudaBuffer::Fill(uint8_t value) {
  if (size_ == 0) return absl::OkStatus();
  return CudaStatus(cudaMemset(ptr_, value, size_), "cudaMemset");
}

}  // namespace hearth::engine::cuda
