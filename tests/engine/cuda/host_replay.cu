#include <algorithm>
#include <cstring>

#include "engine/cuda/gemv_device.cuh"
#include "engine/cuda/matmul.h"
#include "tests/engine/cuda/host_replay.h"

namespace hearth::engine::cuda_test {
namespace {

using cuda::ChunkSpan;
using cuda::GemvLaneChunk;
using cuda::GemvShape;
using cuda::kGemvMaxN;
using cuda::StageSpan;

template <typename T>
std::string ReplayGemv(const uint8_t* w, const uint8_t* w_end_readable, const float* x,
                       int64_t rows, int64_t cols, int n, float* y) {
  using S = GemvShape<T>;
  const int64_t blocks_per_row = cols / T::kElems;
  for (int64_t row = 0; row < rows; ++row) {
    float acc[32][kGemvMaxN] = {};
    const uint8_t* row_ptr = w + row * blocks_per_row * T::kBytes;
    for (int64_t b0 = 0; b0 < blocks_per_row; b0 += S::kChunkBlocks) {
      const int nb = static_cast<int>(std::min<int64_t>(S::kChunkBlocks, blocks_per_row - b0));
      const ChunkSpan span = StageSpan(row_ptr + b0 * T::kBytes, nb * T::kBytes);
      const auto* lo = reinterpret_cast<const uint8_t*>(span.aligned);
      if (span.n_vecs > S::kChunkVecs) return "chunk larger than the staging buffer";
      if (lo < w || lo + 16 * span.n_vecs > w_end_readable) return "staging reads outside W";
      alignas(16) uint8_t stage[S::kChunkVecs * 16];
      std::memcpy(stage, lo, 16 * span.n_vecs);
      for (int lane = 0; lane < 32; ++lane) {
        GemvLaneChunk<T, kGemvMaxN>(stage + span.lead, nb, b0, lane, x, cols, n, acc[lane]);
      }
    }
    for (int t = 0; t < n; ++t) {
      float v[32];
      for (int l = 0; l < 32; ++l) v[l] = acc[l][t];
      for (int off = 16; off > 0; off >>= 1) {  // the kernel's __shfl_xor_sync butterfly
        float nv[32];
        for (int l = 0; l < 32; ++l) nv[l] = v[l] + v[l ^ off];
        std::memcpy(v, nv, sizeof(v));
      }
      y[t * rows + row] = v[t];
    }
  }
  return "";
}

}  // namespace

bool HostDecode(uint32_t type, const uint8_t* blocks, int64_t n, float* out) {
  return cuda::DispatchCudaType(type, [&](auto t) {
    using T = decltype(t);
    for (int64_t g = 0; g < n / 8; ++g) {
      T::Group(blocks + (g / (T::kElems / 8)) * T::kBytes, static_cast<int>(g % (T::kElems / 8)),
               out + 8 * g);
    }
  });
}

std::string HostReplayGemv(uint32_t type, const uint8_t* w, const uint8_t* w_end_readable,
                           const float* x, int64_t rows, int64_t cols, int n, float* y) {
  std::string err = "unsupported type";
  cuda::DispatchCudaType(
      type, [&](auto t) { err = ReplayGemv<decltype(t)>(w, w_end_readable, x, rows, cols, n, y); });
  return err;
}

}  // namespace hearth::engine::cuda_test
