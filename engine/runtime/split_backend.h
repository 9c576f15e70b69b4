// The one Backend the engine runs: a model's layers split into stages by range, each stage a
// model graph over one device's operations with its own weights and its own K/V pool.
//
//   Forward(batch):  tokens ─▶ stage 0 ─▶ hidden ─▶ stage 1 ─▶ ... ─▶ stage k ─▶ logits
//                             layers [0, a)         layers [a, b)      layers [c, L)
//
// One device is a split of one stage. Block ids are the same on every stage: one block table
// addresses every stage's pool, each stage storing the K/V of its own layers, so the scheduler
// and the KV cache manager never learn how many devices there are. Copies and swaps go to every
// stage (each moves its own layers' blocks). Hidden states [n_tokens, dim] pass between stages
// through host memory.
//
// Thread-safety: not thread-safe; one engine thread drives it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/graph/device_ops.h"
#include "engine/graph/model_graph.h"
#include "engine/model/model_config.h"

namespace hearth::engine {

// One stage: a device's operations and the graph of its layers over them.
struct Stage {
  std::unique_ptr<DeviceOps> ops;
  std::unique_ptr<ModelGraph> graph;  // borrows *ops
  int64_t budget_bytes = 0;           // configured budget for weights + K/V (0: none)
  bool host_memory = true;            // the device computes in host RAM
};

class SplitBackend final : public Backend {
 public:
  // InvalidArgument unless the stages' layer ranges cover [0, config.num_layers) in order,
  // each layer exactly once.
  static absl::StatusOr<std::unique_ptr<SplitBackend>> Create(const ModelConfig& config,
                                                              std::vector<Stage> stages);

  int32_t vocab_size() const override { return config_.vocab_size; }
  int64_t KvBytesPerBlock(int32_t block_size) const override;
  std::vector<StageMemoryInfo> StageMemory(int32_t block_size) const override;
  std::string Describe() const override;
  absl::Status InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                           int32_t block_size) override;
  absl::Status Forward(const Batch& batch, std::vector<float>* logits) override;
  absl::Status CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) override;
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) override;
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) override;

  int num_stages() const { return static_cast<int>(stages_.size()); }
  const Stage& stage(int i) const { return stages_[i]; }
  const ModelConfig& config() const { return config_; }
  // Seconds spent handing hidden states between stages so far (for benchmarks).
  double handoff_seconds() const { return handoff_seconds_; }

 private:
  SplitBackend(const ModelConfig& config, std::vector<Stage> stages)
      : config_(config), stages_(std::move(stages)) {}

  // InvalidArgument / FailedPrecondition when the batch breaks backend.h's contract.
  absl::Status CheckBatch(const Batch& batch) const;

  ModelConfig config_;
  std::vector<Stage> stages_;
  int32_t num_blocks_ = 0;
  int32_t block_size_ = 0;
  std::vector<float> hidden_[2];  // hand-off buffers, [n_tokens, dim] each, used in turn
  std::vector<int32_t> logit_rows_;
  double handoff_seconds_ = 0;
};

}  // namespace hearth::engine
