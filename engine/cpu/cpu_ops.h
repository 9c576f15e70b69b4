// The CPU's device operations (engine/graph/device_ops.h): the kernels of engine/cpu/ behind the
// interface the model graph is written over, with paged float32 or fp16 K/V (kv_storage.h) for
// the stage's layers.
//
// Weights: matrices added with AddMatrix are repacked at FinishLoading into the strip layout of
// the int8 kernels (q8 precision; f32 precision reads the GGUF rows in place). The parts of one
// AddMatrix (Q|K|V, gate|up) are added back to back, so their strips are adjacent and Linear runs
// them as one matmul over the threads; where they are not (f32 precision, float weights), each
// part runs on the same quantized activations and its outputs are copied into place, which gives
// the same bits.
//
// Batch invariance: every row of every operation is computed by one thread in a fixed order that
// depends only on that row (MatMul's and ops.h's contracts), attention reads a sequence's own K/V
// block by block in position order with segment boundaries at absolute positions
// (attention.h), and nothing reduces across rows.
//
// Ownership: borrows the GgufTensors added (the LoadedModel must outlive the ops).
// Thread-safety: not thread-safe (one engine thread calls it); it runs its own worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cpu/kernels/matmul.h"
#include "engine/cpu/kernels/thread_pool.h"
#include "engine/cpu/kv_storage.h"
#include "engine/cpu/moe.h"
#include "engine/cpu/ops.h"
#include "engine/graph/device_ops.h"
#include "engine/model/model_config.h"

namespace hearth::engine::cpu {

struct CpuOpsOptions {
  int32_t num_threads = 2;  // >= 1, including the calling thread
  // How activations meet block-quantized weights: kQ8 (fast) or kF32 (matches a float
  // reference; see kernels/matmul.h).
  ActPrecision precision = ActPrecision::kQ8;
  // K/V element type; unset: DefaultKvDtype(precision).
  std::optional<KvDtype> kv_dtype = std::nullopt;
  // Put the workers to sleep at the end of each step instead of letting them spin: set when
  // other CPU stages run between this one's steps and need the cores.
  bool park_between_steps = false;
};

// kF32 for kF32 precision (the exact mode, matching a float reference), else kF16.
inline KvDtype DefaultKvDtype(ActPrecision precision) {
  return precision == ActPrecision::kF32 ? KvDtype::kF32 : KvDtype::kF16;
}

class CpuOps final : public DeviceOps {
 public:
  // `num_layers`: the layers of K/V this stage stores. InvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<CpuOps>> Create(const ModelConfig& config,
                                                        const std::vector<float>& rope_freq_factors,
                                                        int32_t num_layers,
                                                        const CpuOpsOptions& options);

  std::string name() const override { return "cpu"; }
  int32_t num_layers() const override { return num_layers_; }

  absl::StatusOr<WeightId> AddMatrix(absl::Span<const GgufTensor* const> parts) override;
  absl::StatusOr<WeightId> AddEmbedding(const GgufTensor& table) override;
  absl::StatusOr<WeightId> AddVector(absl::Span<const float> values) override;
  absl::Status FinishLoading() override;
  DeviceMemory Memory() const override;

