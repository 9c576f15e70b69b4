// The GEMV kernel's per-warp plan, as __host__ __device__ pieces (nvcc only), so that
// tests/engine/cuda/host_replay.cu can replay a warp on the CPU (32 lanes in a loop)
// and check the indexing (16-byte staging of unaligned rows, chunk tails, lane -> element map)
// on machines without a GPU.
//
// A warp owns one row of W. The row is walked in chunks of kChunkBlocks blocks
// (kStepsPerChunk * 256 elements). For each chunk:
//   stage:   the byte span [start, start + nb * kBytes) is copied to shared memory as 16-byte
//            words from `start` aligned down to 16 (ChunkSpan); the chunk begins `lead` bytes in.
//   compute: step s, lane l decodes group g = 32 s + l of the chunk (8 elements, block g / G,
//            group g % G, G = kElems / 8) and adds its dot with x[t, col .. col + 8) to acc[t].
#pragma once

#include <cstdint>

#include "engine/cuda/quant_device.cuh"

namespace hearth::engine::cuda {

inline constexpr int kGemvWarpsPerBlock = 4;
inline constexpr int kGemvStepElems = 256;  // 32 lanes x 8 elements
inline constexpr int kGemvStepsPerChunk = 4;

template <typename T>
struct GemvShape {
  static constexpr int kGroupsPerBlock = T::kElems / 8;
  static constexpr int kChunkBlocks = kGemvStepsPerChunk * kGemvStepElems / T::kElems;
  // Chunk bytes plus up to 15 bytes of lead-in from aligning the start down, in 16-byte words.
  static constexpr int kChunkVecs = (kChunkBlocks * T::kBytes + 15) / 16 + 1;
};

struct ChunkSpan {
  uintptr_t aligned;  // start rounded down to 16 bytes
  int lead;           // start - aligned, in [0, 16)
  int n_vecs;         // 16-byte words to stage, <= kChunkVecs
};

HEARTH_HD ChunkSpan StageSpan(const uint8_t* start, int chunk_bytes) {
  ChunkSpan s;
  s.aligned = reinterpret_cast<uintptr_t>(start) & ~static_cast<uintptr_t>(15);
  s.lead = static_cast<int>(reinterpret_cast<uintptr_t>(start) - s.aligned);
  s.n_vecs = (s.lead + chunk_bytes + 15) / 16;
  return s;
}

HEARTH_HD float4 LoadX4(const float* p) {
#ifdef __CUDA_ARCH__
  return __ldg(reinterpret_cast<const float4*>(p));
#else
  return *reinterpret_cast<const float4*>(p);
#endif
}

// One lane's work on one staged chunk: `chunk` points at the chunk's first block (in shared
// memory on the device), nb blocks of which are valid, the first being block b0 of the row.
// x: [n, cols]; acc: [kMaxN] running sums (entries t >= n untouched).
template <typename T, int kMaxN>
HEARTH_HD void GemvLaneChunk(const uint8_t* chunk, int nb, int64_t b0, int lane, const float* x,
                             int64_t cols, int n, float* acc) {
  using S = GemvShape<T>;
#pragma unroll
  for (int step = 0; step < kGemvStepsPerChunk; ++step) {
    const int g = step * 32 + lane;  // group index within the chunk
    const int blk = g / S::kGroupsPerBlock;
    if (blk < nb) {
      float wv[8];
      T::Group(chunk + blk * T::kBytes, g % S::kGroupsPerBlock, wv);
      const int64_t col = (b0 + blk) * T::kElems + (g % S::kGroupsPerBlock) * 8;
#pragma unroll
      for (int t = 0; t < kMaxN; ++t) {
        if (t < n) {
          const float4 x0 = LoadX4(x + t * cols + col), x1 = LoadX4(x + t * cols + col + 4);
          float a = acc[t];
          a = fmaf(wv[0], x0.x, a);
          a = fmaf(wv[1], x0.y, a);
          a = fmaf(wv[2], x0.z, a);
          a = fmaf(wv[3], x0.w, a);
          a = fmaf(wv[4], x1.x, a);
          a = fmaf(wv[5], x1.y, a);
          a = fmaf(wv[6], x1.z, a);
          a = fmaf(wv[7], x1.w, a);
          acc[t] = a;
        }
      }
    }
  }
}

}  // namespace hearth::engine::cuda
