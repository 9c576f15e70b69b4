// The one interface every compute backend (cpu/, cuda/) implements.
//
// A step's work arrives as a flat Batch: the new tokens of many sequences back to back
// (prefill chunks and single decode tokens mixed). K/V lives in the backend's paged storage;
// each sequence names its blocks through a block table, so the backend knows nothing of
// requests or of the scheduler.
//
//   tokens:     [ s0 t0 t1 t2 | s1 t0 | s2 t0 t1 ]       flat, n_tokens entries
//   positions:  [  5  6  7    |  40   |  0  1    ]       absolute position of each token
//   sequences:  { begin 0, n 3, ctx 8 } { begin 3, n 1, ctx 41 } { begin 4, n 2, ctx 2 }
//
// K/V of the token at absolute position p of a sequence lives in slot
//   block_table[p / block_size] * block_size + p % block_size.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace hearth::engine {

struct BatchSequence {
  int32_t token_begin = 0;  // index in Batch::tokens of this sequence's first new token
  int32_t num_tokens = 0;   // new tokens this step (a prefill chunk, or 1 when decoding)
  // Tokens in the KV cache after this step (already cached + num_tokens). The new tokens sit
  // at positions [context_len - num_tokens, context_len).
  int32_t context_len = 0;
  std::vector<int32_t> block_table;  // block ids covering positions [0, context_len)
  bool sample = false;               // return logits for this sequence's last new token
};

struct Batch {
  std::vector<int32_t> tokens;     // [n_tokens]
  std::vector<int32_t> positions;  // [n_tokens]
  std::vector<BatchSequence> sequences;

  int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t num_sampled() const {
    int32_t n = 0;
    for (const auto& s : sequences) n += s.sample ? 1 : 0;
    return n;
  }
};

// Thread-safety: not thread-safe; the engine loop is the only caller.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual int32_t vocab_size() const = 0;

  // Bytes of K/V storage one block of `block_size` tokens takes (all layers), for sizing
  // the pool from a memory budget.
  virtual int64_t KvBytesPerBlock(int32_t block_size) const = 0;

  // Allocates `num_blocks` device blocks and `num_host_blocks` host (swap) blocks of
  // `block_size` tokens each. Replaces any previous cache. ResourceExhausted if it cannot.
  virtual absl::Status InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                                   int32_t block_size) = 0;

  // One forward pass over `batch`. On success `logits` holds
  // [batch.num_sampled(), vocab_size()] floats, one row per sequence with sample = true,
  // in the order of batch.sequences. Writes the new tokens' K/V into their slots.
  // REQUIRES: InitKvCache() succeeded; every block table covers its context_len.
  virtual absl::Status Forward(const Batch& batch, std::vector<float>* logits) = 0;

  // Copy-on-write and swap. Each pair is (source block, destination block).
  virtual absl::Status CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) = 0;
  // Device block -> host block.
  virtual absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) = 0;
  // Host block -> device block.
  virtual absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) = 0;
};

}  // namespace hearth::engine
