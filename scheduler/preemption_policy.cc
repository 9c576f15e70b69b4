#include "scheduler/preemption_policy.h"

namespace hearth::scheduler {

PreemptionKind ChoosePreemption(const SchedulerConfig& config, const VictimInfo& victim) {
  if (config.preemption_mode == PreemptionMode::kRecompute || victim.planned_this_step ||
      victim.num_blocks > victim.free_host_blocks) {
    return PreemptionKind::kRecompute;
  }
  if (config.preemption_mode == PreemptionMode::kSwap) return PreemptionKind::kSwap;
  return victim.num_computed_tokens >= config.swap_min_tokens ? PreemptionKind::kSwap
                                                              : PreemptionKind::kRecompute;
}

}  // namespace hearth::scheduler
