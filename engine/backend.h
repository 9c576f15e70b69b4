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
#include <string>
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
  // Return logits for every new token of this sequence instead (prompt logprobs, perplexity,
  // tests); overrides `sample`.
  bool all_logits = false;
};

struct Batch {
  std::vector<int32_t> tokens;     // [n_tokens]
  std::vector<int32_t> positions;  // [n_tokens]
  std::vector<BatchSequence> sequences;

  int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
  // Rows of logits Forward returns: one per sequence with `sample`, num_tokens per sequence
  // with `all_logits`.
  int32_t num_logit_rows() const {
    int32_t n = 0;
    for (const auto& s : sequences) n += s.all_logits ? s.num_tokens : (s.sample ? 1 : 0);
    return n;
  }
};

// What a device has and what one stage holds on it, for sizing the KV cache.
struct DeviceMemory {
  int64_t total_bytes = 0;   // RAM (or VRAM) the device has, as far as this process may use it
  int64_t free_bytes = 0;    // available now (after the stage's weights are resident)
  int64_t weight_bytes = 0;  // what the stage's weights occupy beyond the mapped model file
};

// One stage of a backend (layers [first_layer, end_layer) on one device), for KV sizing and
// reports.
struct StageMemoryInfo {
  std::string device;  // "cpu", "cuda:0"
  int32_t first_layer = 0;
  int32_t end_layer = 0;
  int64_t kv_bytes_per_block = 0;  // one block over this stage's layers
  DeviceMemory memory;
  int64_t budget_bytes = 0;  // the stage's configured budget for weights + K/V (0: none)
  bool host_memory = true;   // its memory is host RAM (shared with swap space and other stages)
};

// Thread-safety: not thread-safe; the engine loop is the only caller.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual int32_t vocab_size() const = 0;

  // Bytes of K/V storage one block of `block_size` tokens takes (all layers, all stages).
  virtual int64_t KvBytesPerBlock(int32_t block_size) const = 0;
  // Per stage, in layer order: its device, layers, memory and K/V bytes per block.
  virtual std::vector<StageMemoryInfo> StageMemory(int32_t block_size) const = 0;
  // "cpu[0-29]", "cuda:0[0-19] + cpu[20-29]": for logs.
  virtual std::string Describe() const = 0;

  // Allocates `num_blocks` device blocks and `num_host_blocks` host (swap) blocks of
  // `block_size` tokens each. Replaces any previous cache. ResourceExhausted if it cannot.
  virtual absl::Status InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                                   int32_t block_size) = 0;

  // One forward pass over `batch`. On success `logits` holds
  // [batch.num_logit_rows(), vocab_size()] floats: one row per sequence with sample = true (all
  // of its new tokens' rows with all_logits = true), in the order of batch.sequences. Writes the
  // new tokens' K/V into their slots. InvalidArgument when the batch breaks this file's contract.
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
