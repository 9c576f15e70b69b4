#include "engine/testing/forward_all.h"

namespace hearth::engine {

absl::Status ForwardAllTokens(Backend& backend, Batch batch, std::vector<float>* logits) {
  for (BatchSequence& s : batch.sequences) s.all_logits = true;
  return backend.Forward(batch, logits);
}

}  // namespace hearth::engine
