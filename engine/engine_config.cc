#include "engine/engine_config.h"

#include "absl/strings/str_cat.h"

namespace hearth::engine {

absl::Status EngineConfig::Validate() const {
  auto bad = [](const char* field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("engine config: ", field, " ", why));
  };
  if (num_threads < 1) return bad("num_threads", "must be >= 1");
  if (kv_cache_bytes < 0) return bad("kv_cache_bytes", "must be >= 0");
  if (kv_cache_bytes == 0 && !(kv_cache_memory_fraction > 0 && kv_cache_memory_fraction <= 0.95)) {
    return bad("kv_cache_memory_fraction", "must be in (0, 0.95]");
  }
  if (block_size < 1 || block_size > 1024 || (block_size & (block_size - 1)) != 0) {
    return bad("block_size", "must be a power of two in [1, 1024]");
  }
  if (swap_space_bytes < 0) return bad("swap_space_bytes", "must be >= 0");
  if (kv_cache_dtype != "auto" && kv_cache_dtype != "f16" && kv_cache_dtype != "f32") {
    return bad("kv_cache_dtype",
               absl::StrCat("must be auto, f16 or f32, got '", kv_cache_dtype, "'"));
  }
  if (max_num_seqs < 1) return bad("max_num_seqs", "must be >= 1");
  if (max_num_batched_tokens < 1) return bad("max_num_batched_tokens", "must be >= 1");
  if (max_waiting_requests < 1) return bad("max_waiting_requests", "must be >= 1");
  if (max_model_len < 0) return bad("max_model_len", "must be >= 0 (0: the model's)");
  return absl::OkStatus();
}

std::string EngineConfig::ResolvedKvCacheDtype() const {
  if (kv_cache_dtype != "auto") return kv_cache_dtype;
  return cpu_precision == "f32" ? "f32" : "f16";
}

}  // namespace hearth::engine
