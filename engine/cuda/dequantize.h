// GPU dequantization of GGUF weight rows into fp32 or fp16.
//
// Plain C++17 (no Abseil): included by nvcc-compiled .cu files and by host code alike. Launchers
// return the cudaError_t of the launch; wrap it with CudaStatus (engine/cuda/cuda_buffer.h).
//
// Supported types (kCudaTypes): F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K. fp32 output is
// bit-exact with the CPU dequantizers in engine/quant (same float operations in the same order,
// no fused multiply-add); fp16 output is that float rounded to nearest even.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace hearth::engine {

// Defined in engine/quant/ggml_type.h (which needs C++20 and so stays out of nvcc's sight);
// its enumerator values are GGUF's type numbers, mirrored below for device code.
enum class GgmlType : uint32_t;

namespace cuda {

// GGUF type numbers of the types the CUDA kernels handle (checked against GgmlType's enumerators
// by static_asserts in engine/cuda/cuda_matmul.cc).
inline constexpr uint32_t kCudaF32 = 0;
inline constexpr uint32_t kCudaF16 = 1;
inline constexpr uint32_t kCudaQ4_0 = 2;
inline constexpr uint32_t kCudaQ4_1 = 3;
inline constexpr uint32_t kCudaQ8_0 = 8;
inline constexpr uint32_t kCudaQ4_K = 12;
inline constexpr uint32_t kCudaQ5_K = 13;
inline constexpr uint32_t kCudaQ6_K = 14;
inline constexpr uint32_t kCudaBF16 = 30;

// True when the CUDA kernels (dequantize and GEMV) handle `type`.
bool CudaSupportsType(GgmlType type);

// Elements per block (1 for F16/BF16) and bytes per block of a supported type; 0 otherwise.
int CudaBlockElems(GgmlType type);
int CudaBlockBytes(GgmlType type);

// One launch dequantizes `n` consecutive elements (any number of whole rows).
//   src: device, n / block_size blocks laid out as in engine/quant/blocks.h, packed (rows are
//        contiguous); any alignment.
//   dst: device, [n] floats (half_out = false) or [n] binary16 (half_out = true); 16-byte
//        aligned.
// REQUIRES: n % 8 == 0 and n % block_size == 0 (true of every row of a GGUF matrix whose row
// length is a multiple of 32). One thread per group of 8 consecutive elements.
struct DequantizeParams {
  GgmlType type;
  const void* src = nullptr;
  void* dst = nullptr;
  int64_t n = 0;
  bool half_out = false;
};

// Enqueues the kernel on `stream`. cudaErrorInvalidValue for an unsupported type or a bad n.
cudaError_t LaunchDequantize(const DequantizeParams& params, cudaStream_t stream);

}  // namespace cuda
}  // namespace hearth::engine
