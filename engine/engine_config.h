// Settings of one Engine: where it runs (devices, threads, precision), how its KV cache is
// sized, and the scheduler's budgets. The spine of the configuration:
//
//   server config (YAML, env, flags; strings parsed into types there, once)
//     └─ EngineConfig { DeviceConfig device; KvCacheConfig kv_cache; SchedulerConfig scheduler }
//
// The engine fills scheduler.num_device_blocks / num_host_blocks and resolves
// scheduler.max_model_len (0: the model's context, capped to the cache) with PlanKvCache
// (engine/runtime/kv_sizing.h).
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "engine/kv_dtype.h"
#include "engine/runtime/device_config.h"
#include "scheduler/scheduler_config.h"

namespace hearth::engine {

struct KvCacheConfig {
  // > 0: K/V bytes over all layers. 0: memory_fraction of each device's free memory (on the
  // CPU: available RAM, bounded by the container's cgroup limit: common/host_resources.h), at
  // most what max_num_seqs sequences of max_model_len tokens can use.
  int64_t bytes = 0;
  double memory_fraction = 0.2;
  int64_t swap_space_bytes = 256ll << 20;  // host swap for preempted sequences (0: recompute)
  // Element type; unset ("auto"): f32 under f32 CPU precision (the exact mode), else f16.
  std::optional<KvDtype> dtype;

  KvDtype ResolvedDtype(cpu::ActPrecision precision) const {
    return dtype.value_or(precision == cpu::ActPrecision::kF32 ? KvDtype::kF32 : KvDtype::kF16);
  }
};

// The engine's scheduler defaults (the server's): 64 sequences, 1024 tokens per step,
// max_model_len from the model.
inline scheduler::SchedulerConfig DefaultEngineSchedulerConfig() {
  scheduler::SchedulerConfig c;
  c.max_num_seqs = 64;
  c.max_num_batched_tokens = 1024;
  c.max_model_len = 0;
  return c;
}

struct EngineConfig {
  DeviceConfig device;
  KvCacheConfig kv_cache;
  scheduler::SchedulerConfig scheduler = DefaultEngineSchedulerConfig();

  // InvalidArgument naming the first bad field.
  absl::Status Validate() const;
};

}  // namespace hearth::engine
