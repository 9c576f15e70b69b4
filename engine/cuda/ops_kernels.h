// The element-wise and per-row kernels of CudaOps (everything but matmuls and attention).
//
// Plain C++17 (no Abseil): seen by nvcc and by the host compiler. Launchers enqueue on a stream
// and return the launch's cudaError_t. The bodies live in ops_device.cuh (host-replayable).
//
// Determinism: every output row is computed by one block in an order fixed by the row's width
// alone, so a row's bits never depend on how many rows a launch has (the DeviceOps contract).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

// KvLayout's methods are called from device code too.
#ifdef __CUDACC__
#define HEARTH_LAYOUT_HD __host__ __device__
#else
#define HEARTH_LAYOUT_HD
#endif

namespace hearth::engine::cuda {

// Where token t's K/V of one layer lives in the paged pool. One block record holds every layer
// of the stage:
//   block b: [num_layers][2 (K, V)][num_kv_heads][block_size][head_dim] elements
// (fp16 bits or floats), so copy-on-write and swap move one contiguous record per block, and a
// key is a contiguous head_dim vector (what the attention kernel loads).
struct KvLayout {
  int32_t num_layers = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t block_size = 0;
  bool f16 = true;
  HEARTH_LAYOUT_HD int64_t BlockElements() const {
    return int64_t{num_layers} * 2 * num_kv_heads * block_size * head_dim;
  }
  HEARTH_LAYOUT_HD int64_t ElementBytes() const { return f16 ? 2 : 4; }
  // Elements from a block's start to (layer, kv, head, slot, 0).
  HEARTH_LAYOUT_HD int64_t Offset(int32_t layer, int32_t kv, int32_t head, int32_t slot) const {
    return ((int64_t{layer} * 2 + kv) * num_kv_heads + head) * block_size * head_dim +
           int64_t{slot} * head_dim;
  }
};

// x[t, :] = row tokens[t] of the table, decoded to float (bit-exact with engine/quant).
//   table: device, [vocab, dim] rows of GGUF blocks of `type`; tokens: device [n].
struct EmbedParams {
  uint32_t type = 0;  // GGUF type number (kCudaF32 ...)
  const uint8_t* table = nullptr;
  int64_t row_bytes = 0;
  const int32_t* tokens = nullptr;
  float* x = nullptr;
  int32_t n = 0;
  int32_t dim = 0;  // REQUIRES: dim % 8 == 0 and a multiple of the type's block size
};

// y = x * rsqrt(mean(x^2) + eps) * w per row; with delta: x += delta first (written back).
// The sum of squares runs in double: kNormThreads strided partial sums, then a fixed tree.
// x, delta, y: device [n, dim]; y may alias x (not delta). w: device [dim].
struct RmsNormParams {
  float* x = nullptr;
  const float* delta = nullptr;  // null: plain RmsNorm
  const float* w = nullptr;
  float* y = nullptr;
  int32_t n = 0;
  int32_t dim = 0;
  float eps = 0.0f;
};
inline constexpr int kNormThreads = 256;

// cos_sin[t, 2i], [t, 2i + 1] = cos, sin of double(positions[t]) * inv_freq[i], i < rope_dims / 2
// (engine/cpu/ops.h Rope::CosSin's arithmetic).
struct RopeTableParams {
  const int32_t* positions = nullptr;  // device [n]
  const float* inv_freq = nullptr;     // device [rope_dims / 2]
  float* cos_sin = nullptr;            // device [n, rope_dims]
  int32_t n = 0;
  int32_t rope_dims = 0;
};

// From qkv [n, q_dim + 2 kv_dim] (+ bias): Q rotated into q [n, q_dim]; K rotated and V into
// the slot of token t (slots[t] = block id * block_size + position % block_size) of `layer`.
struct RopeStoreParams {
  const float* qkv = nullptr;
  const float* bias = nullptr;  // device [q_dim + 2 kv_dim] or null
  const float* cos_sin = nullptr;
  const int32_t* slots = nullptr;
  float* q = nullptr;
  void* kv = nullptr;  // the pool (KvLayout)
  KvLayout layout;
  int32_t layer = 0;
  int32_t n = 0;
  int32_t num_heads = 0;
  int32_t rope_dims = 0;
  bool neox = false;  // pairs (i, i + rope_dims / 2); else (2i, 2i + 1)
};

// h[t, i] = silu(gate_up[t, i]) * gate_up[t, f + i], i < f.
struct SiluMulParams {
  const float* gate_up = nullptr;  // [n, 2f]
  float* h = nullptr;              // [n, f]
  int32_t n = 0;
  int32_t f = 0;
};

// y[i, :] = x[rows[i], :].
struct GatherParams {
  const float* x = nullptr;
  const int32_t* rows = nullptr;  // device [n]
  float* y = nullptr;
  int32_t n = 0;
  int64_t cols = 0;
};

cudaError_t LaunchEmbed(const EmbedParams& p, cudaStream_t stream);
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);
cudaError_t LaunchRopeTable(const RopeTableParams& p, cudaStream_t stream);
cudaError_t LaunchRopeStore(const RopeStoreParams& p, cudaStream_t stream);
cudaError_t LaunchSiluMul(const SiluMulParams& p, cudaStream_t stream);
cudaError_t LaunchGather(const GatherParams& p, cudaStream_t stream);
// x[i] += delta[i], i < count.
cudaError_t LaunchAdd(float* x, const float* delta, int64_t count, cudaStream_t stream);

}  // namespace hearth::engine::cuda
