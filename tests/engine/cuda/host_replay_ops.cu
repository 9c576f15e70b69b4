// The CudaOps kernels' bodies on the host (see host_replay.h), with the launchers' grid and
// block shapes: ops_kernels.cu, mma_gemm.cu, attention.cu, moe_kernels.cu.
#include <algorithm>

#include "engine/cuda/attention_device.cuh"
#include "engine/cuda/mma_gemm_device.cuh"
#include "engine/cuda/moe_device.cuh"
#include "engine/cuda/ops_device.cuh"
#include "tests/engine/cuda/host_replay.h"
#include "tests/engine/cuda/replay_ctx.h"

namespace hearth::engine::cuda_test {
namespace {

using namespace hearth::engine::cuda;  // NOLINT: the bodies' names

constexpr int kRowThreads = 128;      // ops_kernels.cu
constexpr int kFlatThreads = 256;     // ops_kernels.cu
constexpr int kCombineThreads = 128;  // moe_kernels.cu

int FlatBlocks(int64_t count) {
  return static_cast<int>((count + kFlatThreads - 1) / kFlatThreads);
}

}  // namespace

bool ReplayEmbed(const EmbedParams& p) {
  return DispatchCudaType(p.type, [&](auto t) {
    using T = decltype(t);
    ReplayGridSerial(p.n, 1, kRowThreads, [&](HostCtx& ctx) { EmbedBody<T>(ctx, p); });
  });
}

void ReplayRmsNorm(const RmsNormParams& p) {
  ReplayGrid(p.n, 1, kNormThreads, kNormThreads * sizeof(double),
             [&](HostCtx& ctx, uint8_t* smem) { RmsNormBody(ctx, p, smem); });
}

void ReplayRopeTable(const RopeTableParams& p) {
  ReplayGridSerial(FlatBlocks(int64_t{p.n} * (p.rope_dims / 2)), 1, kFlatThreads,
                   [&](HostCtx& ctx) { RopeTableBody(ctx, p); });
}

void ReplayRopeStore(const RopeStoreParams& p) {
  ReplayGridSerial(p.n, 1, kRowThreads, [&](HostCtx& ctx) { RopeStoreBody(ctx, p); });
}

void ReplaySiluMul(const SiluMulParams& p) {
  ReplayGridSerial(FlatBlocks(int64_t{p.n} * p.f), 1, kFlatThreads,
                   [&](HostCtx& ctx) { SiluMulBody(ctx, p); });
}

void ReplayGather(const GatherParams& p) {
  ReplayGridSerial(p.n, 1, kRowThreads, [&](HostCtx& ctx) { GatherBody(ctx, p); });
}

bool ReplayMmaGemm(const MmaGemmParams& p) {
  const int slices = MmaSlices(p.type, p.cols);
  return DispatchCudaType(p.type, [&](auto t) {
    using T = decltype(t);
    const int gx = static_cast<int>((p.rows + kMmaTileRows - 1) / kMmaTileRows);
    if (p.n <= kMmaSmallTokens) {
      ReplayGrid(gx, 1, kWarpSize * slices, MmaSmemBytes<T>(slices, kMmaSmallTokens),
                 [&](HostCtx& ctx, uint8_t* smem) { MmaGemmBody<T, 1>(ctx, p, slices, smem); });
    } else {
      constexpr int kTiles = kMmaLargeTokens / 8;
      const int gy = (p.n + kMmaLargeTokens - 1) / kMmaLargeTokens;
      ReplayGrid(
          gx, gy, kWarpSize * slices, MmaSmemBytes<T>(slices, kMmaLargeTokens),
          [&](HostCtx& ctx, uint8_t* smem) { MmaGemmBody<T, kTiles>(ctx, p, slices, smem); });
    }
  });
}

void ReplayAttention(const AttentionParams& p) {
  constexpr int kMaxWarps = kAttentionMaxRows / kAttentionSlots;  // attention.cu
  const int warps = std::clamp(p.max_rows, 1, kMaxWarps);
  ReplayGrid(p.num_work, 1, kWarpSize * warps, AttentionSmemBytes(p.layout.head_dim),
             [&](HostCtx& ctx, uint8_t* smem) { AttentionTileBody(ctx, p, smem); });
  if (p.num_merges > 0) {
    ReplayGrid(p.num_merges, 1, kWarpSize * warps, 0,
               [&](HostCtx& ctx, uint8_t*) { AttentionMergeBody(ctx, p); });
  }
}

void ReplayMoeCombine(const MoeCombineParams& p) {
  ReplayGridSerial(p.n, 1, kCombineThreads, [&](HostCtx& ctx) { MoeCombineBody(ctx, p); });
}

}  // namespace hearth::engine::cuda_test
