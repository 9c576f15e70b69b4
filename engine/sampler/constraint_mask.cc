#include "engine/sampler/constraint_mask.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/container/inlined_vector.h"

namespace hearth::sampler {

void ApplyConstraintMask(const SamplerState& state, absl::Span<float> logits) {
  const constraint::Matcher* matcher = state.matcher();
  if (matcher == nullptr) return;
  constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
  const size_t vocab = logits.size();
  const bool accepting = matcher->Accepting();
  absl::InlinedVector<float, 8> saved;
  if (accepting) {
    for (int32_t id : state.stop_ids()) {
      if (static_cast<size_t>(id) < vocab) saved.push_back(logits[id]);
    }
  }
  const constraint::TokenMask& mask = matcher->Mask();
  const size_t words = std::min(mask.words.size(), (vocab + 31) / 32);
  float* x = logits.data();
  for (size_t w = 0; w < words; ++w) {
    const uint32_t bits = mask.words[w];
    if (bits == 0xFFFFFFFFu) continue;
    const size_t end = std::min(vocab, w * 32 + 32);
    if (bits == 0) {
      std::fill(x + w * 32, x + end, kMinusInf);
      continue;
    }
    for (size_t i = w * 32; i < end; ++i) {
      if (!((bits >> (i & 31)) & 1)) x[i] = kMinusInf;
    }
  }
  std::fill(x + std::min(vocab, words * 32), x + vocab, kMinusInf);
  bool any_stop = false;
  if (accepting) {
    size_t k = 0;
    for (int32_t id : state.stop_ids()) {
      if (static_cast<size_t>(id) >= vocab) continue;
      x[id] = saved[k++];
      any_stop = any_stop || x[id] > kMinusInf;
    }
  }
  if (mask.num_allowed == 0 && !any_stop && !state.stop_ids().empty() &&
      static_cast<size_t>(state.stop_ids()[0]) < vocab) {
    x[state.stop_ids()[0]] = 0.0f;
  }
}

}  // namespace hearth::sampler
