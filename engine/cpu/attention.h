// Paged causal attention of the CPU backend: softmax(Q K^T * scale) V per query row, K/V read
// block by block through a sequence's block table (layout in kv_storage.h).
//
// Work is cut into tiles: a tile is up to kAttentionTileTokens consecutive new tokens of one
// sequence times the query heads that share one K/V head (GQA), so each K/V block is loaded
// once per tile and used by every row of it. Tiles run in parallel on the ThreadPool.
//
// A context is cut into segments of AttentionSegmentKeys(block_size) absolute positions (1024
// for 16-slot blocks). Per query row (one token at absolute position `pos`, one head), whatever
// tile it is in:
//
//   for each segment g reaching pos:                            state (m_g, l_g, acc_g)
//     for each softmax chunk of the segment (keys [c0, min(c1, pos + 1))):
//       s_p   = (q * scale * log2(e)) . k_p          one FMA chain over d = 0 .. head_dim - 1
//       m'    = max(m, max_p s_p)                    online softmax, base 2
//       e_p   = 2^(s_p - m'),  c = 2^(m - m')
//       l     = l * c + sum_p e_p                    in key order (the kernel's fixed order)
//       acc   = acc * c + sum_p e_p v_p              in key order
//   m = max m_g,  w_g = 2^(m_g - m)                  MergeAttentionSegments, in segment order
//   out = (sum w_g acc_g) * (1 / sum w_g l_g)        (one segment: acc * (1 / l) exactly)
//
// A chunk is one K/V block in the scalar kernel and 256 keys (whole blocks) in the SIMD ones.
// Chunk and segment boundaries are absolute positions, and every row's arithmetic is the same
// whichever rows share its tile and whichever thread runs it (or runs each of its segments),
// so a row's output depends only on its query, its position and the K/V of positions [0, pos]
// (bitwise): the backend's batch and chunking invariance rests on this. Keys after `pos` in the
// last block (future tokens of the same chunk, or stale data) never touch the row's result.
// Segments are what lets a small batch with long contexts use every thread: PagedAttention
// runs each segment of such a tile as its own task and merges the states afterwards.
//
// Three implementations of the tile kernel, chosen once per process from ActiveCpuKernelPath():
// AVX-512 (attention_avx512.cc), AVX2+FMA (attention_avx2.cc), both vectorized over key slots
// for scores and over head_dim for the V sums, with a polynomial exp2 and the V accumulators in
// registers across a chunk, and the scalar twin (plain loops, std::exp2). They differ only by
// float rounding and the chunk size, and each keeps every invariant above. All three are
// templates on the K/V element type: float, or fp16 bits widened to float exactly as they are
// loaded (F16C in the SIMD kernels, HalfToFloat in the scalar twin), so a row's arithmetic after
// the load is the same for either storage type and the invariants above hold for both.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/kernels/thread_pool.h"
#include "engine/cpu/kv_storage.h"

