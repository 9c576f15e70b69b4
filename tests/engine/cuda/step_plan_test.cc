// BuildStepPlan (host code of CudaOps): every (token, query head) row in exactly one tile, tiles
// within kAttentionMaxRows and one K/V head, slots from the block tables, split only for small
// steps with long contexts, and bad block ids as errors naming the sequence.
#include "engine/cuda/step_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

namespace hearth::engine::cuda {
namespace {

BatchSequence Seq(int32_t begin, int32_t n, int32_t ctx, int32_t first_block, int32_t bs) {
  BatchSequence s;
  s.token_begin = begin;
  s.num_tokens = n;
  s.context_len = ctx;
  for (int32_t b = 0; b < (ctx + bs - 1) / bs; ++b) s.block_table.push_back(first_block + b);
  return s;
}

Batch MakeBatch(const std::vector<BatchSequence>& seqs) {
  Batch batch;
  batch.sequences = seqs;
  for (const BatchSequence& s : seqs) {
    for (int32_t j = 0; j < s.num_tokens; ++j) {
      batch.tokens.push_back(7);
      batch.positions.push_back(s.context_len - s.num_tokens + j);
    }
  }
  return batch;
}

StepPlanConfig Config(int32_t heads, int32_t kv_heads, int32_t split_below) {
  StepPlanConfig c;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = 64;
  c.block_size = 16;
  c.num_blocks = 1000;
  c.split_below_tiles = split_below;
  return c;
}

TEST(StepPlan, EveryRowInExactlyOneTileAndSlotsFollowTables) {
  for (auto [heads, kv_heads] : {std::pair{8, 2}, {40, 1}, {6, 2}, {4, 4}}) {
    SCOPED_TRACE(heads);
    const Batch batch =
        MakeBatch({Seq(0, 37, 37, 0, 16), Seq(37, 1, 900, 100, 16), Seq(38, 20, 300, 200, 16)});
    auto plan = BuildStepPlan(batch, Config(heads, kv_heads, 0));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_TRUE(plan->merges.empty());
    const int32_t group = heads / kv_heads;
    std::map<std::tuple<int, int, int>, int> rows;  // (sequence, token, head) -> count
    for (const AttentionWork& w : plan->work) {
      EXPECT_EQ(w.segment, -1);
      EXPECT_LE(w.num_tokens * w.num_heads, kAttentionMaxRows);
      EXPECT_LE(w.num_tokens * w.num_heads, plan->max_rows);
      EXPECT_LE(w.head_offset + w.num_heads, group);
      for (int32_t j = 0; j < w.num_tokens; ++j) {
        for (int32_t h = 0; h < w.num_heads; ++h) {
          ++rows[{w.seq, w.token_offset + j, w.kv_head * group + w.head_offset + h}];
        }
      }
    }
    int64_t expected = 0;
    for (const BatchSequence& s : batch.sequences) expected += int64_t{s.num_tokens} * heads;
    EXPECT_EQ(static_cast<int64_t>(rows.size()), expected);
    for (const auto& [row, count] : rows) EXPECT_EQ(count, 1);
  }
  const Batch batch = MakeBatch({Seq(0, 2, 40, 5, 16)});
  auto plan = BuildStepPlan(batch, Config(8, 2, 0));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->slots, (std::vector<int32_t>{7 * 16 + 6, 7 * 16 + 7}));  // positions 38, 39
  EXPECT_EQ(plan->block_tables, (std::vector<int32_t>{5, 6, 7}));
}

TEST(StepPlan, SplitsLongTilesOfSmallStepsOnly) {
  const Batch batch = MakeBatch({Seq(0, 1, 1000, 0, 16), Seq(1, 1, 100, 100, 16)});
  auto split = BuildStepPlan(batch, Config(8, 2, 1 << 20));
  ASSERT_TRUE(split.ok());
  // The 1000-token decode: 4 segments of 256 per K/V head; the 100-token one stays whole.
  EXPECT_EQ(split->merges.size(), 2u);
  EXPECT_EQ(split->work.size(), 2u * 4 + 2u);
  for (const AttentionWork& m : split->merges) EXPECT_EQ(m.segments, 4);
  EXPECT_EQ(split->partial_floats, 2 * 4 * 4 * (64 + 2));  // 2 tiles x 4 rows x 4 segments
  auto whole = BuildStepPlan(batch, Config(8, 2, 4));      // 4 tiles: not below 4
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(whole->merges.empty());
  EXPECT_EQ(whole->work.size(), 4u);
}

TEST(StepPlan, BadBlockIdsAreErrorsNamingTheSequence) {
  Batch batch = MakeBatch({Seq(0, 1, 20, 0, 16), Seq(1, 1, 20, 999, 16)});
  auto plan = BuildStepPlan(batch, Config(8, 2, 0));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("batch sequence 1: block id 1000"), std::string::npos)
      << plan.status();
  batch.sequences[1].block_table = {3};  // too short for 20 tokens
  plan = BuildStepPlan(batch, Config(8, 2, 0));
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("needs 2"), std::string::npos) << plan.status();
}

}  // namespace
}  // namespace hearth::engine::cuda
