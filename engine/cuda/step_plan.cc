#include "engine/cuda/step_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hearth::engine::cuda {

absl::StatusOr<StepPlan> BuildStepPlan(const Batch& batch, const StepPlanConfig& c) {
  StepPlan plan;
  const int32_t n = batch.num_tokens();
  plan.tokens = batch.tokens;
  plan.positions = batch.positions;
  plan.slots.resize(n);
  const int32_t group = c.num_heads / c.num_kv_heads;
  const int32_t heads_per_tile = std::min(group, kAttentionMaxRows);
  const int32_t tokens_per_tile = std::max(1, kAttentionMaxRows / heads_per_tile);

  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& s = batch.sequences[i];
    const int64_t blocks = (int64_t{s.context_len} + c.block_size - 1) / c.block_size;
    if (static_cast<int64_t>(s.block_table.size()) < blocks) {
      return absl::InvalidArgumentError(absl::StrCat("batch sequence ", i, ": block table has ",
                                                     s.block_table.size(), " blocks, context ",
                                                     s.context_len, " needs ", blocks));
    }
    AttentionSeq seq{s.token_begin, s.num_tokens, s.context_len,
                     static_cast<int32_t>(plan.block_tables.size())};
    for (int64_t b = 0; b < blocks; ++b) {
      const int32_t id = s.block_table[b];
      if (id < 0 || id >= c.num_blocks) {
        return absl::InvalidArgumentError(absl::StrCat("batch sequence ", i, ": block id ", id,
                                                       " out of range [0, ", c.num_blocks, ")"));
      }
      plan.block_tables.push_back(id);
    }
    for (int32_t j = 0; j < s.num_tokens; ++j) {
      const int32_t t = s.token_begin + j;
      const int32_t pos = batch.positions[t];
      plan.slots[t] = s.block_table[pos / c.block_size] * c.block_size + pos % c.block_size;
    }
    plan.seqs.push_back(seq);
  }

  // Tiles first (the unsplit plan), then split the long ones if the step is small.
  std::vector<AttentionWork> tiles;
  for (int32_t i = 0; i < static_cast<int32_t>(plan.seqs.size()); ++i) {
    const AttentionSeq& s = plan.seqs[i];
    for (int32_t h = 0; h < c.num_kv_heads; ++h) {
      for (int32_t h0 = 0; h0 < group; h0 += heads_per_tile) {
        for (int32_t j = 0; j < s.num_tokens; j += tokens_per_tile) {
          AttentionWork w;
          w.seq = i;
          w.kv_head = h;
          w.token_offset = j;
          w.num_tokens = std::min(tokens_per_tile, s.num_tokens - j);
          w.head_offset = h0;
          w.num_heads = std::min(heads_per_tile, group - h0);
          plan.max_rows = std::max(plan.max_rows, w.num_tokens * w.num_heads);
          tiles.push_back(w);
        }
      }
    }
  }
  const bool split = static_cast<int64_t>(tiles.size()) < c.split_below_tiles;
  int64_t states = 0;
  for (const AttentionWork& tile : tiles) {
    const AttentionSeq& s = plan.seqs[tile.seq];
    const int32_t max_key = s.context_len - s.num_tokens + tile.token_offset + tile.num_tokens;
    const int32_t segments = (max_key + kAttentionSegmentKeys - 1) / kAttentionSegmentKeys;
    if (!split || segments <= 1) {
      plan.work.push_back(tile);
      continue;
    }
    AttentionWork job = tile;
    job.segments = segments;
    job.partial = states;
    plan.merges.push_back(job);
    for (int32_t g = 0; g < segments; ++g) {
      AttentionWork w = job;
      w.segment = g;
      plan.work.push_back(w);
    }
    states += int64_t{tile.num_tokens} * tile.num_heads * segments;
  }
  plan.partial_floats = states * (c.head_dim + 2);
  return plan;
}

}  // namespace hearth::engine::cuda
