// The CPU backend: the forward pass of a llama / qwen2 model over a flat mixed batch, with
// paged float32 or fp16 K/V (see kv_storage.h).
//
// Per layer, for all n tokens of the batch at once:
//
//   x [n, dim] ── RMSNorm ── Q/K/V matmuls (+bias) ── RoPE ── K/V -> slots
//     │                          attention per (sequence, head) over the block table
//     └──────────── + ── output matmul ◀─┘
//   x ── RMSNorm ── gate/up matmuls ── SiLU(gate) * up ── down matmul ── + x
//
// then, only for the last token of sequences with sample = true: final RMSNorm and LM head.
//
// Batch invariance: a sequence's logits are bitwise identical whatever else shares the batch
// and however its prompt is split into chunks: every row is computed in a fixed order
// (MatMul's contract, ops.h), attention reads only the sequence's own K/V block by block in
// position order with block boundaries at absolute positions (attention.h), and nothing
// reduces across rows.
//
// Ownership: borrows the LoadedModel, which must outlive the backend.
// Thread-safety: not thread-safe (one engine loop calls it); it runs its own worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/cpu/kernels/matmul.h"
#include "engine/cpu/kernels/thread_pool.h"
#include "engine/cpu/kv_storage.h"
#include "engine/cpu/ops.h"
#include "engine/model/model.h"

namespace hearth::engine::cpu {

struct CpuBackendOptions {
  // How activations meet block-quantized weights: kQ8 (fast) or kF32 (matches a float
  // reference; see engine/cpu/kernels/matmul.h).
  ActPrecision precision = ActPrecision::kQ8;
  // K/V cache element type; unset: DefaultKvDtype(precision).
  std::optional<KvDtype> kv_dtype = std::nullopt;
};

// kF32 for kF32 precision (the exact mode, matching a float reference), else kF16.
inline KvDtype DefaultKvDtype(ActPrecision precision) {
  return precision == ActPrecision::kF32 ? KvDtype::kF32 : KvDtype::kF16;
}

class CpuBackend final : public Backend {
 public:
  // `num_threads` >= 1 includes the calling thread.
  static absl::StatusOr<std::unique_ptr<CpuBackend>> Create(const LoadedModel& model,
                                                            int num_threads,
                                                            const CpuBackendOptions& options);
  static absl::StatusOr<std::unique_ptr<CpuBackend>> Create(const LoadedModel& model,
                                                            int num_threads) {
    return Create(model, num_threads, CpuBackendOptions());
  }

  int32_t vocab_size() const override { return config_.vocab_size; }
  int64_t KvBytesPerBlock(int32_t block_size) const override {
    return kv_.BytesPerBlock(block_size);
  }
  absl::Status InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                           int32_t block_size) override {
    return kv_.Init(num_blocks, num_host_blocks, block_size);
  }
  absl::Status Forward(const Batch& batch, std::vector<float>* logits) override;
  absl::Status CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) override {
    return kv_.Copy(pairs);
  }
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) override {
    return kv_.SwapOut(pairs);
  }
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) override {
    return kv_.SwapIn(pairs);
  }

  // Like Forward, but returns logits for every token: [batch.num_tokens(), vocab_size()]
  // (tests, perplexity). Ignores `sample`.
  absl::Status ForwardAllTokens(const Batch& batch, std::vector<float>* logits);

  const ModelConfig& config() const { return config_; }
  KvDtype kv_dtype() const { return kv_.dtype(); }
  int num_threads() const { return pool_.num_threads(); }

 private:
  CpuBackend(const LoadedModel& model, int num_threads, const CpuBackendOptions& options);

  // InvalidArgument / FailedPrecondition when the batch breaks backend.h's contract.
  absl::Status CheckBatch(const Batch& batch) const;
  // The forward pass; LM head over the tokens listed in `logit_rows`.
  absl::Status Run(const Batch& batch, const std::vector<int32_t>& logit_rows,
                   std::vector<float>* logits);
  // Writes token t's new K/V rows (k_, v_) of `layer` into its slot; `sequence` is its index
  // in batch.sequences.
  void StoreKv(const Batch& batch, int32_t sequence, int64_t t, int32_t layer);
  // fn over [0, n) rows: on the pool, or on the calling thread when n is small.
  void ParallelRows(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  static WeightMatrix Matrix(const GgufTensor& t);
  // Repacks the matrices (q8 precision) and fills layers_ and lm_head_.
  absl::Status PrepareMatrices();

  const ModelConfig& config_;
  ActPrecision precision_ = ActPrecision::kQ8;
  const ModelWeights& weights_;
  ThreadPool pool_;
  Rope rope_;
  KvStorage kv_;

  // The matrices; in q8 precision those the kernels read as strips point into packed_ (f32
  // reads the GGUF rows).
  struct LayerMatrices {
    WeightMatrix wq, wk, wv, wo, gate, up, down;
    // Q|K|V and gate|up as one matrix each when their strips lie back to back (rows = 0 when
    // not): one pass over the threads instead of three or two, same bits per row.
    WeightMatrix qkv, gate_up;
  };
  // The matrices' strips concatenated, or rows = 0 if they are not adjacent in packed_.
  static WeightMatrix Concatenated(std::initializer_list<const WeightMatrix*> parts);
  PackedWeights packed_;
  std::vector<LayerMatrices> layers_;
  WeightMatrix lm_head_;

  // Activations, resized per Forward. n = batch tokens.
  std::vector<float> x_;                 // [n, dim] residual stream
  std::vector<float> xb_;                // [n, dim] normed input of a block
  std::vector<float> q_;                 // [n, q_dim]
  std::vector<float> k_;                 // [n, kv_dim]
  std::vector<float> v_;                 // [n, kv_dim]
  std::vector<float> att_;               // [n, q_dim]
  std::vector<float> out_;               // [n, dim]
  std::vector<int32_t> token_sequence_;  // [n] index in batch.sequences of each token
  std::vector<float> fused_;             // [n, q_dim + 2 kv_dim] or [n, 2 ffn_dim] (fused matmuls)
  std::vector<float> gate_;              // [n, ffn_dim]
  std::vector<float> up_;                // [n, ffn_dim]
  std::vector<float> rope_cs_;           // [n, rope_.table_width()] RoPE cos/sin of each token
};

}  // namespace hearth::engine::cpu
