// Logit processors that run before temperature and the filters, in vLLM's order:
// repetition penalty -> presence / frequency penalties -> min_tokens suppression.
#pragma once

#include "absl/types/span.h"
#include "engine/sampler/sampler_state.h"

namespace hearth::sampler {

// In place on `logits` ([vocab]): for each token t seen in prompt + output (HF / vLLM)
//   logits[t] = logits[t] > 0 ? logits[t] / repetition_penalty : logits[t] * repetition_penalty
// then for each output token t with count c > 0 (OpenAI)
//   logits[t] -= frequency_penalty * c + presence_penalty.
// Token ids outside [0, vocab) are ignored.
void ApplyPenalties(const SamplerState& state, absl::Span<float> logits);

// While state.SuppressingStops(): logits[t] = -inf for every t in state.stop_ids() inside the
// vocabulary. Otherwise a no-op.
void SuppressStopTokens(const SamplerState& state, absl::Span<float> logits);

}  // namespace hearth::sampler
