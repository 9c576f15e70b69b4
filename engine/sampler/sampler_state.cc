#include "engine/sampler/sampler_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/sampler/philox.h"

namespace hearth::sampler {

absl::StatusOr<SamplerState> SamplerState::Create(const SamplingParams& params,
                                                  absl::Span<const int32_t> prompt_tokens,
                                                  absl::Span<const int32_t> eos_token_ids,
                                                  int32_t sample_index) {
  RETURN_IF_ERROR(params.Validate());
  if (sample_index < 0 || sample_index >= params.n) {
    return absl::InvalidArgumentError(absl::StrCat("sampler state: sample_index ", sample_index,
                                                   " not in [0, n=", params.n, ")"));
  }
  SamplerState state;
  state.params_ = params;
  state.seed_ = params.seed.has_value() ? *params.seed : DrawGlobalSeed();
  state.sample_index_ = sample_index;
  state.track_seen_ = params.repetition_penalty != 1.0f;
  state.track_counts_ = params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f;

  state.stop_ids_ = params.stop_token_ids;
  if (!params.ignore_eos) {
    state.stop_ids_.insert(state.stop_ids_.end(), eos_token_ids.begin(), eos_token_ids.end());
  }
  std::sort(state.stop_ids_.begin(), state.stop_ids_.end());
  state.stop_ids_.erase(std::unique(state.stop_ids_.begin(), state.stop_ids_.end()),
                        state.stop_ids_.end());

  if (state.track_seen_) state.seen_tokens_.insert(prompt_tokens.begin(), prompt_tokens.end());
  if (params.constraint != nullptr) state.matcher_.emplace(params.constraint);
  return state;
}

void SamplerState::AppendOutput(int32_t token) {
  ++num_output_tokens_;
  if (track_seen_) seen_tokens_.insert(token);
  if (track_counts_) ++output_counts_[token];
  if (matcher_.has_value()) {
    if (std::binary_search(stop_ids_.begin(), stop_ids_.end(), token)) {
      matcher_->Stop();
    } else {
      matcher_->Advance(token);
    }
  }
}

FinishInfo SamplerState::CheckConstraint(const FinishInfo& info) const {
  if (!matcher_.has_value() || info.cause == StopCause::kAbort) return info;
  const bool satisfied = matcher_->stopped() ? !matcher_->dead() : matcher_->Accepting();
  if (satisfied) return info;
  FinishInfo unmet;
  unmet.cause = StopCause::kConstraintUnmet;
  return unmet;
}

}  // namespace hearth::sampler
