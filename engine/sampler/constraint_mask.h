// The structured-output logit processor: runs after the penalties and min_tokens suppression,
// before temperature and the filters, so a constrained request samples from the model's
// distribution restricted to the tokens its constraint allows (allowed tokens keep their exact
// logits: greedy output equals the unconstrained one wherever that one is allowed).
#pragma once

#include "absl/types/span.h"
#include "engine/sampler/sampler_state.h"

namespace hearth::sampler {

// In place on `logits` ([vocab]) when state.matcher() is set, else a no-op:
//   logits[t] = -inf for every t the matcher's mask does not allow (ids past the mask too);
//   stop ids (EOS, stop_token_ids) keep their logits iff the matcher accepts the output so far.
// When that leaves no token at all (a dead end: no token continues the match), the first stop
// id gets logit 0, so the output ends and CheckConstraint reports kConstraintUnmet.
void ApplyConstraintMask(const SamplerState& state, absl::Span<float> logits);

}  // namespace hearth::sampler
