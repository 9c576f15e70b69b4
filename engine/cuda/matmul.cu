#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "engine/cuda/gemv_device.cuh"
#include "engine/cuda/matmul.h"

namespace hearth::engine::cuda {
namespace {

constexpr int kWarpsPerBlock = kGemvWarpsPerBlock;

// grid.x = ceil(rows / kWarpsPerBlock), block = 32 x kWarpsPerBlock; warp w of block b owns row
// b * kWarpsPerBlock + w (see gemv_device.cuh for the per-warp plan). kMaxN is the number of
// register accumulators (n <= kMaxN). The min-blocks hint of 4 lets ptxas use up to 128
// registers, which keeps every instantiation free of local-memory spills.
template <typename T, int kMaxN>
__global__ void __launch_bounds__(32 * kWarpsPerBlock, 4)
    GemvKernel(const uint8_t* __restrict__ w, const float* __restrict__ x, float* __restrict__ y,
               int64_t rows, int64_t cols, int n, int64_t ldy) {
  using S = GemvShape<T>;
  __shared__ uint4 stage[kWarpsPerBlock][S::kChunkVecs];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp;
  if (row >= rows) return;  // the whole warp leaves together

  // Token group blockIdx.y: tokens [8 y, 8 y + 8).
  const int t0 = static_cast<int>(blockIdx.y) * kGemvMaxN;
  x += static_cast<int64_t>(t0) * cols;
  y += static_cast<int64_t>(t0) * ldy;
  n = n - t0 < kMaxN ? n - t0 : kMaxN;
  const int64_t blocks_per_row = cols / T::kElems;
  const uint8_t* row_ptr = w + row * blocks_per_row * T::kBytes;
  uint4* my_stage = stage[warp];

  float acc[kMaxN];
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) acc[t] = 0.0f;

  for (int64_t b0 = 0; b0 < blocks_per_row; b0 += S::kChunkBlocks) {
    const int nb = static_cast<int>(blocks_per_row - b0 < S::kChunkBlocks ? blocks_per_row - b0
                                                                          : S::kChunkBlocks);
    const ChunkSpan span = StageSpan(row_ptr + b0 * T::kBytes, nb * T::kBytes);
    const uint4* src = reinterpret_cast<const uint4*>(span.aligned);
    for (int v = lane; v < span.n_vecs; v += 32) my_stage[v] = __ldg(src + v);
    __syncwarp();
    GemvLaneChunk<T, kMaxN>(reinterpret_cast<const uint8_t*>(my_stage) + span.lead, nb, b0, lane, x,
                            cols, n, acc);
    __syncwarp();
  }

#pragma unroll
  for (int t = 0; t < kMaxN; ++t) {
    float v = acc[t];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (t < n && lane == t) y[t * ldy + row] = v;
  }
}

template <typename T, int kMaxN>
void LaunchGemvTyped(const GemvParams& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((p.rows + kWarpsPerBlock - 1) / kWarpsPerBlock),
                  static_cast<unsigned>((p.n + kGemvMaxN - 1) / kGemvMaxN));
  GemvKernel<T, kMaxN><<<grid, 32 * kWarpsPerBlock, 0, stream>>>(
      static_cast<const uint8_t*>(p.w), p.x, p.y, p.rows, p.cols, p.n, p.ldy > 0 ? p.ldy : p.rows);
}

__global__ void FloatToHalfKernel(const float* __restrict__ src, __half* __restrict__ dst,
                                  int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = __float2half_rn(src[i]);
  }
}

}  // namespace

cudaError_t LaunchGemv(const GemvParams& p, cudaStream_t stream) {
  if (p.n < 1 || p.n > 65535 * kGemvMaxN || p.rows < 0 || p.cols < 0 || p.cols % 32 != 0 ||
      (p.ldy != 0 && p.ldy < p.rows)) {
    return cudaErrorInvalidValue;
  }
  if (p.rows == 0) return cudaSuccess;
  bool shape_ok = true;
  const bool type_ok = DispatchCudaType(static_cast<uint32_t>(p.type), [&](auto t) {
    using T = decltype(t);
    if (p.cols % T::kElems != 0) {
      shape_ok = false;
      return;
    }
    if (p.n == 1) {
      LaunchGemvTyped<T, 1>(p, stream);
    } else if (p.n == 2) {
      LaunchGemvTyped<T, 2>(p, stream);
    } else if (p.n <= 4) {
      LaunchGemvTyped<T, 4>(p, stream);
    } else {
      LaunchGemvTyped<T, 8>(p, stream);
    }
  });
  if (!type_ok || !shape_ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t LaunchFloatToHalf(const float* src, void* dst, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const int64_t want = (n + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(want < 65535 * 16 ? want : 65535 * 16);
  FloatToHalfKernel<<<grid, kThreads, 0, stream>>>(src, static_cast<__half*>(dst), n);
  return cudaGetLastError();
}

}  // namespace hearth::engine::cuda
