#include <cuda_runtime.h>

#include "engine/cuda/moe_device.cuh"
#include "engine/cuda/moe_kernels.h"

namespace hearth::engine::cuda {
namespace {

constexpr int kCombineThreads = 128;  // host_replay_ops.cu replays with the same shape

__global__ void MoeCombineKernel(MoeCombineParams p) {
  DeviceCtx ctx;
  MoeCombineBody(ctx, p);
}

}  // namespace

cudaError_t LaunchMoeCombine(const MoeCombineParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.k < 1 || p.dim < 0) return cudaErrorInvalidValue;
  if (p.shared != nullptr && p.shared_gate == nullptr) return cudaErrorInvalidValue;
  if (p.n == 0 || p.dim == 0) return cudaSuccess;
  MoeCombineKernel<<<p.n, kCombineThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace hearth::engine::cuda
