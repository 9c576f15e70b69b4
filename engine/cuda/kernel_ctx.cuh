// The execution context of the CUDA kernels' bodies (nvcc only).
//
// Every kernel of CudaOps is a thin __global__ wrapper around a body template
//
//   template <class Ctx> HEARTH_HD void FooBody(Ctx& ctx, const FooParams& p, uint8_t* smem);
//
// that reads its block and thread indices, synchronizes and exchanges values between lanes only
// through `ctx`. On the GPU the context is DeviceCtx below (blockIdx, __syncthreads,
// __shfl_xor_sync, mma.sync); tests/engine/cuda/replay_ctx.h provides a host context that runs
// the same body on the CPU, one std::thread per simulated GPU thread with barriers for the
// synchronizations, so the kernels' indexing and arithmetic are checked on machines without a
// GPU (see tests/engine/cuda/host_replay*.cu).
//
// Rules for bodies: collective calls (SyncBlock, SyncWarp, ShflXor, Shfl, Mma16816) are made by
// every thread of the block (SyncBlock) or warp (the others) the same number of times; shared
// memory is the `smem` argument (dynamic shared memory on the device).
#pragma once

#include <cstdint>

#include "engine/cuda/quant_device.cuh"

namespace hearth::engine::cuda {

inline constexpr int kWarpSize = 32;

#ifdef __CUDACC__
struct DeviceCtx {
  __device__ __forceinline__ int block_x() const { return static_cast<int>(blockIdx.x); }
  __device__ __forceinline__ int block_y() const { return static_cast<int>(blockIdx.y); }
  __device__ __forceinline__ int thread() const { return static_cast<int>(threadIdx.x); }
  __device__ __forceinline__ int threads() const { return static_cast<int>(blockDim.x); }
  __device__ __forceinline__ void SyncBlock() { __syncthreads(); }
  __device__ __forceinline__ void SyncWarp() { __syncwarp(); }
  __device__ __forceinline__ float ShflXor(float v, int mask) {
    return __shfl_xor_sync(0xffffffffu, v, mask);
  }
  __device__ __forceinline__ float Shfl(float v, int src_lane) {
    return __shfl_sync(0xffffffffu, v, src_lane);
  }
  // d[0..3] += A[16x16] * B[16x8] over the warp (mma.sync m16n8k16, f16 inputs, f32
  // accumulators). Lane (g = lane / 4, c = lane % 4) holds, as pairs of halves (low half = lower
  // k): a[0] = A[g][2c..], a[1] = A[g+8][2c..], a[2] = A[g][2c+8..], a[3] = A[g+8][2c+8..];
  // b[0] = B[2c..][g], b[1] = B[2c+8..][g]; d[i] = D[g + 8 (i / 2)][2c + i % 2].
  __device__ __forceinline__ void Mma16816(float* d, const uint32_t* a, const uint32_t* b) {
#if __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();  // the build targets sm_80 and newer only
#endif
  }
};
#endif

// fp16 bits of a float, round to nearest even (both sides give the same bits).
HEARTH_HD uint16_t HalfBits(float v) {
#ifdef __CUDA_ARCH__
  return __half_as_ushort(__float2half_rn(v));
#else
  return FloatToHalf(v);
#endif
}

// Two fp16 values in one 32-bit word, `lo` in the low half (the order mma fragments use).
HEARTH_HD uint32_t PackHalves(uint16_t lo, uint16_t hi) {
  return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
}

}  // namespace hearth::engine::cuda
