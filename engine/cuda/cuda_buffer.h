// RAII device memory and the one place CUDA error codes become absl::Status.
//
// Host-side only (compiled by the host compiler, never by nvcc): callers of the CUDA kernels
// use these to own device memory and to turn the kernels' cudaError_t results into Status.
// No function here aborts the process on a CUDA error; every failure comes back as a Status
// (kResourceExhausted for out-of-memory, kInternal otherwise).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hearth::engine::cuda {

// OK for cudaSuccess; otherwise an error naming `what` and the CUDA error. Clears CUDA's
// last-error state for non-sticky errors so that later calls start clean.
absl::Status CudaStatus(cudaError_t err, std::string_view what);

// True when at least one CUDA device is usable (driver loaded, device present).
bool CudaDeviceAvailable();

// Owns one cudaMalloc allocation on the current device. Move-only. Not thread-safe; the
// allocation is freed in the destructor (a failing cudaFree is ignored: nothing to report to).
// Upload/Download/Fill are synchronous with respect to the host (legacy default stream).
class CudaBuffer {
 public:
  CudaBuffer() = default;
  ~CudaBuffer();
  CudaBuffer(CudaBuffer&& other) noexcept;
  CudaBuffer& operator=(CudaBuffer&& other) noexcept;
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;

  // A buffer of `bytes` bytes (0 gives an empty buffer with data() == nullptr). The pointer is
  // aligned to at least 256 bytes (cudaMalloc's guarantee).
  static absl::StatusOr<CudaBuffer> Allocate(size_t bytes);

  // Copies `bytes` bytes from host memory into the buffer at `offset`.
  // REQUIRES: offset + bytes <= size() (checked: kOutOfRange).
  absl::Status Upload(const void* host, size_t bytes, size_t offset = 0);
  // Copies `bytes` bytes at `offset` into host memory. REQUIRES: offset + bytes <= size().
  absl::Status Download(void* host, size_t bytes, size_t offset = 0) const;
  // Sets every byte to `value` (0xFF poisons floats and halves with NaN).
  absl::Status Fill(uint8_t value);

  void* data() const { return ptr_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hearth::engine::cuda
