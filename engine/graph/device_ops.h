// The device operations a backend provides, and that a model graph (llama_graph.h) is written
// over. The graph knows layers and tensors, not devices; a DeviceOps knows kernels and its own
// memory, not models. Adding an architecture means writing a graph over these operations;
// adding a backend (CPU, CUDA) means implementing them.
//
// One DeviceOps serves one stage: a range of the model's layers on one device, with the weights
// of those layers (uploaded once at load) and the paged K/V of those layers. Layer indices given
// to the K/V operations are local to the stage: [0, num_layers()).
//
// Lifecycle:
//   load   AddMatrix / AddEmbedding / AddVector ... FinishLoading()   (weights, once)
//          InitKvCache(...)                                           (after sizing)
//   step   BeginStep(batch) -> Scratch / Embed / Linear / ... / Download -> EndStep()
//
// Tensors are float32 activations in the device's memory, made by Scratch(); operations may run
// asynchronously (CUDA enqueues on a stream): host memory written by Download is valid, and the
// step's first error is returned, only once EndStep() returns.
//
// The determinism contract every implementation keeps: each output row of every operation is
// computed in a fixed order that depends only on that row's inputs (never on the number of
// rows, their order, the thread or block split, or what else shares the step), and attention
// reads a sequence's keys in position order with any split of the context at absolute
// positions. Then a sequence's logits do not depend on the rest of the batch, on how its prompt
// was chunked, or on how the layers are split into stages (see engine/cpu/attention.h).
//
// Thread-safety: not thread-safe; one engine thread drives all stages in turn.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/backend.h"
#include "engine/gguf/gguf_file.h"

namespace hearth::engine {

// A float32 matrix [rows, cols], row-major and dense (row stride = cols), in the memory of the
// DeviceOps that made it.
struct Tensor {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t size() const { return rows * cols; }
};

// A weight uploaded at load time (matrix, embedding table or vector), local to one DeviceOps.
using WeightId = int32_t;
inline constexpr WeightId kNoWeight = -1;

class DeviceOps {
 public:
  virtual ~DeviceOps() = default;

  // "cpu", "cuda:0": for messages and metrics.
  virtual std::string name() const = 0;
  // Layers of K/V this stage stores.
  virtual int32_t num_layers() const = 0;

  // ---- Load time. -------------------------------------------------------------------------

  // A linear layer whose weight is `parts` stacked by rows: Linear(id, x, y) computes
  // y[n, sum rows] = x[n, cols] * [parts...]^T, the parts' outputs side by side in each row
  // (Q|K|V, gate|up). Every part has the same cols. InvalidArgument for a type the device
  // cannot multiply (naming the tensor).
  virtual absl::StatusOr<WeightId> AddMatrix(absl::Span<const GgufTensor* const> parts) = 0;
  // A token embedding table {dim, vocab} read row by row (never multiplied).
  virtual absl::StatusOr<WeightId> AddEmbedding(const GgufTensor& table) = 0;
  // A float vector (norm weight, bias).
  virtual absl::StatusOr<WeightId> AddVector(absl::Span<const float> values) = 0;
  // Repacks / uploads what was added. ResourceExhausted (naming the bytes) when it does not fit.
  virtual absl::Status FinishLoading() = 0;

  virtual DeviceMemory Memory() const = 0;

  // ---- Paged K/V of this stage's layers. ---------------------------------------------------

  // Bytes of one block of `block_size` tokens over this stage's layers.
  virtual int64_t KvBytesPerBlock(int32_t block_size) const = 0;
  // Replaces the cache: `num_blocks` device blocks and `num_host_blocks` swap blocks in host
  // memory. Block ids are the same on every stage. ResourceExhausted if it cannot allocate.
  virtual absl::Status InitKvCache(int32_t num_blocks, int32_t num_host_blocks,
                                   int32_t block_size) = 0;
  // (source, destination) block pairs: device -> device (copy-on-write), device -> host, host
  // -> device. InvalidArgument naming the first id out of range; nothing moves then.
  virtual absl::Status CopyBlocks(const std::vector<std::pair<int32_t, int32_t>>& pairs) = 0;
  virtual absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) = 0;
  virtual absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) = 0;

  // ---- One step. ---------------------------------------------------------------------------

  // Takes the step's tokens, positions and block tables (RoPE angles, slots, uploads).
  // REQUIRES: the batch passed CheckBatch (split_backend.h); it outlives the step.
  virtual absl::Status BeginStep(const Batch& batch) = 0;
  // A working buffer [rows, cols], distinct per `slot` and kept until the next Scratch call for
  // the same slot (contents undefined when first returned). Memory is reused across steps.
  virtual Tensor Scratch(int32_t slot, int64_t rows, int64_t cols) = 0;

  // x[t] = row tokens[t] of the table, for every token of the step. x: [n_tokens, dim].
  virtual void Embed(WeightId table, Tensor x) = 0;
  // y = x * rsqrt(mean(x^2) + eps) * w, row by row. y may alias x.
  virtual void RmsNorm(Tensor x, WeightId w, float eps, Tensor y) = 0;
  // x += delta (residual), then y = RmsNorm(x): the same bits as Add then RmsNorm.
  virtual void AddRmsNorm(Tensor x, Tensor delta, WeightId w, float eps, Tensor y) = 0;
  // x += delta.
  virtual void Add(Tensor x, Tensor delta) = 0;
  // y = x W^T (see AddMatrix). x: [n, cols], y: [n, rows of W].
  virtual void Linear(WeightId w, Tensor x, Tensor y) = 0;
  // From qkv [n, q_dim + 2 kv_dim] (Q | K | V of each token): adds `bias` (kNoWeight: none;
  // else [q_dim + 2 kv_dim]), applies RoPE at each token's position to Q and K, writes Q to
  // q [n, q_dim], and K and V into the token's slot of local layer `layer`.
  virtual void RopeStoreKv(int32_t layer, Tensor qkv, WeightId bias, Tensor q) = 0;
  // Causal attention of every new token over its sequence's cached K/V of local layer
  // `layer` (this step's K/V stored first). q, out: [n, num_heads * head_dim].
  virtual void Attention(int32_t layer, Tensor q, Tensor out) = 0;
  // h = silu(gate) * up with gate_up [n, 2 f] = gate | up per row; h: [n, f].
  virtual void SiluMul(Tensor gate_up, Tensor h) = 0;
  // y[i] = x[rows[i]].
  virtual void GatherRows(Tensor x, absl::Span<const int32_t> rows, Tensor y) = 0;

  // Host <-> device copies of a whole tensor (hidden states between stages, logits).
  virtual void Upload(const float* host, Tensor dst) = 0;
  virtual void Download(Tensor src, float* host) = 0;
  // A tensor for an operation's result that Download(t, host) will deliver to `host`: on
  // devices that compute in host memory, `host` itself (and the Download is free).
  virtual Tensor HostOutput(int32_t slot, float* host, int64_t rows, int64_t cols) {
    (void)host;
    return Scratch(slot, rows, cols);
  }

  // Waits for the step's work; the first error of the step, if any.
  virtual absl::Status EndStep() = 0;
};

}  // namespace hearth::engine
