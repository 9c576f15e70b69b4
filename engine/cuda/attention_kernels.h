// Paged attention of CudaOps over the K/V pool (layout in ops_kernels.h, KvLayout).
//
// Work is cut into tiles as on the CPU (engine/cpu/attention.h): a tile is up to 32 query rows
// that share one K/V head, (tokens of one sequence) x (query heads of the head's group). One
// block runs one tile and loads each 32-key chunk of K and V into shared memory once for all its
// rows. A context is cut into segments of kAttentionSegmentKeys absolute positions. Per row
// (token at absolute position pos, head h), warp-local, whatever its tile:
//
//   for each segment g reaching pos:                          state (m, l, acc) from scratch
//     for each 32-key chunk [k0, k0 + 32) of the segment:     key k0 + lane on lane `lane`
//       s    = (q * scale * log2 e) . k                       FMA chain over d = 0 .. hd - 1
//       m'   = max(m, max over the chunk's keys <= pos)       (lane butterfly: exact)
//       e    = 2^(s - m') for keys <= pos, else 0
//       l    = l * 2^(m - m') + sum e                         (lane butterfly, fixed order)
//       acc  = acc * 2^(m - m') + sum_p e_p v_p               in key order, lane per d
//     merge (m, l, acc) into (M, L, A) in segment order       MergeAttentionState
//   out = A * (1 / L)
//
// Chunk and segment boundaries are absolute positions and nothing in a row's arithmetic depends
// on the other rows of its tile, on the tile's size or on whether its segments ran in one block
// (tile mode) or in blocks of their own whose states a second kernel merged in the same order
// (split mode, flash-decoding: small batches with long contexts). So a row's output depends only
// on its query, its position and the K/V of positions [0, pos]: the batch and chunking
// invariance of the DeviceOps contract. Keys after pos (later tokens of the same prefill chunk,
// stale slots) are never read into a row's sums.
//
// Plain C++17: seen by nvcc and the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "engine/cuda/ops_kernels.h"

namespace hearth::engine::cuda {

inline constexpr int32_t kAttentionChunkKeys = 32;
inline constexpr int32_t kAttentionSegmentKeys = 256;
inline constexpr int32_t kAttentionMaxRows = 32;      // rows per tile (block)
inline constexpr int32_t kAttentionMaxHeadDim = 256;  // 8 dimensions per lane

// One sequence of the step (device copy of the batch's sequences).
struct AttentionSeq {
  int32_t token_begin = 0;  // first new token's row in q / out
  int32_t num_tokens = 0;
  int32_t context_len = 0;   // new tokens sit at [context_len - num_tokens, context_len)
  int32_t table_offset = 0;  // where its block table starts in the flat table
};

// One tile: rows (token j, head h) for j in [token_offset, token_offset + num_tokens) of the
// sequence and h in [head_offset, head_offset + num_heads) of kv_head's group.
struct AttentionWork {
  int32_t seq = 0;
  int32_t kv_head = 0;
  int32_t token_offset = 0;
  int32_t num_tokens = 0;
  int32_t head_offset = 0;
  int32_t num_heads = 0;
  // -1: every segment in this block, merged here (tile mode). >= 0: only this segment; each row
  // r's state goes to partials[(partial + r * segments + segment) * (head_dim + 2)].
  int32_t segment = -1;
  int32_t segments = 1;  // of the tile's last row (split mode)
  int64_t partial = 0;
};

struct AttentionParams {
  const float* q = nullptr;  // [n, num_heads * head_dim], RoPE applied
  float* out = nullptr;      // [n, num_heads * head_dim]
  const void* kv = nullptr;  // the pool
  KvLayout layout;
  int32_t layer = 0;
  int32_t num_heads = 0;  // query heads; group = num_heads / layout.num_kv_heads
  float scale = 0.0f;     // 1 / sqrt(head_dim)
  const AttentionSeq* seqs = nullptr;
  const int32_t* block_tables = nullptr;
  const AttentionWork* work = nullptr;  // [num_work], one block each
  int32_t num_work = 0;
  int32_t max_rows = 0;  // largest tile's rows: warps per block = min(8, max_rows)
  float* partials = nullptr;
  // Split mode's merge pass: one job per split tile (its segment-0 work item's fields).
  const AttentionWork* merges = nullptr;
  int32_t num_merges = 0;
};

// Enqueues the tile kernel and, if num_merges > 0, the merge kernel. cudaErrorInvalidValue for
// a head_dim above kAttentionMaxHeadDim or an empty layout.
cudaError_t LaunchAttention(const AttentionParams& p, cudaStream_t stream);

}  // namespace hearth::engine::cuda
