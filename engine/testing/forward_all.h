// Logits for every token of a batch (tests, perplexity, reference comparisons), through the
// backend's normal forward pass.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "engine/backend.h"

namespace hearth::engine {

// logits = [batch.num_tokens(), vocab_size] floats, one row per token in batch order.
absl::Status ForwardAllTokens(Backend& backend, Batch batch, std::vector<float>* logits);

}  // namespace hearth::engine
