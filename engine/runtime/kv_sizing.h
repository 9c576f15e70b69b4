// The one function that sizes the KV cache and caps the context length, for the engine and
// every command (serve, generate, bench-serve print what it decided).
//
// Per stage (a device holding some layers' K/V, backend.h's StageMemoryInfo):
//   room_i   = budget_i - weights_i                     with a stage memory budget
//            = memory_fraction * free_i                 sized automatically
//            = kv_cache_bytes * share_i                 with kv_cache_bytes (share_i: its
//                                                       fraction of the K/V bytes per block)
//   blocks_i = room_i / kv_bytes_per_block_i
// blocks = min_i blocks_i (block ids are shared: the smallest stage decides), and with an
// automatic size at most what max_num_seqs sequences of max_model_len tokens can fill.
// Swap blocks = swap_space_bytes / (K/V bytes per block over all layers).
//
// Requests that cannot be met are errors naming the key and the missing bytes: K/V or weights
// past a stage's budget, K/V plus swap past the host's free memory, block counts past what a
// block id holds. max_model_len 0 means the model's context, capped to what the cache holds
// (a note says so); an explicit max_model_len the cache cannot hold is an error.
//
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"

namespace hearth::engine {

struct KvCacheRequest {
  int64_t kv_cache_bytes = 0;    // > 0: K/V bytes over all layers; 0: from free memory
  double memory_fraction = 0.2;  // of each stage's free memory, when sized automatically
  int64_t swap_space_bytes = 0;  // host bytes for swapped-out blocks
  int32_t block_size = 16;
  int32_t max_model_len = 0;  // 0: the model's context (capped to the cache)
  int32_t model_context_length = 0;
  int32_t max_num_seqs = 1;
  int64_t host_free_bytes = 0;  // host RAM available (for swap space); 0: unknown, unchecked
};

struct StageKvPlan {
  std::string device;
  int32_t first_layer = 0, end_layer = 0;
  int64_t room_bytes = 0;  // what the stage can give K/V
  int64_t blocks = 0;      // what that holds
  int64_t kv_bytes = 0;    // what the chosen block count takes on it
};

struct KvCachePlan {
  int32_t num_device_blocks = 0;
  int32_t num_host_blocks = 0;
  int32_t max_model_len = 0;
  int64_t kv_bytes = 0;       // device K/V bytes over all stages
  int64_t swap_bytes = 0;     // host swap bytes
  int64_t host_kv_bytes = 0;  // the part of kv_bytes on CPU stages (host RAM)
  std::vector<StageKvPlan> stages;
  int limiting_stage = 0;          // the stage whose room set num_device_blocks
  std::vector<std::string> notes;  // e.g. "max_model_len capped to 6144 ..."
  int64_t capacity_tokens(int32_t block_size) const {
    return int64_t{num_device_blocks} * block_size;
  }
};

absl::StatusOr<KvCachePlan> PlanKvCache(const std::vector<StageMemoryInfo>& stages,
                                        const KvCacheRequest& request);

// "1.5 GiB", "512 MiB", "12 KiB".
std::string HumanBytes(int64_t bytes);

}  // namespace hearth::engine
