// Settings of one Engine: backend threads, KV cache sizing and the scheduler's budgets.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "scheduler/scheduler_config.h"

namespace hearth::engine {

struct EngineConfig {
  int32_t num_threads = 2;  // backend compute threads (the engine thread is one of them)
  // CPU matmul activation precision: "q8" (fast, default) or "f32" (matches a float reference
  // token for token; see engine/cpu/kernels/matmul.h). Anything else fails Engine::Create.
  std::string cpu_precision = "q8";
  // KV cache element type: "f16" (half the bytes per token), "f32", or "auto": f32 when
  // cpu_precision is "f32" (the exact mode), else f16. Anything else fails Validate.
  std::string kv_cache_dtype = "auto";

  // KV cache. kv_cache_bytes > 0 sizes the device pool directly; otherwise
  // kv_cache_memory_fraction of the memory available now (on the CPU backend: MemAvailable,
  // bounded by the container's cgroup limit; common/host_resources.h).
  int64_t kv_cache_bytes = 0;
  double kv_cache_memory_fraction = 0.2;
  int32_t block_size = 16;
  int64_t swap_space_bytes = 256ll << 20;  // host swap blocks (0: recompute only)

  // Scheduler budgets (see scheduler/scheduler_config.h).
  int32_t max_num_seqs = 64;
  int32_t max_num_batched_tokens = 1024;
  int32_t max_waiting_requests = 1024;
  int32_t max_model_len = 0;  // 0: the model's trained context length
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  int32_t long_prefill_token_threshold = 0;
  scheduler::PreemptionMode preemption_mode = scheduler::PreemptionMode::kAuto;
  int32_t swap_min_tokens = 256;  // kAuto swaps victims with at least this many computed tokens

  // InvalidArgument naming the first bad field.
  absl::Status Validate() const;

  // kv_cache_dtype with "auto" resolved: "f16" or "f32" (a bad value is returned as is).
  std::string ResolvedKvCacheDtype() const;
  // Bytes of one cached K or V element: 2 for f16, else 4.
  int64_t KvCacheElementBytes() const { return ResolvedKvCacheDtype() == "f16" ? 2 : 4; }
};

}  // namespace hearth::engine
