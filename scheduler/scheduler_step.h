// SchedulerStep: the plain plan Schedule() returns and Update() consumes (the three-call
// loop: Schedule -> runner executes -> Update).
//
// Per step, in order: running decodes (1 token each), continuing prefill chunks, resumed
// (swapped-in) sequences, then new admissions. The engine turns it into an engine::Batch:
//
//   sequences[i].token_ids    -> Batch::tokens (back to back)
//   start_position + j        -> Batch::positions
//   context_len, block_table  -> BatchSequence
//
// and, BEFORE the forward pass, executes in this order: swap_out (frees device blocks that
// swap_in / copies may reuse), swap_in, copies.
#pragma once

#include <cstdint>
#include <vector>

#include "kvcache/kv_cache_manager.h"
#include "scheduler/sequence.h"

namespace hearth::scheduler {

struct ScheduledSequence {
  SeqId id = 0;
  std::vector<int32_t> token_ids;    // [n] tokens computed this step (a chunk, or 1 decode)
  int32_t start_position = 0;        // position of token_ids[0]; tokens before it are cached
  int32_t context_len = 0;           // start_position + n: tokens in the KV after this step
  std::vector<int32_t> block_table;  // [ceil(context_len / block_size)] block ids
  bool sample = false;               // true when this computes the sequence's last known token
                        // (decode, or the last chunk of a prefill): one token is sampled

  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
};

struct SchedulerStep {
  std::vector<ScheduledSequence> sequences;
  std::vector<kvcache::BlockPair> swap_out;  // (device block, host block)
  std::vector<kvcache::BlockPair> swap_in;   // (host block, device block)
  std::vector<kvcache::BlockPair> copies;    // (device src, device dst), copy-on-write
  std::vector<SeqId> preempted;              // preempted this step (recompute or swap)
  int32_t num_batched_tokens = 0;            // sum of sequences[i].num_tokens()

  bool empty() const { return sequences.empty(); }
  int32_t num_sampled() const {
    int32_t n = 0;
    for (const auto& s : sequences) n += s.sample ? 1 : 0;
    return n;
  }
};

}  // namespace hearth::scheduler
