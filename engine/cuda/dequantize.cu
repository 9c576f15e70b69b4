#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "engine/cuda/dequantize.h"
#include "engine/cuda/quant_device.cuh"

namespace hearth::engine::cuda {
namespace {

// One thread per group of 8 elements; grid-stride over n / 8 groups.
template <typename T, bool kHalfOut>
__global__ void DequantizeKernel(const uint8_t* __restrict__ src, void* __restrict__ dst,
                                 int64_t n_groups) {
  constexpr int kGroupsPerBlock = T::kElems / 8;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < n_groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t blk = g / kGroupsPerBlock;
    float w[8];
    T::Group(src + blk * T::kBytes, static_cast<int>(g % kGroupsPerBlock), w);
    if constexpr (kHalfOut) {
      __align__(16) __half h[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) h[i] = __float2half_rn(w[i]);
      reinterpret_cast<uint4*>(dst)[g] = *reinterpret_cast<const uint4*>(h);
    } else {
      float4* out = reinterpret_cast<float4*>(dst) + 2 * g;
      out[0] = make_float4(w[0], w[1], w[2], w[3]);
      out[1] = make_float4(w[4], w[5], w[6], w[7]);
    }
  }
}

}  // namespace

bool CudaSupportsType(GgmlType type) { return CudaBlockElems(type) != 0; }

int CudaBlockElems(GgmlType type) {
  int elems = 0;
  DispatchCudaType(static_cast<uint32_t>(type), [&](auto t) { elems = decltype(t)::kElems; });
  // F16/BF16 are one element per block on disk; the kernels group them by 8.
  return elems == 8 ? 1 : elems;
}

int CudaBlockBytes(GgmlType type) {
  int bytes = 0;
  DispatchCudaType(static_cast<uint32_t>(type), [&](auto t) { bytes = decltype(t)::kBytes; });
  // Plain types group 8 elements per "block" in the kernels; on disk each element is a block.
  return CudaBlockElems(type) == 1 ? bytes / 8 : bytes;
}

cudaError_t LaunchDequantize(const DequantizeParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.n % 8 != 0) return cudaErrorInvalidValue;
  if (p.n == 0) return cudaSuccess;
  const int64_t n_groups = p.n / 8;
  constexpr int kThreads = 256;
  const int64_t want = (n_groups + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(want < 65535 * 16 ? want : 65535 * 16);
  const auto* src = static_cast<const uint8_t*>(p.src);
  bool ok = DispatchCudaType(static_cast<uint32_t>(p.type), [&](auto t) {
    using T = decltype(t);
    if (p.n % T::kElems != 0) return;
    if (p.half_out) {
      DequantizeKernel<T, true><<<grid, kThreads, 0, stream>>>(src, p.dst, n_groups);
    } else {
      DequantizeKernel<T, false><<<grid, kThreads, 0, stream>>>(src, p.dst, n_groups);
    }
  });
  if (!ok) return cudaErrorInvalidValue;
  if (p.n % CudaBlockElems(p.type) != 0) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace hearth::engine::cuda
