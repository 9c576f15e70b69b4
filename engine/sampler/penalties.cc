#include "engine/sampler/penalties.h"

#include <limits>

namespace hearth::sampler {
namespace {

inline bool InVocab(int32_t t, absl::Span<float> logits) {
  return t >= 0 && static_cast<size_t>(t) < logits.size();
}

}  // namespace

void ApplyPenalties(const SamplerState& state, absl::Span<float> logits) {
  const SamplingParams& p = state.params();
  if (p.repetition_penalty != 1.0f) {
    const float r = p.repetition_penalty;
    for (int32_t t : state.seen_tokens()) {
      if (!InVocab(t, logits)) continue;
      float& l = logits[t];
      l = l > 0.0f ? l / r : l * r;
    }
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    for (const auto& [t, count] : state.output_counts()) {
      if (!InVocab(t, logits) || count <= 0) continue;
      logits[t] -= p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
    }
  }
}

void SuppressStopTokens(const SamplerState& state, absl::Span<float> logits) {
  if (!state.SuppressingStops()) return;
  for (int32_t t : state.stop_ids()) {
    if (InVocab(t, logits)) logits[t] = -std::numeric_limits<float>::infinity();
  }
}

}  // namespace hearth::sampler
