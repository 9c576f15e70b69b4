// The CUDA device operations (engine/graph/device_ops.h) of one stage on one GPU: weights
// uploaded once and still quantized (weight_store.h), paged K/V in VRAM with pinned host swap
// space (kv_pool.h), every operation of a step enqueued on one stream and waited for once, in
// EndStep.
//
// Per step: BeginStep uploads the step's tokens, positions, K/V slots, block tables and
// attention work list in one copy (step_plan.h) and computes the RoPE angles once for all
// layers; the graph's operations then run as kernels:
//
//   Embed        decode rows of the (quantized) table        ops_kernels.h
//   RmsNorm, AddRmsNorm, Add, SiluMul, GatherRows            ops_kernels.h
//   Linear       fused dequantize + tensor cores, cuBLAS or the fp32 GEMV by CudaGemmMode
//   RopeStoreKv  bias, RoPE (normal / NEOX, scaled, frequency factors) and the K/V write
//   Attention    paged attention over block tables        attention_kernels.h
//   MoeFfn       router (fp32 GEMV), routes chosen on the host, experts grouped (cuda_moe.cc)
//   Upload / Download through pinned staging (Download's host memory is written in EndStep)
//
// Errors: an operation that fails (a kernel launch, a scratch buffer that does not fit) records
// the step's first error and the rest of the step's operations are skipped; EndStep returns it.
// Running out of device memory is always a ResourceExhausted status naming the bytes, never a
// crash.
//
// Determinism: every kernel computes a row in an order fixed by the row alone (see each kernel's
// header); in CudaGemmMode::kInvariant (the default) and kExact a sequence's logits do not depend
// on the rest of the batch; kFast trades that for cuBLAS at large batches.
//
// Thread-safety: not thread-safe (one engine thread drives all stages). Every method makes its
// device current first, so stages on different GPUs can be driven from one thread.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/cuda/cuda_matmul.h"
#include "engine/cuda/kv_pool.h"
#include "engine/cuda/moe_plan.h"
#include "engine/cuda/step_plan.h"
#include "engine/cuda/weight_store.h"
#include "engine/graph/device_ops.h"
#include "engine/kv_dtype.h"
#include "engine/model/model_config.h"

namespace hearth::engine::cuda {

struct CudaOpsOptions {
  int device = 0;                    // CUDA device index
  KvDtype kv_dtype = KvDtype::kF16;  // kF32: the exact mode's cache
  CudaGemmMode gemm = CudaGemmMode::kInvariant;
  // kFast: batches of at least this many tokens go through cuBLAS (bench/cuda measures it).
  int32_t cublas_min_tokens = 128;
  // Weight upload progress on stderr for stages above 1 GiB.
  bool progress = true;
};

class CudaOps final : public DeviceOps {
 public:
  // A stage of `num_layers` layers of the model. FailedPrecondition ("no CUDA device") when the
  // device does not exist or no driver is loaded; InvalidArgument for a model shape the kernels
  // do not take (head_dim above 256).
  static absl::StatusOr<std::unique_ptr<CudaOps>> Create(
      const ModelConfig& config, const std::vector<float>& rope_freq_factors, int32_t num_layers,
      const CudaOpsOptions& options);
  ~CudaOps() override;

  std::string name() const override { return name_; }
  int32_t num_layers() const override { return num_layers_; }

  absl::StatusOr<WeightId> AddMatrix(absl::Span<const GgufTensor* const> parts) override;
  absl::StatusOr<WeightId> AddEmbedding(const GgufTensor& table) override;
  absl::StatusOr<WeightId> AddVector(absl::Span<const float> values) override;
  absl::Status FinishLoading() override;
  DeviceMemory Memory() const override;

