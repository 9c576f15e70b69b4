// Paged K/V storage of the CPU backend: float32, one contiguous record per block.
//
//   block b: [num_layers][2 (K, V)][block_size][kv_dim] floats
//
// so copy-on-write and swap move one memcpy per block. Device blocks live in `device_`, swap
// blocks in `host_` (both host memory on the CPU; the split keeps the Backend contract the
// same as a GPU's). float32 keeps K/V exact: a sequence's attention reads back exactly what its
// matmuls produced, which the batch-invariance and chunking tests rely on.
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
  KvStorage(int32_t num_layers, int32_t kv_dim) : num_layers_(num_layers), kv_dim_(kv_dim) {}

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

  // [block_size, kv_dim] K (kv = 0) or V (kv = 1) rows of `layer` in device block `block`.
  // REQUIRES: 0 <= block < num_blocks().
  float* Rows(int32_t block, int32_t layer, int32_t kv) {
    return device_.get() + BlockFloats() * block +
           (int64_t{layer} * 2 + kv) * block_size_ * kv_dim_;
  }
  const float* Rows(int32_t block, int32_t layer, int32_t kv) const {
    return const_cast<KvStorage*>(this)->Rows(block, layer, kv);
  }

  // (source, destination) pairs. InvalidArgument naming the first id out of range; nothing
  // is copied then.
  absl::Status Copy(const std::vector<std::pair<int32_t, int32_t>>& pairs);     // device->device
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs);  // device->host
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs);   // host->device

 private:
  int64_t BlockFloats() const { return int64_t{num_layers_} * 2 * block_size_ * kv_dim_; }
  absl::Status Move(const std::vector<std::pair<int32_t, int32_t>>& pairs, const float* src,
                    int32_t src_count, float* dst, int32_t dst_count, const char* what);

  int32_t num_layers_;
  int32_t kv_dim_;
  int32_t num_blocks_ = 0;
  int32_t num_host_blocks_ = 0;
  int32_t block_size_ = 0;
  std::unique_ptr<float[]> device_;
  std::unique_ptr<float[]> host_;
};

}  // namespace hearth::engine::cpu