namespace hearth::engine::cpu {

// New tokens of one sequence per tile.
inline constexpr int32_t kAttentionTileTokens = 16;

// One tile: rows (j, g) for token j in [0, num_tokens) and query head g in [0, num_heads).
struct AttentionTile {
  // Row (j, g) of the queries at q + j * row_stride + g * head_dim ([head_dim] floats); the
  // output row at the same offset from out.
  const float* q = nullptr;
  float* out = nullptr;
  int64_t row_stride = 0;
  int32_t num_tokens = 0;  // token j sits at absolute position first_pos + j
  int32_t num_heads = 0;   // query heads in this tile (all share the K/V head below)
  int32_t first_pos = 0;
  int32_t head_dim = 0;
  float scale = 0.0f;  // usually 1 / sqrt(head_dim)
  // The sequence's block b (positions [b * block_size, (b + 1) * block_size)) has id
  // block_table[b]; its K tile [head_dim][block_size] is at k0 + id * block_stride and its V
  // tile [block_size][head_dim] at v0 + id * block_stride (elements of kv_dtype: float, or
  // uint16_t fp16 bits).
  // REQUIRES: block_table covers positions [0, first_pos + num_tokens).
  const int32_t* block_table = nullptr;
  const void* k0 = nullptr;
  const void* v0 = nullptr;
  KvDtype kv_dtype = KvDtype::kF32;
  int64_t block_stride = 0;  // elements
  int32_t block_size = 0;
  // Only keys [key_begin, key_end) are read (a segment of the context; see AttentionSegmentKeys).
  // REQUIRES: key_begin % AttentionSegmentKeys(block_size) == 0.
  int32_t key_begin = 0;
  int32_t key_end = std::numeric_limits<int32_t>::max();
  // Null: row r's output goes to `out`. Else row r's unnormalized state over the segment goes to
  // partial + r * (head_dim + 2): m (running max, base 2), l (sum of 2^(s - m)), acc[head_dim]
  // (m = -inf, l = 0, acc = 0 for a row that reaches no key of the segment), to be combined by
  // MergeAttentionSegments.
  float* partial = nullptr;
};

// Keys per softmax chunk of the SIMD kernels: 256 in whole blocks (one block if larger), so
// chunk boundaries are absolute positions that depend on block_size alone.
inline int32_t AttentionChunkKeys(int32_t block_size) {
  return std::max(1, 256 / block_size) * block_size;
}

// Keys per segment: the unit in which a long context is split across threads (four chunks, so
// every kernel's chunk and block boundaries fall on segment boundaries). A row's result is the
// merge of its segments' partial states in order, whether or not they ran on different threads,
// so its bits depend on absolute positions only; a row within one segment gets exactly the
// single-tile result.
inline int32_t AttentionSegmentKeys(int32_t block_size) {
  return 4 * AttentionChunkKeys(block_size);
}

// out[0, head_dim) = the attention output of one row from its `count` segment states (see
// AttentionTile::partial), merged in order: m = max m_i, w_i = 2^(m_i - m),
// out = (sum w_i acc_i) * (1 / sum w_i l_i). Segments with m_i = -inf are skipped.
void MergeAttentionSegments(const float* const* parts, int32_t count, int32_t head_dim, float* out);

// Per-thread working memory of the tile kernels, reused across tiles. After a kernel: m, l and
// acc hold every row's state (what FinishTile writes out).
struct AttentionScratch {
  std::vector<float> q;     // [rows, head_dim] scaled queries
  std::vector<float> acc;   // [rows, head_dim]
  std::vector<float> e;     // scores, then probabilities: [rows, chunk] (SIMD kernels, which also
                            // keep widened fp16 K/V here) or [block_size] (scalar)
  std::vector<float> m;     // [rows] running max (base-2 logits)
  std::vector<float> l;     // [rows] running sum of probabilities
  std::vector<float> corr;  // [rows] this chunk's rescaling of acc (SIMD kernels)
  std::vector<int32_t> valid;  // [rows] this chunk's key slots at or before the row (SIMD)
};

// Attention of one tile on the active path. Writes only the tile's output rows.
void AttendTile(const AttentionTile& tile, AttentionScratch* scratch);

// Shapes of one layer's attention over a batch.
struct PagedAttentionParams {
  const float* q = nullptr;  // [n_tokens, num_heads * head_dim], RoPE applied
  float* out = nullptr;      // [n_tokens, num_heads * head_dim]
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;  // divides num_heads; head h reads K/V head h / (heads / kv_heads)
  int32_t head_dim = 0;
  int32_t layer = 0;
};

// out = attention of every new token of every sequence of `batch` over its context in `kv`
// (whose slots already hold this step's K/V). `pool` may be null.
// REQUIRES: the batch passed SplitBackend's checks; kv.head_dim() == params.head_dim.
void PagedAttention(const Batch& batch, const PagedAttentionParams& params, const KvStorage& kv,
                    ThreadPool* pool);

namespace internal {
inline constexpr float kLog2e = 1.4426950408889634f;  // scores are scaled for a base-2 softmax
void AttendTileScalar(const AttentionTile& tile, AttentionScratch* scratch);
// The kernels' last step: each row's output acc * (1 / l) to tile.out, or its state to
// tile.partial.
void FinishTile(const AttentionTile& tile, const AttentionScratch& scratch);
// REQUIRES: AVX2, FMA and F16C; tile.head_dim % 8 == 0.
void AttendTileAvx2(const AttentionTile& tile, AttentionScratch* scratch);
// REQUIRES: AVX-512F, FMA and F16C; tile.head_dim % 16 == 0, tile.block_size % 16 == 0 and
// tile.block_size <= 256.
void AttendTileAvx512(const AttentionTile& tile, AttentionScratch* scratch);
// Whether the active path runs the AVX-512 kernel for these shapes (it comes first).
bool AttentionUsesAvx512(int32_t head_dim, int32_t block_size);
// Whether the active path can run the AVX2 kernel for this head_dim.
bool AttentionUsesAvx2(int32_t head_dim);
// h[i] = silu(gate[i]) * up[i] with a polynomial exp (see ops.h SiluMul). REQUIRES: AVX2, FMA.
void SiluMulAvx2(const float* gate, const float* up, int64_t count, float* h);
}  // namespace internal

}  // namespace hearth::engine::cpu
