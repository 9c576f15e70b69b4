#include "scheduler/scheduler_config.h"

#include "absl/strings/str_cat.h"

namespace hearth::scheduler {
namespace {

absl::Status Check(bool ok, const char* field, int64_t value, const char* rule) {
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("scheduler config: ", field, " = ", value, " must be ", rule));
}

}  // namespace

absl::Status SchedulerConfig::Validate() const {
  struct Rule {
    bool ok;
    const char* field;
    int64_t value;
    const char* rule;
  };
  const Rule rules[] = {
      {max_num_seqs > 0, "max_num_seqs", max_num_seqs, "> 0"},
      {max_num_batched_tokens > 0, "max_num_batched_tokens", max_num_batched_tokens, "> 0"},
      {block_size > 0, "block_size", block_size, "> 0"},
      {num_device_blocks > 0, "num_device_blocks", num_device_blocks, "> 0"},
      {num_host_blocks >= 0, "num_host_blocks", num_host_blocks, ">= 0"},
      {max_model_len > 1, "max_model_len", max_model_len, "> 1"},
      {max_waiting_requests > 0, "max_waiting_requests", max_waiting_requests, "> 0"},
      {long_prefill_token_threshold >= 0, "long_prefill_token_threshold",
       long_prefill_token_threshold, ">= 0"},
      {swap_min_tokens >= 0, "swap_min_tokens", swap_min_tokens, ">= 0"},
  };
  for (const Rule& r : rules) {
    if (absl::Status s = Check(r.ok, r.field, r.value, r.rule); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace hearth::scheduler
