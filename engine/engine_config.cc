#include "engine/engine_config.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hearth::engine {

absl::Status EngineConfig::Validate() const {
  auto bad = [](const char* field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("engine config: ", field, " ", why));
  };
  RETURN_IF_ERROR(device.Validate());
  if (kv_cache.bytes < 0) return bad("kv_cache_bytes", "must be >= 0");
  if (kv_cache.bytes == 0 && !(kv_cache.memory_fraction > 0 && kv_cache.memory_fraction <= 0.95)) {
    return bad("kv_cache_memory_fraction", "must be in (0, 0.95]");
  }
  if (kv_cache.swap_space_bytes < 0) return bad("swap_space", "must be >= 0");
  const scheduler::SchedulerConfig& s = scheduler;
  if (s.block_size < 1 || s.block_size > 1024 || (s.block_size & (s.block_size - 1)) != 0) {
    return bad("block_size", "must be a power of two in [1, 1024]");
  }
  if (s.max_num_seqs < 1) return bad("max_num_seqs", "must be >= 1");
  if (s.max_num_batched_tokens < 1) return bad("max_num_batched_tokens", "must be >= 1");
  if (s.max_waiting_requests < 1) return bad("max_waiting_requests", "must be >= 1");
  if (s.max_model_len < 0) return bad("max_model_len", "must be >= 0 (0: the model's)");
  return absl::OkStatus();
}

}  // namespace hearth::engine
