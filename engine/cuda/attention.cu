#include <cuda_runtime.h>

#include "engine/cuda/attention_device.cuh"
#include "engine/cuda/attention_kernels.h"
#include "engine/cuda/launch_util.h"

namespace hearth::engine::cuda {
namespace {

constexpr int kMaxWarps = kAttentionMaxRows / kAttentionSlots;  // 8

__global__ void __launch_bounds__(kWarpSize* kMaxWarps) AttentionTileKernel(AttentionParams p) {
  extern __shared__ uint4 smem_words[];
  DeviceCtx ctx;
  AttentionTileBody(ctx, p, reinterpret_cast<uint8_t*>(smem_words));
}

__global__ void __launch_bounds__(kWarpSize* kMaxWarps) AttentionMergeKernel(AttentionParams p) {
  DeviceCtx ctx;
  AttentionMergeBody(ctx, p);
}

}  // namespace

cudaError_t LaunchAttention(const AttentionParams& p, cudaStream_t stream) {
  const int hd = p.layout.head_dim;
  if (hd <= 0 || hd > kAttentionMaxHeadDim || p.layout.num_kv_heads <= 0 ||
      p.num_heads % p.layout.num_kv_heads != 0 || p.layout.block_size <= 0 || p.num_work < 0 ||
      p.max_rows > kAttentionMaxRows) {
    return cudaErrorInvalidValue;
  }
  if (p.num_work == 0) return cudaSuccess;
  const cudaError_t attr =
      EnsureDynamicSmem(AttentionTileKernel, AttentionSmemBytes(kAttentionMaxHeadDim));
  if (attr != cudaSuccess) return attr;
  const int warps = p.max_rows < kMaxWarps ? (p.max_rows > 0 ? p.max_rows : 1) : kMaxWarps;
  AttentionTileKernel<<<p.num_work, kWarpSize * warps, AttentionSmemBytes(hd), stream>>>(p);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || p.num_merges == 0) return err;
  AttentionMergeKernel<<<p.num_merges, kWarpSize * warps, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace hearth::engine::cuda
