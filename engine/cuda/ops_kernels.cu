#include <cuda_runtime.h>

#include <algorithm>

#include "engine/cuda/ops_device.cuh"
#include "engine/cuda/ops_kernels.h"

namespace hearth::engine::cuda {
namespace {

constexpr int kRowThreads = 128;
constexpr int kFlatThreads = 256;

template <typename T>
__global__ void EmbedKernel(EmbedParams p) {
  DeviceCtx ctx;
  EmbedBody<T>(ctx, p);
}

__global__ void __launch_bounds__(kNormThreads) RmsNormKernel(RmsNormParams p) {
  __shared__ double part[kNormThreads];
  DeviceCtx ctx;
  RmsNormBody(ctx, p, reinterpret_cast<uint8_t*>(part));
}

__global__ void RopeTableKernel(RopeTableParams p) {
  DeviceCtx ctx;
  RopeTableBody(ctx, p);
}

__global__ void RopeStoreKernel(RopeStoreParams p) {
  DeviceCtx ctx;
  RopeStoreBody(ctx, p);
}

__global__ void SiluMulKernel(SiluMulParams p) {
  DeviceCtx ctx;
  SiluMulBody(ctx, p);
}

__global__ void GatherKernel(GatherParams p) {
  DeviceCtx ctx;
  GatherBody(ctx, p);
}

__global__ void AddKernel(float* __restrict__ x, const float* __restrict__ delta, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = __fadd_rn(x[i], delta[i]);
  }
}

unsigned FlatGrid(int64_t count) {
  const int64_t want = (count + kFlatThreads - 1) / kFlatThreads;
  return static_cast<unsigned>(want < (int64_t{1} << 30) ? want : (int64_t{1} << 30));
}

}  // namespace

cudaError_t LaunchEmbed(const EmbedParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.dim <= 0 || p.dim % 8 != 0) return cudaErrorInvalidValue;
  if (p.n == 0) return cudaSuccess;
  bool shape_ok = true;
  const bool type_ok = DispatchCudaType(p.type, [&](auto t) {
    using T = decltype(t);
    if (p.dim % T::kElems != 0) {
      shape_ok = false;
      return;
    }
    EmbedKernel<T><<<p.n, kRowThreads, 0, stream>>>(p);
  });
  if (!type_ok || !shape_ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.dim <= 0) return cudaErrorInvalidValue;
  if (p.n == 0) return cudaSuccess;
  RmsNormKernel<<<p.n, kNormThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchRopeTable(const RopeTableParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.rope_dims < 0 || p.rope_dims % 2 != 0) return cudaErrorInvalidValue;
  if (p.n == 0 || p.rope_dims == 0) return cudaSuccess;
  RopeTableKernel<<<FlatGrid(int64_t{p.n} * (p.rope_dims / 2)), kFlatThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchRopeStore(const RopeStoreParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.rope_dims % 2 != 0 || p.rope_dims > p.layout.head_dim) {
    return cudaErrorInvalidValue;
  }
  if (p.n == 0) return cudaSuccess;
  RopeStoreKernel<<<p.n, kRowThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchSiluMul(const SiluMulParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.f < 0) return cudaErrorInvalidValue;
  const int64_t count = int64_t{p.n} * p.f;
  if (count == 0) return cudaSuccess;
  SiluMulKernel<<<FlatGrid(count), kFlatThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchGather(const GatherParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.cols < 0) return cudaErrorInvalidValue;
  if (p.n == 0 || p.cols == 0) return cudaSuccess;
  GatherKernel<<<p.n, kRowThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchAdd(float* x, const float* delta, int64_t count, cudaStream_t stream) {
  if (count < 0) return cudaErrorInvalidValue;
  if (count == 0) return cudaSuccess;
  const unsigned grid = std::min(FlatGrid(count), 65536u);  // grid-stride beyond
  AddKernel<<<grid, kFlatThreads, 0, stream>>>(x, delta, count);
  return cudaGetLastError();
}

}  // namespace hearth::engine::cuda
