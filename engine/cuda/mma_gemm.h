// The tensor-core matmul of CudaOps: y[t, r] = x[t, :] . W[r, :] with W still quantized in
// device memory and x in fp16, for every batch size (decode and prefill alike).
//
// Per block: 16 rows of W (one mma M tile) x a tile of tokens (8 for n <= 8, else 128), split
// over `slices` warps along K. Each warp walks its chunks of the row (chunk c of the row goes to
// warp c % slices; a chunk is 256 elements of a quantized type, 128 of F16/BF16, 64 of F32):
//
//   stage  the 16 rows' bytes of the chunk into shared memory (16-byte loads, rows of any
//          alignment, as the GEMV does)
//   decode groups of 8 weights with the bit-exact block decoders (quant_device.cuh), rounded to
//          fp16, into a 16 x chunk tile in shared memory
//   mma    mma.sync m16n8k16 (fp16 x fp16, fp32 accumulators) per 16 elements of K and 8
//          tokens, x read straight from global memory as the B fragments
//
// and the block sums its warps' partial results in slice order 0, 1, ... (fixed). Every output
// element is therefore the same chain of mma steps over the same K order plus the same slice
// sum, whatever n, the token tile or the grid: the kernel is batch-invariant, and decode and
// prefill give the same bits for the same row (the DeviceOps contract). `slices` depends on cols
// only (MmaSlices).
//
// Each weight byte is read once per block: once per step for n <= 128 (one token tile), which is
// what a decode step costs; larger batches re-read W once per 128 tokens (from L2 mostly).
//
// Plain C++17: seen by nvcc and the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace hearth::engine::cuda {

inline constexpr int kMmaTileRows = 16;
inline constexpr int kMmaMaxSlices = 8;
// Tokens per block: the decode tile and the prefill tile.
inline constexpr int kMmaSmallTokens = 8;
inline constexpr int kMmaLargeTokens = 128;

struct MmaGemmParams {
  uint32_t type = 0;            // GGUF type number; CudaSupportsType
  const uint8_t* w = nullptr;   // [rows] packed GGUF rows, 16-byte aligned, kWeightPadBytes after
  const uint16_t* x = nullptr;  // [n, cols] fp16 bits, row-major
  float* y = nullptr;           // y[t * ldy + r]; only these elements are written
  int64_t rows = 0;
  int64_t cols = 0;  // REQUIRES: cols % 32 == 0 and a multiple of the block size
  int64_t ldy = 0;   // >= rows
  int32_t n = 0;
};

// K-slices (warps per block) for a row of `cols` elements of `type`: min(8, chunks per row).
int MmaSlices(uint32_t type, int64_t cols);

// Enqueues the matmul; cudaErrorInvalidValue when a REQUIRES does not hold.
cudaError_t LaunchMmaGemm(const MmaGemmParams& p, cudaStream_t stream);

}  // namespace hearth::engine::cuda
