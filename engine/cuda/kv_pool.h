// The paged K/V of one CUDA stage: `num_blocks` block records in device memory (layout:
// KvLayout in ops_kernels.h, one contiguous record per block over the stage's layers) and
// `num_host_blocks` swap records in pinned host memory. Copy-on-write and swap are asynchronous
// copies of whole records on the stage's stream, so they stay ordered with the steps around
// them and the engine thread never waits for them.
//
// Thread-safety: not thread-safe. Owns its memory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/cuda/ops_kernels.h"

namespace hearth::engine::cuda {

class CudaKvPool {
 public:
  // `layout` without block_size (set by Init).
  CudaKvPool(std::string device_name, KvLayout layout)
      : device_name_(std::move(device_name)), layout_(layout) {}
  ~CudaKvPool();
  CudaKvPool(const CudaKvPool&) = delete;
  CudaKvPool& operator=(const CudaKvPool&) = delete;

  int64_t BytesPerBlock(int32_t block_size) const {
    KvLayout l = layout_;
    l.block_size = block_size;
    return l.BlockElements() * l.ElementBytes();
  }

  // Replaces the pool (on the current device). InvalidArgument for non-positive sizes;
  // ResourceExhausted naming the bytes asked for and free when the device or pinned host memory
  // cannot hold it. Device blocks start zeroed.
  absl::Status Init(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size,
                    int64_t free_bytes);

  bool initialized() const { return device_.data() != nullptr; }
  const KvLayout& layout() const { return layout_; }
  int32_t num_blocks() const { return num_blocks_; }
  int32_t num_host_blocks() const { return num_host_blocks_; }
  void* device() const { return device_.data(); }

  // (source, destination) pairs, enqueued on `stream`. InvalidArgument naming the first id out
  // of range (nothing is enqueued then).
  absl::Status Copy(const std::vector<std::pair<int32_t, int32_t>>& pairs, cudaStream_t stream);
  absl::Status SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs, cudaStream_t stream);
  absl::Status SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs, cudaStream_t stream);

  // Synchronous copy of one device block record (tests).
  absl::Status ReadBlock(int32_t block, std::vector<uint8_t>* bytes) const;

 private:
  absl::Status Move(const std::vector<std::pair<int32_t, int32_t>>& pairs, uint8_t* src,
                    int32_t src_count, uint8_t* dst, int32_t dst_count, cudaMemcpyKind kind,
                    const char* what, cudaStream_t stream);
  void FreeHost();

  std::string device_name_;
  KvLayout layout_;
  int32_t num_blocks_ = 0;
  int32_t num_host_blocks_ = 0;
  int64_t block_bytes_ = 0;
  CudaBuffer device_;
  uint8_t* host_ = nullptr;  // cudaHostAlloc
};

}  // namespace hearth::engine::cuda
