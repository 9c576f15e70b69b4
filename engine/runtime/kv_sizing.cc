#include "engine/runtime/kv_sizing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hearth::engine {
namespace {

constexpr int64_t kMaxBlocks = std::numeric_limits<int32_t>::max();

std::string StageName(const StageMemoryInfo& s, size_t i) {
  return absl::StrCat("stage ", i, " (", s.device, ", layers ", s.first_layer, "-", s.end_layer - 1,
                      ")");
}

absl::Status Error(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
}

}  // namespace

std::string HumanBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (std::abs(b) >= 1024.0 * 1024 * 1024) return absl::StrFormat("%.2f GiB", b / (1 << 30));
  if (std::abs(b) >= 1024.0 * 1024) return absl::StrFormat("%.1f MiB", b / (1 << 20));
  if (std::abs(b) >= 1024.0) return absl::StrFormat("%.1f KiB", b / 1024);
  return absl::StrCat(bytes, " B");
}

absl::StatusOr<KvCachePlan> PlanKvCache(const std::vector<StageMemoryInfo>& stages,
                                        const KvCacheRequest& req) {
  if (stages.empty()) return absl::InvalidArgumentError("no stages to size a KV cache for");
  if (req.block_size < 1) return Error("block_size", "must be >= 1");
  if (req.kv_cache_bytes < 0) return Error("kv_cache_bytes", "must be >= 0");
  if (req.swap_space_bytes < 0) return Error("swap_space", "must be >= 0");
  if (req.kv_cache_bytes == 0 && !(req.memory_fraction > 0 && req.memory_fraction <= 0.95)) {
    return Error("kv_cache_memory_fraction",
                 absl::StrCat("must be in (0, 0.95], got ", req.memory_fraction));
  }
  int64_t total_bpb = 0;
  std::map<std::string, int64_t> device_bpb;  // K/V bytes per block of the stages on a device
  for (const StageMemoryInfo& s : stages) {
    if (s.kv_bytes_per_block <= 0) return absl::InternalError("a stage with no K/V bytes");
    total_bpb += s.kv_bytes_per_block;
    device_bpb[s.device] += s.kv_bytes_per_block;
  }

  KvCachePlan plan;
  const bool automatic = req.kv_cache_bytes == 0;
  bool any_budget = false;
  int64_t blocks = std::numeric_limits<int64_t>::max();  // min over stages
  for (size_t i = 0; i < stages.size(); ++i) {
    const StageMemoryInfo& s = stages[i];
    StageKvPlan sp{s.device, s.first_layer, s.end_layer, 0, 0, 0};
    const double share = static_cast<double>(s.kv_bytes_per_block) / device_bpb[s.device];
    if (s.budget_bytes > 0) {
      any_budget = true;
      sp.room_bytes = s.budget_bytes - s.memory.weight_bytes;
      if (sp.room_bytes <= 0) {
        return Error(
            "devices",
            absl::StrCat(StageName(s, i), ": its weights take ", HumanBytes(s.memory.weight_bytes),
                         " of its memory budget of ", HumanBytes(s.budget_bytes),
                         ", leaving nothing for "
                         "the KV cache: raise its memory= by at least ",
                         HumanBytes(-sp.room_bytes + s.kv_bytes_per_block)));
      }
    } else if (!automatic) {
      // Each stage holds every block for its layers: kv_cache_bytes splits by K/V bytes.
      sp.room_bytes = req.kv_cache_bytes / total_bpb * s.kv_bytes_per_block;
    } else {
      // Stages sharing a device share its free memory in proportion to their K/V bytes.
      sp.room_bytes = static_cast<int64_t>(req.memory_fraction *
                                           static_cast<double>(s.memory.free_bytes) * share);
    }
    sp.blocks = sp.room_bytes / s.kv_bytes_per_block;
    if (sp.blocks < blocks) {
      blocks = sp.blocks;
      plan.limiting_stage = static_cast<int>(i);
    }
    plan.stages.push_back(sp);
  }
  if (!automatic) blocks = std::min(blocks, req.kv_cache_bytes / total_bpb);

  // The context length.
  const int32_t model_len = req.model_context_length;
  if (req.max_model_len > 0 && model_len > 0 && req.max_model_len > model_len) {
    return Error("max_model_len", absl::StrCat(req.max_model_len,
                                               " exceeds the model's context "
                                               "length ",
                                               model_len));
  }
  const int64_t want_len = req.max_model_len > 0 ? req.max_model_len : model_len;
  if (automatic && !any_budget && want_len > 0) {
    // No point in more than max_num_seqs full-length sequences can fill.
    const int64_t useful =
        int64_t{std::max(1, req.max_num_seqs)} * ((want_len + req.block_size - 1) / req.block_size);
    if (useful < blocks) {
      blocks = useful;
      plan.notes.push_back(absl::StrCat("KV cache sized for max_num_seqs (", req.max_num_seqs,
                                        ") sequences of ", want_len, " tokens"));
    }
  }
  if (blocks > kMaxBlocks) {
    return Error(
        automatic ? "kv_cache_memory_fraction" : "kv_cache_bytes",
        absl::StrCat("makes ", blocks, " blocks of ", req.block_size, " tokens, more than the ",
                     kMaxBlocks, " a block id holds: use fewer bytes or a larger block_size"));
  }
  if (blocks < 1) {
    const StageMemoryInfo& s = stages[plan.limiting_stage];
    return Error(
        automatic ? "kv_cache_memory_fraction" : "kv_cache_bytes",
        absl::StrCat("leaves ", StageName(s, plan.limiting_stage), " ",
                     HumanBytes(plan.stages[plan.limiting_stage].room_bytes),
                     " for K/V, less than one block (", HumanBytes(s.kv_bytes_per_block), "): ",
                     HumanBytes(s.kv_bytes_per_block - plan.stages[plan.limiting_stage].room_bytes),
                     " missing"));
  }
  const int64_t cache_tokens = blocks * req.block_size;
  if (want_len > cache_tokens) {
    if (req.max_model_len > 0) {
      return Error(
          "max_model_len",
          absl::StrCat(req.max_model_len, " tokens do not fit the KV cache, which holds ",
                       cache_tokens, " (", HumanBytes(blocks * total_bpb),
                       "): raise "
                       "kv_cache_bytes by ",
                       HumanBytes(((req.max_model_len - cache_tokens) + req.block_size - 1) /
                                  req.block_size * total_bpb),
                       " or lower max_model_len"));
    }
    plan.max_model_len = static_cast<int32_t>(std::min<int64_t>(cache_tokens, kMaxBlocks));
    plan.notes.push_back(absl::StrCat("max_model_len capped to ", plan.max_model_len,
                                      " tokens (what the KV cache holds; the model's context is ",
                                      model_len, ")"));
  } else {
    plan.max_model_len = static_cast<int32_t>(want_len > 0 ? want_len : cache_tokens);
  }
  plan.num_device_blocks = static_cast<int32_t>(blocks);

  // Swap space and the host's memory.
  const int64_t host_blocks = req.swap_space_bytes / total_bpb;
  if (host_blocks > kMaxBlocks) {
    return Error("swap_space", absl::StrCat("makes ", host_blocks, " blocks, more than the ",
                                            kMaxBlocks, " a block id holds"));
  }
  plan.num_host_blocks = static_cast<int32_t>(host_blocks);
  plan.swap_bytes = host_blocks * total_bpb;
  int64_t host_kv = 0;
  std::map<std::string, int64_t> device_kv;
  for (size_t i = 0; i < stages.size(); ++i) {
    plan.stages[i].kv_bytes = blocks * stages[i].kv_bytes_per_block;
    plan.kv_bytes += plan.stages[i].kv_bytes;
    device_kv[stages[i].device] += plan.stages[i].kv_bytes;
    if (stages[i].host_memory) host_kv += plan.stages[i].kv_bytes;
  }
  plan.host_kv_bytes = host_kv;
  // Every device's K/V must fit what it has free (an explicit size or budget can ask for more).
  for (size_t i = 0; i < stages.size(); ++i) {
    const StageMemoryInfo& s = stages[i];
    const int64_t need = device_kv[s.device] + (s.host_memory ? plan.swap_bytes : 0);
    if (s.memory.free_bytes > 0 && need > s.memory.free_bytes) {
      const std::string key = s.budget_bytes > 0 ? "devices"
                              : automatic        ? "kv_cache_memory_fraction"
                                                 : "kv_cache_bytes";
      return Error(s.host_memory && plan.swap_bytes > 0 ? absl::StrCat(key, " + swap_space") : key,
                   absl::StrCat("the KV cache needs ", HumanBytes(device_kv[s.device]),
                                s.host_memory && plan.swap_bytes > 0
                                    ? absl::StrCat(" and swap space ", HumanBytes(plan.swap_bytes))
                                    : "",
                                " on ", s.device, ", which has ", HumanBytes(s.memory.free_bytes),
                                " free: ", HumanBytes(need - s.memory.free_bytes), " missing"));
    }
  }
  if (req.host_free_bytes > 0 && plan.swap_bytes > 0) {
    const int64_t need = host_kv + plan.swap_bytes;
    if (need > req.host_free_bytes) {
      return Error("swap_space",
                   absl::StrCat("swap space ", HumanBytes(plan.swap_bytes), " (and K/V in RAM ",
                                HumanBytes(host_kv), ") exceed the host's free memory ",
                                HumanBytes(req.host_free_bytes), ": ",
                                HumanBytes(need - req.host_free_bytes), " missing"));
    }
  }
  return plan;
}

}  // namespace hearth::engine
