// SchedulerConfig: the capacity (blocks) and shape (token budget) policies' knobs.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace hearth::scheduler {

// How a running sequence gives its blocks back when the cache is full.
//   kRecompute: free its blocks; it re-prefills prompt + outputs later.
//   kSwap:      copy its blocks to host swap space; it resumes where it was.
//   kAuto:      see ChoosePreemption() in preemption_policy.h.
enum class PreemptionMode { kAuto, kRecompute, kSwap };

struct SchedulerConfig {
  int32_t max_num_seqs = 256;             // running sequences at most
  int32_t max_num_batched_tokens = 2048;  // tokens computed per step at most
  int32_t block_size = 16;                // tokens per KV block
  int32_t num_device_blocks = 0;          // device KV blocks (> 0)
  int32_t num_host_blocks = 0;            // host swap blocks (0: recompute only)
  int32_t max_model_len = 8192;           // context length: prompt + max_tokens at most
  int32_t max_waiting_requests = 1024;    // Add() fails with ResourceExhausted beyond this
  bool enable_prefix_caching = true;
  // Split long prompts across steps. When off, a prompt must fit max_num_batched_tokens.
  bool enable_chunked_prefill = true;
  // Tokens one prefilling sequence computes per step at most (0: only the step budget
  // limits it), so one long prompt cannot starve other new requests.
  int32_t long_prefill_token_threshold = 0;
  PreemptionMode preemption_mode = PreemptionMode::kAuto;
  // kAuto swaps a victim holding at least this many computed tokens; shorter ones are
  // cheaper to recompute.
  int32_t swap_min_tokens = 256;

  // InvalidArgument naming the first bad field.
  absl::Status Validate() const;
};

}  // namespace hearth::scheduler
