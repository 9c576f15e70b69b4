#include <cuda_runtime.h>

#include "engine/cuda/launch_util.h"
#include "engine/cuda/mma_gemm.h"
#include "engine/cuda/mma_gemm_device.cuh"

namespace hearth::engine::cuda {
namespace {

template <typename T, int kNTiles>
__global__ void __launch_bounds__(kWarpSize* kMmaMaxSlices)
    MmaGemmKernel(MmaGemmParams p, int slices) {
  extern __shared__ uint4 smem_words[];
  DeviceCtx ctx;
  MmaGemmBody<T, kNTiles>(ctx, p, slices, reinterpret_cast<uint8_t*>(smem_words));
}

template <typename T, int kNTiles>
cudaError_t LaunchTyped(const MmaGemmParams& p, int slices, cudaStream_t stream) {
  constexpr int kTokens = 8 * kNTiles;
  const int smem = MmaSmemBytes<T>(slices, kTokens);
  // Above 48 KiB a kernel must opt in (per device).
  const cudaError_t attr =
      EnsureDynamicSmem(MmaGemmKernel<T, kNTiles>, MmaSmemBytes<T>(kMmaMaxSlices, kTokens));
  if (attr != cudaSuccess) return attr;
  const dim3 grid(static_cast<unsigned>((p.rows + kMmaTileRows - 1) / kMmaTileRows),
                  static_cast<unsigned>((p.n + kTokens - 1) / kTokens));
  MmaGemmKernel<T, kNTiles><<<grid, kWarpSize * slices, smem, stream>>>(p, slices);
  return cudaGetLastError();
}

}  // namespace

int MmaSlices(uint32_t type, int64_t cols) {
  int slices = 0;
  DispatchCudaType(type, [&](auto t) {
    using T = decltype(t);
    const int64_t chunks = (cols + MmaShape<T>::kChunkElems - 1) / MmaShape<T>::kChunkElems;
    slices = static_cast<int>(chunks < kMmaMaxSlices ? chunks : kMmaMaxSlices);
  });
  return slices < 1 ? 1 : slices;
}

cudaError_t LaunchMmaGemm(const MmaGemmParams& p, cudaStream_t stream) {
  if (p.n < 0 || p.rows < 0 || p.cols <= 0 || p.cols % 32 != 0 || p.ldy < p.rows ||
      (p.n + kMmaLargeTokens - 1) / kMmaLargeTokens > 65535) {
    return cudaErrorInvalidValue;
  }
  if (p.n == 0 || p.rows == 0) return cudaSuccess;
  const int slices = MmaSlices(p.type, p.cols);
  cudaError_t err = cudaErrorInvalidValue;
  DispatchCudaType(p.type, [&](auto t) {
    using T = decltype(t);
    if (p.cols % T::kElems != 0) return;
    err = p.n <= kMmaSmallTokens ? LaunchTyped<T, 1>(p, slices, stream)
                                 : LaunchTyped<T, kMmaLargeTokens / 8>(p, slices, stream);
  });
  return err;
}

}  // namespace hearth::engine::cuda
