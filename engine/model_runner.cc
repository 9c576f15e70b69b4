#include "engine/model_runner.h"

#include "common/status_macros.h"

namespace hearth::engine {

Batch ModelRunner::BuildBatch(const scheduler::SchedulerStep& step) {
  Batch batch;
  batch.sequences.reserve(step.sequences.size());
  batch.tokens.reserve(step.num_batched_tokens);
  batch.positions.reserve(step.num_batched_tokens);
  for (const scheduler::ScheduledSequence& ss : step.sequences) {
    BatchSequence bs;
    bs.token_begin = batch.num_tokens();
    bs.num_tokens = ss.num_tokens();
    bs.context_len = ss.context_len;
    bs.block_table = ss.block_table;
    bs.sample = ss.sample;
    for (int32_t j = 0; j < ss.num_tokens(); ++j) {
      batch.tokens.push_back(ss.token_ids[j]);
      batch.positions.push_back(ss.start_position + j);
    }
    batch.sequences.push_back(std::move(bs));
  }
  return batch;
}

absl::StatusOr<StepOutput> ModelRunner::Execute(
    const scheduler::SchedulerStep& step,
    const std::function<sampler::SamplerState&(scheduler::SeqId)>& state_of) {
  // Swap-outs first: they free device blocks that swap-ins and copies may reuse.
  RETURN_IF_ERROR(backend_->SwapOut(step.swap_out));
  RETURN_IF_ERROR(backend_->SwapIn(step.swap_in));
  RETURN_IF_ERROR(backend_->CopyBlocks(step.copies));
  const Batch batch = BuildBatch(step);
  RETURN_IF_ERROR(backend_->Forward(batch, &logits_));

  StepOutput out;
  out.num_batched_tokens = batch.num_tokens();
  const int32_t vocab = backend_->vocab_size();
  for (const scheduler::ScheduledSequence& ss : step.sequences) {
    if (!ss.sample) continue;
    const float* row = logits_.data() + out.sampled.size() * vocab;
    ASSIGN_OR_RETURN(sampler::SampledToken token, sampler_.Sample(row, vocab, state_of(ss.id)));
    out.sampled.push_back(SampledSequence{ss.id, std::move(token)});
  }
  return out;
}

}  // namespace hearth::engine