  int64_t KvBytesPerBlock(int32_t block_size) const override {
    return kv_.BytesPerBlock(block_size);
  }
  absl::Status InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                           int32_t block_size) override {
    return kv_.Init(num_blocks, num_host_blocks, block_size);
  }
  absl::Status CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) override {
    return kv_.Copy(pairs);
  }
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) override {
    return kv_.SwapOut(pairs);
  }
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) override {
    return kv_.SwapIn(pairs);
  }

  absl::Status BeginStep(const Batch& batch) override;
  Tensor Scratch(int32_t slot, int64_t rows, int64_t cols) override;
  void Embed(WeightId table, Tensor x) override;
  void RmsNorm(Tensor x, WeightId w, float eps, Tensor y) override;
  void AddRmsNorm(Tensor x, Tensor delta, WeightId w, float eps, Tensor y) override;
  void Add(Tensor x, Tensor delta) override;
  void Linear(WeightId w, Tensor x, Tensor y) override;
  void RopeStoreKv(int32_t layer, Tensor qkv, WeightId bias, Tensor q) override;
  void Attention(int32_t layer, Tensor q, Tensor out) override;
  void SiluMul(Tensor gate_up, Tensor h) override;
  void GatherRows(Tensor x, absl::Span<const int32_t> rows, Tensor y) override;
  void Upload(const float* host, Tensor dst) override;
  void Download(Tensor src, float* host) override;
  Tensor HostOutput(int32_t slot, float* host, int64_t rows, int64_t cols) override {
    (void)slot;
    return Tensor{host, rows, cols};
  }
  absl::Status EndStep() override;

  // Mixture of experts (moe.h): each expert's gate|up and down are matrices like AddMatrix's
  // (repacked, gate|up fused when adjacent).
  absl::StatusOr<WeightId> AddExperts(const MoeTensors& moe) override;
  void MoeFfn(WeightId moe, Tensor x, Tensor out) override;

  KvDtype kv_dtype() const { return kv_.dtype(); }
  ActPrecision precision() const { return precision_; }
  int num_threads() const { return pool_.num_threads(); }
  const KvStorage& kv() const { return kv_; }

 private:
  CpuOps(const ModelConfig& config, const std::vector<float>& rope_freq_factors, int32_t num_layers,
         const CpuOpsOptions& options);

  // fn over [0, n) rows: on the pool, or on the calling thread when n is small.
  void ParallelRows(int64_t n, const std::function<void(int64_t, int64_t)>& fn);
  static WeightMatrix Matrix(const GgufTensor& t);
  // The parts' strips as one matrix, or rows = 0 if they are not adjacent in packed_.
  static WeightMatrix Concatenated(const std::vector<WeightMatrix>& parts);

  // One AddMatrix: its parts (indices into packed_) and, after FinishLoading, the matrices.
  struct MatrixGroup {
    std::vector<int> packed_index;
    std::vector<WeightMatrix> parts;  // set by FinishLoading
    WeightMatrix fused;               // all parts as one (rows = 0 when not adjacent)
  };
  // One AddExperts: the matrices it added (WeightIds of kind kMatrix) and, after
  // FinishLoading, the block's matrices for MoeFfn.
  struct ExpertIds {
    WeightId gate_up = kNoWeight, down = kNoWeight;
  };
  struct MoeGroup {
    WeightId router = kNoWeight;
    std::vector<ExpertIds> experts;
    WeightId shared_gate = kNoWeight;  // kNoWeight: no shared expert
    ExpertIds shared;
    MoeMatrices matrices;  // set by FinishLoading
  };
  ExpertMatrices Expert(const ExpertIds& ids) const;
  enum class WeightKind { kMatrix, kEmbedding, kVector, kExperts };
  struct Weight {
    WeightKind kind;
    int32_t index;  // into groups_, embeddings_, vectors_ or moe_
  };
  const Weight& Get(WeightId id, WeightKind kind) const;

  ModelConfig config_;
  int32_t num_layers_;
  ActPrecision precision_;
  bool park_between_steps_;
  ThreadPool pool_;
  Rope rope_;
  KvStorage kv_;
  bool loaded_ = false;

  std::vector<Weight> weights_;
  std::vector<MatrixGroup> groups_;
  std::vector<const GgufTensor*> embeddings_;
  std::vector<std::vector<float>> vectors_;
  std::vector<MoeGroup> moe_;
  PackedWeights packed_;

  // This step.
  const Batch* batch_ = nullptr;
  std::vector<int32_t> token_sequence_;  // [n] index in batch.sequences of each token
  std::vector<float> rope_cs_;           // [n, rope_.table_width()] RoPE cos/sin of each token
  std::vector<std::vector<float>> scratch_;
  std::vector<float> part_out_;  // one part's output when a group's parts run one by one
  MoeScratch moe_scratch_;       // shared by every layer's MoeFfn
};

}  // namespace hearth::engine::cpu
