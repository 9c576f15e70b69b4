// Body of the tensor-core matmul (see mma_gemm.h for the plan), written over a context so that
// tests/engine/cuda/host_replay_mma.cu replays it on the CPU with an emulated mma.sync.
#pragma once

#include <cstdint>

#include "engine/cuda/gemv_device.cuh"
#include "engine/cuda/kernel_ctx.cuh"
#include "engine/cuda/mma_gemm.h"

namespace hearth::engine::cuda {

// Chunk geometry of a weight type.
template <typename T>
struct MmaShape {
  // Elements of a row per chunk: 256 for block types, else as many as fit 256 bytes.
  static constexpr int kChunkElems = T::kElems >= 32 ? 256 : 2048 / T::kBytes;
  static constexpr int kChunkBlocks = kChunkElems / T::kElems;
  // 16-byte words to stage one row's chunk, with up to 15 bytes of lead-in.
  static constexpr int kRowVecs = (kChunkBlocks * T::kBytes + 15) / 16 + 1;
  // Halves per row of the decoded tile: 8 of padding keep the fragment loads free of bank
  // conflicts (row g starts at bank 4g).
  static constexpr int kAStride = kChunkElems + 8;
  static constexpr int kWarpBytes = kMmaTileRows * kRowVecs * 16 + kMmaTileRows * kAStride * 2;
};

// Dynamic shared memory of one block: per-warp staging and tiles, reused at the end for the
// partial sums [slices][16][tokens].
template <typename T>
constexpr int MmaSmemBytes(int slices, int tile_tokens) {
  const int partials = kMmaTileRows * tile_tokens * 4;
  return slices * (MmaShape<T>::kWarpBytes > partials ? MmaShape<T>::kWarpBytes : partials);
}

HEARTH_HD uint4 LoadVec16(const uint4* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

HEARTH_HD uint32_t LoadWord(const uint16_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

// Block (block_x = 16-row tile, block_y = token tile of 8 * kNTiles), p.slices warps.
template <typename T, int kNTiles, class Ctx>
HEARTH_HD void MmaGemmBody(Ctx& ctx, const MmaGemmParams& p, int slices, uint8_t* smem) {
  using S = MmaShape<T>;
  constexpr int kTokens = 8 * kNTiles;
  constexpr int kGroups = T::kElems / 8;  // groups of 8 per block
  const int warp = ctx.thread() / kWarpSize, lane = ctx.thread() % kWarpSize;
  const int g = lane / 4, c = lane % 4;
  const int64_t r0 = static_cast<int64_t>(ctx.block_x()) * kMmaTileRows;
  const int t0 = ctx.block_y() * kTokens;
  const int64_t row_bytes = p.cols / T::kElems * T::kBytes;
  const int64_t chunks = (p.cols + S::kChunkElems - 1) / S::kChunkElems;
  uint8_t* mine = smem + warp * S::kWarpBytes;
  uint4* raw = reinterpret_cast<uint4*>(mine);  // [16][kRowVecs]
  uint16_t* tile = reinterpret_cast<uint16_t*>(mine + kMmaTileRows * S::kRowVecs * 16);

  float acc[kNTiles][4];
#pragma unroll
  for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[nt][i] = 0.0f;
  }

  // A chunk's bytes: which rows and words lane `lane`'s staging loads fetch (i-th of kLaneVecs).
  // Rows past the end repeat the last row; their results are dropped.
  constexpr int kLaneVecs = (kMmaTileRows * S::kRowVecs + kWarpSize - 1) / kWarpSize;
  auto chunk_span = [&](int64_t chunk, int rr) {
    const int64_t k0 = chunk * S::kChunkElems;
    const int elems = static_cast<int>(p.cols - k0 < S::kChunkElems ? p.cols - k0 : S::kChunkElems);
    const int64_t row = r0 + rr < p.rows ? r0 + rr : p.rows - 1;
    return StageSpan(p.w + row * row_bytes + k0 / T::kElems * T::kBytes,
                     elems / T::kElems * T::kBytes);
  };
  // Decode batches (one token tile) prefetch the next chunk's words into registers while the
  // current one is decoded and multiplied, so a warp keeps its loads in flight; larger token
  // tiles have no registers to spare. Either way the same bytes reach the same arithmetic.
  constexpr bool kPrefetch = kNTiles == 1;
  uint4 next[kPrefetch ? kLaneVecs : 1] = {};
  auto fetch = [&](int64_t chunk) {
#pragma unroll
    for (int j = 0; j < (kPrefetch ? kLaneVecs : 1); ++j) {
      const int i = lane + j * kWarpSize;
      if (i < kMmaTileRows * S::kRowVecs && chunk < chunks) {
        const ChunkSpan span = chunk_span(chunk, i / S::kRowVecs);
        if (i % S::kRowVecs < span.n_vecs) {
          next[j] = LoadVec16(reinterpret_cast<const uint4*>(span.aligned) + i % S::kRowVecs);
        }
      }
    }
  };
  if (kPrefetch) fetch(warp);

  for (int64_t chunk = warp; chunk < chunks; chunk += slices) {
    const int64_t k0 = chunk * S::kChunkElems;
    const int elems = static_cast<int>(p.cols - k0 < S::kChunkElems ? p.cols - k0 : S::kChunkElems);
    const int chunk_bytes = elems / T::kElems * T::kBytes;
    const int64_t chunk_offset = k0 / T::kElems * T::kBytes;
    // Stage the 16 rows' bytes of the chunk in shared memory.
    if (kPrefetch) {
#pragma unroll
      for (int j = 0; j < (kPrefetch ? kLaneVecs : 1); ++j) {
        const int i = lane + j * kWarpSize;
        if (i < kMmaTileRows * S::kRowVecs) raw[i] = next[j];
      }
      fetch(chunk + slices);
    } else {
      for (int i = lane; i < kMmaTileRows * S::kRowVecs; i += kWarpSize) {
        const ChunkSpan span = chunk_span(chunk, i / S::kRowVecs);
        if (i % S::kRowVecs < span.n_vecs) {
          raw[i] = LoadVec16(reinterpret_cast<const uint4*>(span.aligned) + i % S::kRowVecs);
        }
      }
    }
    ctx.SyncWarp();
    // Decode to fp16: group gi (8 elements) of row rr to tile[rr][8 gi].
    const int row_groups = elems / 8;
    for (int i = lane; i < kMmaTileRows * row_groups; i += kWarpSize) {
      const int rr = i / row_groups, gi = i % row_groups;
      const int64_t row = r0 + rr < p.rows ? r0 + rr : p.rows - 1;
      const ChunkSpan span = StageSpan(p.w + row * row_bytes + chunk_offset, chunk_bytes);
      const uint8_t* staged = reinterpret_cast<const uint8_t*>(raw + rr * S::kRowVecs) + span.lead;
      float w8[8];
      T::Group(staged + (gi / kGroups) * T::kBytes, gi % kGroups, w8);
      uint4 h;
      h.x = PackHalves(HalfBits(w8[0]), HalfBits(w8[1]));
      h.y = PackHalves(HalfBits(w8[2]), HalfBits(w8[3]));
      h.z = PackHalves(HalfBits(w8[4]), HalfBits(w8[5]));
      h.w = PackHalves(HalfBits(w8[6]), HalfBits(w8[7]));
      *reinterpret_cast<uint4*>(tile + rr * S::kAStride + gi * 8) = h;
    }
    ctx.SyncWarp();
    // K steps of 16: A fragments from the tile, B fragments (x) from global memory.
    for (int ks = 0; ks < elems / 16; ++ks) {
      const uint16_t* ap = tile + g * S::kAStride + ks * 16 + 2 * c;
      uint32_t a[4];
      a[0] = LoadWord(ap);
      a[1] = LoadWord(ap + 8 * S::kAStride);
      a[2] = LoadWord(ap + 8);
      a[3] = LoadWord(ap + 8 * S::kAStride + 8);
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
        if (t0 + nt * 8 < p.n) {  // the same for the whole warp
          const int tok = t0 + nt * 8 + g < p.n ? t0 + nt * 8 + g : p.n - 1;
          const uint16_t* xp = p.x + static_cast<int64_t>(tok) * p.cols + k0 + ks * 16 + 2 * c;
          uint32_t b[2];
          b[0] = LoadWord(xp);
          b[1] = LoadWord(xp + 8);
          ctx.Mma16816(acc[nt], a, b);
        }
      }
    }
    ctx.SyncWarp();
  }

  // Sum the slices in order: partials[warp][row][token].
  ctx.SyncBlock();
  float* partials = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int nt = 0; nt < kNTiles; ++nt) {
    if (t0 + nt * 8 < p.n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int rr = g + 8 * (i / 2), col = nt * 8 + 2 * c + i % 2;
        partials[(warp * kMmaTileRows + rr) * kTokens + col] = acc[nt][i];
      }
    }
  }
  ctx.SyncBlock();
  for (int i = ctx.thread(); i < kMmaTileRows * kTokens; i += ctx.threads()) {
    const int rr = i % kMmaTileRows, col = i / kMmaTileRows;
    const int t = t0 + col;
    const int64_t row = r0 + rr;
    if (t < p.n && row < p.rows) {
      float v = partials[rr * kTokens + col];
      for (int s = 1; s < slices; ++s)
        v = AddRn(v, partials[(s * kMmaTileRows + rr) * kTokens + col]);
      p.y[static_cast<int64_t>(t) * p.ldy + row] = v;
    }
  }
}

}  // namespace hearth::engine::cuda