  int64_t KvBytesPerBlock(int32_t block_size) const override;
  absl::Status InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                           int32_t block_size) override;
  absl::Status CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) override;
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) override;
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) override;

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
  absl::Status EndStep() override;

  // Mixture of experts (cuda_moe.cc, moe_plan.h): every expert's gate|up and down are matrices
  // of the weight store (still quantized). MoeFfn runs the router through the fp32 GEMV
  // (kGemv, batch-invariant, so routes match the CPU f32 path's to ~1e-6 of a logit), waits for
  // the logits once (a host sync per MoE block: the per-expert launches need the row counts),
  // picks routes with cpu::RouteTopK, gathers each used expert's rows into one block and runs
  // them through the same matmul path Linear takes for that many rows (CudaGemmMode), then
  // combines in rank order (moe_kernels.h). Only experts some token is routed to are read.
  absl::StatusOr<WeightId> AddExperts(const MoeTensors& moe) override;
  void MoeFfn(WeightId moe, Tensor x, Tensor out) override;

  const CudaOpsOptions& options() const { return options_; }
  // Waits for everything enqueued (swaps included); the first asynchronous error if any.
  absl::Status Synchronize();
  // One device block record of the K/V pool, after Synchronize (tests: swap round trips).
  absl::Status ReadKvBlock(int32_t block, std::vector<uint8_t>* bytes);

 private:
  CudaOps(const ModelConfig& config, int32_t num_layers, const CudaOpsOptions& options);
  absl::Status Init(const std::vector<float>& rope_freq_factors);
  void MakeCurrent() const;
  // Records the step's first error; false if the step already failed (skip the operation).
  bool Check(absl::Status status);
  bool Check(cudaError_t err, const char* what);
  bool Shape(bool ok, const char* op);
  // `bytes` of pinned staging for this step (host pointer) and the matching device bytes
  // (`device`, for uploads that stay on the device during the step). Null on failure (recorded).
  uint8_t* StageHost(size_t bytes);
  uint8_t* StageDevice(size_t bytes);
  // y = x m^T over n rows by `path` (every segment); x16: x in fp16 or null (converted here when
  // the path needs it). False when the step failed (recorded).
  bool RunMatrix(const StoredMatrix& m, const float* x, const uint16_t* x16, float* y, int64_t n,
                 MatMulPath path);
  // A MoE working buffer of `floats` floats (slot: MoeBuffer enum in cuda_moe.cc); null on
  // failure (recorded).
  float* MoeScratch(int slot, int64_t floats);

  const ModelConfig config_;
  const int32_t num_layers_;
  const CudaOpsOptions options_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<CudaMatMul> matmul_;
  CudaWeightStore weights_;
  CudaKvPool kv_;
  CudaBuffer inv_freq_;  // [rope_dims / 2]

  // The step.
  bool in_step_ = false;
  absl::Status step_status_;
  const Batch* batch_ = nullptr;
  int32_t step_tokens_ = 0;
  // Device copies of the plan (pointers into step_device_).
  const int32_t* tokens_ = nullptr;
  const int32_t* slots_ = nullptr;
  const AttentionSeq* seqs_ = nullptr;
  const int32_t* tables_ = nullptr;
  const AttentionWork* work_ = nullptr;
  const AttentionWork* merges_ = nullptr;
  int32_t num_work_ = 0, num_merges_ = 0, max_rows_ = 0;
  CudaBuffer cos_sin_;   // [n, rope_dims]
  CudaBuffer partials_;  // split attention states

  // Pinned host staging (uploads and downloads) and a device arena for per-step uploads, both
  // bump-allocated per step and reset by BeginStep.
  uint8_t* staging_host_ = nullptr;
  size_t staging_bytes_ = 0, staging_used_ = 0;
  CudaBuffer step_device_;
  size_t step_device_used_ = 0;
  std::vector<void*> extra_pinned_;  // overflow staging of this step, freed in EndStep
  std::vector<CudaBuffer> retired_;  // replaced buffers still read by enqueued work
  size_t staging_high_water_ = 0, device_high_water_ = 0;
  struct PendingDownload {
    const uint8_t* staged;
    float* host;
    size_t bytes;
  };
  std::vector<PendingDownload> downloads_;
  std::vector<CudaBuffer> scratch_;

  // Mixture-of-experts blocks (AddExperts); their WeightIds are kMoeIdBase + index, apart from
  // the weight store's ids.
  static constexpr WeightId kMoeIdBase = WeightId{1} << 30;
  struct CudaExpert {
    WeightId gate_up = kNoWeight;  // [2 f, dim]
    WeightId down = kNoWeight;     // [dim, f]
    int64_t f = 0;
  };
  struct CudaMoe {
    WeightId router = kNoWeight;  // [num_experts, dim]
    std::vector<CudaExpert> experts;
    std::vector<int64_t> expert_ffn;  // f of each expert (BuildMoePlan's argument)
    int32_t top_k = 0;
    bool normalize = true;
    WeightId shared_gate = kNoWeight;  // [1, dim]; kNoWeight: no shared expert
    CudaExpert shared;
  };
  std::vector<CudaMoe> moe_;
  MoePlan moe_plan_;                     // the last MoeFfn's routes (reused memory)
  std::vector<CudaBuffer> moe_scratch_;  // MoeScratch's buffers
};

// The RoPE inverse frequencies the stage uploads: engine/cpu/ops.cc Rope's arithmetic (double,
// rounded to float once), so that the angle tables of both agree.
std::vector<float> RopeInverseFrequencies(const ModelConfig& config,
                                          const std::vector<float>& freq_factors);

// CreateCudaOps as DeviceOps (what the backend factory calls).
absl::StatusOr<std::unique_ptr<DeviceOps>> CreateCudaOps(
    const ModelConfig& config, const std::vector<float>& rope_freq_factors, int32_t num_layers,
    const CudaOpsOptions& options);

}  // namespace hearth::engine::cuda
