// The model runner: one scheduler step in, one plain step output out.
//
//   SchedulerStep ──▶ swaps / copies ──▶ Batch ──▶ Backend::Forward ──▶ logits ──▶ Sampler
//                                                                                   │
//   StepOutput { (sequence, sampled token) per sampling sequence, in step order } ◀─┘
//
// The engine loop reads schedule / run / update around it; nothing here knows about requests,
// streams or stop conditions, and nothing above it touches tensors.
//
// Ownership: owns the backend. Thread-safety: not thread-safe (the engine thread).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/sampler/sampler.h"
#include "engine/sampler/sampler_state.h"
#include "scheduler/scheduler_step.h"

namespace hearth::engine {

struct SampledSequence {
  scheduler::SeqId id = 0;
  sampler::SampledToken token;
};

struct StepOutput {
  std::vector<SampledSequence> sampled;  // one per sequence with `sample`, in step order
  int32_t num_batched_tokens = 0;
};

class ModelRunner {
 public:
  explicit ModelRunner(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {}

  // Executes `step`: its swaps (out, then in) and copies, one forward pass over all of its
  // tokens, then one token per sampling sequence, drawn with (and recorded in) the state
  // `state_of(id)` returns. Errors: the backend's, or the sampler's (e.g. NaN logits); the
  // step's sequences should then be failed.
  absl::StatusOr<StepOutput> Execute(
      const scheduler::SchedulerStep& step,
      const std::function<sampler::SamplerState&(scheduler::SeqId)>& state_of);

  Backend& backend() { return *backend_; }
  const Backend& backend() const { return *backend_; }

  // The flat batch of a step (backend.h's layout).
  static Batch BuildBatch(const scheduler::SchedulerStep& step);

 private:
  std::unique_ptr<Backend> backend_;
  sampler::Sampler sampler_;
  std::vector<float> logits_;
};

}  // namespace hearth::engine
