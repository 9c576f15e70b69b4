// Which way a preempted sequence gives its device blocks back.
//
// Cost model. Recompute redoes a prefill over the victim's computed tokens: compute-bound,
// batched with other work, and cheap for short contexts (prefix caching often serves part of
// it again). Swap copies every block out and later back in (2 x blocks x bytes_per_block over
// the host link) and needs host space. The rule:
//
//   kRecompute mode, or no host space for all its blocks, or it was already planned into this
//   step (its new slots and copy-on-write are not written yet)   -> recompute
//   kSwap mode                                                    -> swap
//   kAuto: num_computed_tokens >= swap_min_tokens                 -> swap, else recompute
#pragma once

#include <cstdint>

#include "scheduler/scheduler_config.h"

namespace hearth::scheduler {

enum class PreemptionKind { kRecompute, kSwap };

struct VictimInfo {
  int32_t num_computed_tokens = 0;
  int32_t num_blocks = 0;        // device blocks it holds
  int32_t free_host_blocks = 0;  // host blocks free now
  bool planned_this_step = false;
};

PreemptionKind ChoosePreemption(const SchedulerConfig& config, const VictimInfo& victim);

}  // namespace hearth::scheduler
