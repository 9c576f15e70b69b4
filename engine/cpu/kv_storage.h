// Paged K/V storage of the CPU backend: float32 or IEEE fp16 elements, one contiguous record
// per block.
//
//   block b: [num_layers][2 (K, V)][num_kv_heads][block_size * head_dim] elements
//     K of one (layer, head): [head_dim][block_size]   transposed: key p of dimension d at
//                                                       d * block_size + p
//     V of one (layer, head): [block_size][head_dim]   value p at p * head_dim
//
// so copy-on-write and swap move one memcpy per block, and attention reads one contiguous
// block_size * head_dim tile of K and of V per (block, layer, head). K is transposed so that a
// query's scores against a block's keys are vector FMAs over the block's key slots (see
// attention.h). Device blocks live in `device_`, swap blocks in `host_` (both host memory on the
// CPU; the split keeps the Backend contract the same as a GPU's).
//
// Element type (KvDtype): kF32 keeps K/V exact (the f32 precision mode that matches a float
// reference); kF16 halves the bytes attention reads and doubles the tokens a byte budget holds
// (llama.cpp's default cache type). fp16 rounding is a pure function of each value (round to
// nearest even, the same bits on the F16C and scalar paths), so a sequence's K/V, and with it the
// backend's batch and chunking invariance, does not depend on what else is in the batch.
//
// Thread-safety: not thread-safe to mutate; concurrent reads of distinct or equal blocks and
// concurrent writes to distinct slots are fine (the forward pass does both).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/cpu/kernels/memory.h"
#include "engine/kv_dtype.h"

namespace hearth::engine::cpu {

// KvDtype, KvDtypeBytes, KvDtypeName, ParseKvDtype: engine/kv_dtype.h (device-neutral).
using ::hearth::engine::KvDtype;

// dst[i] = fp16 bits of src[i], round to nearest even (overflow to inf, NaN stays NaN): F16C
// when the active kernel path is not scalar, else engine/quant's FloatToHalf. Same bits both
// ways.
void FloatToHalfRow(const float* src, int64_t n, uint16_t* dst);

class KvStorage {
 public:
  KvStorage(int32_t num_layers, int32_t num_kv_heads, int32_t head_dim,
            KvDtype dtype = KvDtype::kF32)
      : num_layers_(num_layers),
        num_kv_heads_(num_kv_heads),
        head_dim_(head_dim),
        kv_dim_(num_kv_heads * head_dim),
        dtype_(dtype) {}

  int64_t BytesPerBlock(int32_t block_size) const {
    return int64_t{num_layers_} * 2 * block_size * kv_dim_ * KvDtypeBytes(dtype_);
  }

  // Replaces the storage. ResourceExhausted when the memory cannot be allocated,
  // InvalidArgument for non-positive sizes.
  absl::Status Init(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size);

  bool initialized() const { return device_ != nullptr; }
  KvDtype dtype() const { return dtype_; }
  int32_t num_blocks() const { return num_blocks_; }
  int32_t num_host_blocks() const { return num_host_blocks_; }
  int32_t block_size() const { return block_size_; }
  int32_t head_dim() const { return head_dim_; }

  // Elements between the same (layer, K/V, head) tile of consecutive block ids.
  int64_t BlockElements() const { return int64_t{num_layers_} * 2 * block_size_ * kv_dim_; }

  // The (layer, head) tile of block 0: K [head_dim][block_size] (kv = 0) or V
  // [block_size][head_dim] (kv = 1), float or uint16_t (fp16) elements as dtype() says. Block
  // id b's tile is at + b * BlockElements() elements.
  const void* Tile0(int32_t layer, int32_t kv, int32_t head) const {
    return device_.get() + TileOffset(layer, kv, head) * KvDtypeBytes(dtype_);
  }
  // Tile0 typed. REQUIRES: sizeof(T) == KvDtypeBytes(dtype()) (float for kF32, uint16_t for
  // kF16).
  template <typename T>
  const T* Tile0As(int32_t layer, int32_t kv, int32_t head) const {
    return static_cast<const T*>(Tile0(layer, kv, head));
  }

  // Stores the K and V rows ([kv_dim] each, heads back to back) of the token in slot `slot`
  // of device block `block`, for `layer` (rounded to fp16 for kF16).
  // REQUIRES: 0 <= block < num_blocks(), 0 <= slot < block_size().
  void Write(int32_t block, int32_t slot, int32_t layer, const float* k, const float* v);

  // (source, destination) pairs. InvalidArgument naming the first id out of range; nothing
  // is copied then.
  absl::Status Copy(const std::vector<std::pair<int32_t, int32_t>>& pairs);     // device->device
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs);  // device->host
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs);   // host->device

 private:
  // In elements.
  int64_t TileOffset(int32_t layer, int32_t kv, int32_t head) const {
    return ((int64_t{layer} * 2 + kv) * num_kv_heads_ + head) * block_size_ * head_dim_;
  }
  absl::Status Move(const std::vector<std::pair<int32_t, int32_t>>& pairs, const uint8_t* src,
                    int32_t src_count, uint8_t* dst, int32_t dst_count, const char* what);

  int32_t num_layers_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  int32_t kv_dim_;
  KvDtype dtype_;
  int32_t num_blocks_ = 0;
  int32_t num_host_blocks_ = 0;
  int32_t block_size_ = 0;
  AlignedBytes device_;  // 64-byte aligned
  AlignedBytes host_;
};

namespace internal {
// FloatToHalfRow with F16C (_mm256_cvtps_ph, round to nearest even). REQUIRES: AVX and F16C.
void FloatToHalfRowF16c(const float* src, int64_t n, uint16_t* dst);
}  // namespace internal

}  // namespace hearth::engine::cpu
