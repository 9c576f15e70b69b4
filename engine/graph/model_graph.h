// A model's forward pass over a range of its layers, written once per architecture over the
// device operations of one stage (device_ops.h).
//
//   stage 0                 stage 1                        stage k (last)
//   tokens ─▶ embed ─▶ layers [0, a) ─▶ hidden ─▶ layers [a, b) ─▶ ... ─▶ final norm ─▶ logits
//
// A stage that holds layer 0 starts from the batch's tokens; any other starts from the hidden
// states [n_tokens, dim] the previous stage handed over (host memory). The stage that holds the
// last layer ends with the logits of the rows asked for; any other hands its hidden states on.
// The hidden states are the residual stream after the stage's last layer, complete (every
// residual added), so a split at any layer gives the same bits as no split.
//
// Ownership: borrows the LoadedModel and the DeviceOps, which must outlive the graph.
// Thread-safety: not thread-safe; one engine thread calls Forward.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/backend.h"
#include "engine/graph/device_ops.h"
#include "engine/model/model.h"

namespace hearth::engine {

// Layers [begin, end) of a model.
struct LayerRange {
  int32_t begin = 0;
  int32_t end = 0;
  int32_t size() const { return end - begin; }
  bool operator==(const LayerRange&) const = default;
};

// A stage's inputs and outputs for one step.
struct StageIo {
  // Stages after the first: [n_tokens, dim] hidden states from the previous stage.
  const float* hidden_in = nullptr;
  // Stages before the last: where to put [n_tokens, dim] hidden states for the next stage.
  float* hidden_out = nullptr;
  // The last stage: the token rows (indices into the batch) whose logits are wanted, and where
  // they go ([rows, vocab_size], resized).
  absl::Span<const int32_t> logit_rows;
  std::vector<float>* logits = nullptr;
};

class ModelGraph {
 public:
  virtual ~ModelGraph() = default;

  // Runs the stage's layers over `batch` (BeginStep ... EndStep on its ops).
  // REQUIRES: the batch passed CheckBatch (split_backend.h); io matches the stage's position.
  virtual absl::Status Forward(const Batch& batch, const StageIo& io) = 0;

  virtual LayerRange layers() const = 0;
  bool is_first() const { return layers().begin == 0; }
  virtual bool is_last() const = 0;
};

// The graph of `model`'s architecture for `layers`, with those layers' weights (and the
// embedding on the first stage, the final norm and LM head on the last) added to `ops` and
// loaded (FinishLoading). InvalidArgument for an empty or out-of-range layer range, or a weight
// the device cannot take (naming the tensor); ResourceExhausted when the weights do not fit.
absl::StatusOr<std::unique_ptr<ModelGraph>> CreateModelGraph(const LoadedModel& model,
                                                             LayerRange layers, DeviceOps* ops);

}  // namespace hearth::engine
