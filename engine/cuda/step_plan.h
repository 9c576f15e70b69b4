// What CudaOps uploads once per step: token ids, positions, K/V slots, the sequences' block
// tables and the attention work list (tiles, split segments, merge jobs). Host-only code: unit
// tested on the CPU (tests/engine/cuda/step_plan_test.cc).
//
// Tiles follow attention_kernels.h: per sequence and K/V head, up to kAttentionMaxRows rows of
// (tokens x query heads of the group). When a step has fewer tiles than `split_below_tiles`
// (a small batch), a tile whose context spans several segments runs one block per segment and a
// merge job combines them (flash-decoding); this changes no bits, only the parallelism.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/cuda/attention_kernels.h"

namespace hearth::engine::cuda {

struct StepPlanConfig {
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t block_size = 0;
  int32_t num_blocks = 0;         // device blocks in the pool (ids are checked against it)
  int32_t split_below_tiles = 0;  // 0: never split
};

struct StepPlan {
  std::vector<int32_t> tokens;     // [n]
  std::vector<int32_t> positions;  // [n]
  std::vector<int32_t> slots;      // [n] block id * block_size + position % block_size
  std::vector<AttentionSeq> seqs;
  std::vector<int32_t> block_tables;  // each sequence's blocks covering its context, back to back
  std::vector<AttentionWork> work;
  std::vector<AttentionWork> merges;
  int64_t partial_floats = 0;  // split mode's state buffer
  int32_t max_rows = 0;        // rows of the largest tile
};

// REQUIRES: the batch is well formed (positions follow context_len; split_backend's CheckBatch).
// InvalidArgument naming the sequence when a block id needed by the step is outside
// [0, num_blocks) or a table is too short.
absl::StatusOr<StepPlan> BuildStepPlan(const Batch& batch, const StepPlanConfig& config);

}  // namespace hearth::engine::cuda
