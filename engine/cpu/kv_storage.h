// Paged K/V storage of the CPU backend: float32, one contiguous record per block.
//
//   block b: [num_layers][2 (K, V)][num_kv_heads][block_size * head_dim] floats
//     K of one (layer, head): [head_dim][block_size]   transposed: key p of dimension d at
//                                                       d * block_size + p
//     V of one (layer, head): [block_size][head_dim]   value p at p * head_dim
//
// so copy-on-write and swap move one memcpy per block, and attention reads one contiguous
// block_size * head_dim tile of K and of V per (block, layer, head). K is transposed so that a
// query's scores against a block's keys are vector FMAs over the block's key slots (see
// attention.h). Device blocks live in `device_`, swap blocks in `host_` (both host memory on the
// CPU; the split keeps the Backend contract the same as a GPU's). float32 keeps K/V exact: a
// sequence's attention reads back exactly what its matmuls produced, which the batch-invariance
// and chunking tests rely on.
//
// Thread-safety: not thread-safe to mutate; concurrent reads of distinct or equal blocks and
// concurrent writes to distinct slots are fine (the forward pass does both).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace hearth::engine::cpu {

class KvStorage {
 public:
  KvStorage(int32_t num_layers, int32_t num_kv_heads, int32_t head_dim)
      : num_layers_(num_layers),
        num_kv_heads_(num_kv_heads),
        head_dim_(head_dim),
        kv_dim_(num_kv_heads * head_dim) {}

  int64_t BytesPerBlock(int32_t block_size) const {
    return int64_t{num_layers_} * 2 * block_size * kv_dim_ * sizeof(float);
  }

  // Replaces the storage. ResourceExhausted when the memory cannot be allocated,
  // InvalidArgument for non-positive sizes.
  absl::Status Init(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size);

  bool initialized() const { return device_ != nullptr; }
  int32_t num_blocks() const { return num_blocks_; }
  int32_t num_host_blocks() const { return num_host_blocks_; }
  int32_t block_size() const { return block_size_; }
  int32_t head_dim() const { return head_dim_; }

  // Floats between the same (layer, K/V, head) tile of consecutive block ids.
  int64_t BlockFloats() const { return int64_t{num_layers_} * 2 * block_size_ * kv_dim_; }

  // The (layer, head) tile of block 0: K [head_dim][block_size] (kv = 0) or V
  // [block_size][head_dim] (kv = 1). Block id b's tile is at + b * BlockFloats().
  const float* Tile0(int32_t layer, int32_t kv, int32_t head) const {
    return device_.get() + TileOffset(layer, kv, head);
  }

  // Stores the K and V rows ([kv_dim] each, heads back to back) of the token in slot `slot`
  // of device block `block`, for `layer`.
  // REQUIRES: 0 <= block < num_blocks(), 0 <= slot < block_size().
  void Write(int32_t block, int32_t slot, int32_t layer, const float* k, const float* v);

  // (source, destination) pairs. InvalidArgument naming the first id out of range; nothing
  // is copied then.
  absl::Status Copy(const std::vector<std::pair<int32_t, int32_t>>& pairs);     // device->device
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs);  // device->host
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs);   // host->device

 private:
  int64_t TileOffset(int32_t layer, int32_t kv, int32_t head) const {
    return ((int64_t{layer} * 2 + kv) * num_kv_heads_ + head) * block_size_ * head_dim_;
  }
  absl::Status Move(const std::vector<std::pair<int32_t, int32_t>>& pairs, const float* src,
                    int32_t src_count, float* dst, int32_t dst_count, const char* what);

  int32_t num_layers_;
  int32_t num_kv_heads_;
  int32_t head_dim_;
  int32_t kv_dim_;
  int32_t num_blocks_ = 0;
  int32_t num_host_blocks_ = 0;
  int32_t block_size_ = 0;
  std::unique_ptr<float[]> device_;
  std::unique_ptr<float[]> host_;
};

}  // namespace hearth::engine::cpu
