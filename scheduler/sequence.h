// Sequence: one request's token stream and its scheduling state.
//
//   token_ids:  [ p0 p1 ... p(P-1) | o0 o1 ... o(k-1) ]     P = num_prompt_tokens, k outputs
//                 <---- num_computed_tokens ---->            KV written (or cached) for these
//
// A running decode has num_computed_tokens == token_ids.size() - 1: the newest sampled token
// is fed back in the next step. A sequence preempted by recompute drops to
// num_computed_tokens == 0 and later re-prefills prompt + outputs (prefix cache permitting).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "common/finish_reason.h"
#include "kvcache/kv_cache_manager.h"

namespace hearth::scheduler {

using SeqId = kvcache::SeqId;

enum class SequenceStatus { kWaiting, kRunning, kSwapped, kFinished };
// The one FinishReason (common/finish_reason.h).
using ::hearth::FinishReason;
using ::hearth::FinishReasonName;

std::string_view SequenceStatusName(SequenceStatus s);

struct Sequence {
  // ---- Set by the caller before Scheduler::Add(). ----
  SeqId id = 0;
  int32_t priority = 0;                 // lower runs first; FCFS (arrival order) within a priority
  std::vector<int32_t> token_ids;       // the prompt; Add() takes all of it as the prompt
  int32_t max_tokens = 16;              // tokens to generate at most (> 0)
  std::vector<int32_t> stop_token_ids;  // sampling one of these finishes with kStop

  // ---- Owned by the scheduler. ----
  int32_t num_prompt_tokens = 0;
  int32_t num_computed_tokens = 0;
  SequenceStatus status = SequenceStatus::kWaiting;
  FinishReason finish_reason = FinishReason::kNone;
  int64_t arrival_order = 0;    // Add() order
  int64_t admission_order = 0;  // order of the latest move to running (admit or swap-in)
  int32_t num_preemptions = 0;

  static Sequence FromPrompt(SeqId id, std::vector<int32_t> prompt, int32_t max_tokens,
                             int32_t priority = 0) {
    Sequence s;
    s.id = id;
    s.token_ids = std::move(prompt);
    s.max_tokens = max_tokens;
    s.priority = priority;
    return s;
  }

  int32_t num_tokens() const { return static_cast<int32_t>(token_ids.size()); }
  int32_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  absl::Span<const int32_t> prompt_token_ids() const {
    return absl::MakeConstSpan(token_ids).first(num_prompt_tokens);
  }
  absl::Span<const int32_t> output_token_ids() const {
    return absl::MakeConstSpan(token_ids).subspan(num_prompt_tokens);
  }
};

}  // namespace hearth::scheduler
