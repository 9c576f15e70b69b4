#include "engine/cuda/kv_pool.h"

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace hearth::engine::cuda {

CudaKvPool::~CudaKvPool() { FreeHost(); }

void CudaKvPool::FreeHost() {
  if (host_ != nullptr) cudaFreeHost(host_);
  host_ = nullptr;
}

absl::Status CudaKvPool::Init(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size,
                              int64_t free_bytes) {
  if (num_blocks <= 0 || block_size <= 0 || num_host_blocks < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache needs positive sizes, got ", num_blocks, " blocks of ", block_size,
                     " tokens and ", num_host_blocks, " host blocks"));
  }
  device_ = CudaBuffer();
  FreeHost();
  num_blocks_ = num_host_blocks_ = 0;
  layout_.block_size = block_size;
  block_bytes_ = layout_.BlockElements() * layout_.ElementBytes();
  const int64_t device_bytes = block_bytes_ * num_blocks;
  if (device_bytes > free_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: the KV cache of %d blocks needs %.1f MiB of device memory, %.1f MiB are free "
        "(%.1f MiB missing): lower kv_cache_memory_fraction / kv_cache_bytes",
        device_name_, num_blocks, device_bytes / 1048576.0, free_bytes / 1048576.0,
        (device_bytes - free_bytes) / 1048576.0));
  }
  auto device = CudaBuffer::Allocate(static_cast<size_t>(device_bytes));
  if (!device.ok()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: cannot allocate the KV cache, %d blocks of %d bytes (%.1f MiB): %s", device_name_,
        num_blocks, block_bytes_, device_bytes / 1048576.0, device.status().message()));
  }
  RETURN_IF_ERROR(device->Fill(0));
  if (num_host_blocks > 0) {
    void* host = nullptr;
    const int64_t host_bytes = block_bytes_ * num_host_blocks;
    if (cudaHostAlloc(&host, static_cast<size_t>(host_bytes), cudaHostAllocDefault) !=
        cudaSuccess) {
      cudaGetLastError();
      return absl::ResourceExhaustedError(
          absl::StrFormat("%s: cannot pin %.1f MiB of host memory for %d swap blocks: lower "
                          "swap_space_bytes",
                          device_name_, host_bytes / 1048576.0, num_host_blocks));
    }
    host_ = static_cast<uint8_t*>(host);
  }
  device_ = std::move(*device);
  num_blocks_ = num_blocks;
  num_host_blocks_ = num_host_blocks;
  return absl::OkStatus();
}

absl::Status CudaKvPool::Move(const std::vector<std::pair<int32_t, int32_t>>& pairs, uint8_t* src,
                              int32_t src_count, uint8_t* dst, int32_t dst_count,
                              cudaMemcpyKind kind, const char* what, cudaStream_t stream) {
  if (!initialized()) return absl::FailedPreconditionError("InitKvCache() was not called");
  for (const auto& [from, to] : pairs) {
    if (from < 0 || from >= src_count || to < 0 || to >= dst_count) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": block pair (", from, ", ", to,
                                                     ") out of range: source blocks ", src_count,
                                                     ", destination blocks ", dst_count));
    }
  }
  // Runs of consecutive ids move as one copy (between two memories only: within the device pool
  // a run's source and destination ranges could overlap).
  const bool runs = src != dst;
  for (size_t i = 0; i < pairs.size();) {
    size_t j = i + 1;
    while (runs && j < pairs.size() && pairs[j].first == pairs[j - 1].first + 1 &&
           pairs[j].second == pairs[j - 1].second + 1) {
      ++j;
    }
    const size_t bytes = static_cast<size_t>(block_bytes_) * (j - i);
    RETURN_IF_ERROR(
        CudaStatus(cudaMemcpyAsync(dst + block_bytes_ * pairs[i].second,
                                   src + block_bytes_ * pairs[i].first, bytes, kind, stream),
                   what));
    i = j;
  }
  return absl::OkStatus();
}

absl::Status CudaKvPool::Copy(const std::vector<std::pair<int32_t, int32_t>>& pairs,
                              cudaStream_t stream) {
  uint8_t* d = device_.as<uint8_t>();
  return Move(pairs, d, num_blocks_, d, num_blocks_, cudaMemcpyDeviceToDevice, "CopyBlocks",
              stream);
}

absl::Status CudaKvPool::SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs,
                                 cudaStream_t stream) {
  return Move(pairs, device_.as<uint8_t>(), num_blocks_, host_, num_host_blocks_,
              cudaMemcpyDeviceToHost, "SwapOut", stream);
}

absl::Status CudaKvPool::SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs,
                                cudaStream_t stream) {
  return Move(pairs, host_, num_host_blocks_, device_.as<uint8_t>(), num_blocks_,
              cudaMemcpyHostToDevice, "SwapIn", stream);
}

absl::Status CudaKvPool::ReadBlock(int32_t block, std::vector<uint8_t>* bytes) const {
  if (block < 0 || block >= num_blocks_) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block, " out of range"));
  }
  bytes->resize(static_cast<size_t>(block_bytes_));
  return device_.Download(bytes->data(), bytes->size(), static_cast<size_t>(block_bytes_) * block);
}

}  // namespace hearth::engine::cuda
