#include "engine/cpu/kv_storage.h"

#include <cstring>
#include <limits>
#include <new>

#include "absl/strings/str_cat.h"

namespace hearth::engine::cpu {
namespace {

// nullptr when the allocation fails or the size overflows.
std::unique_ptr<float[]> TryAllocate(int64_t count) {
  if (count <= 0) return nullptr;
  if (count > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float))) {
    return nullptr;
  }
  return std::unique_ptr<float[]>(new (std::nothrow) float[count]);
}

}  // namespace

absl::Status KvStorage::Init(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0 || num_host_blocks < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache needs positive sizes, got ", num_blocks, " blocks of ", block_size,
                     " tokens and ", num_host_blocks, " host blocks"));
  }
  device_.reset();
  host_.reset();
  num_blocks_ = num_host_blocks_ = block_size_ = 0;
  const int64_t block_floats = int64_t{num_layers_} * 2 * block_size * kv_dim_;
  std::unique_ptr<float[]> device = TryAllocate(block_floats * num_blocks);
  std::unique_ptr<float[]> host;
  if (num_host_blocks > 0) host = TryAllocate(block_floats * num_host_blocks);
  if (device == nullptr || (num_host_blocks > 0 && host == nullptr)) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate the KV cache: ", num_blocks,
                                                     " + ", num_host_blocks, " blocks of ",
                                                     block_floats * sizeof(float), " bytes"));
  }
  device_ = std::move(device);
  host_ = std::move(host);
  num_blocks_ = num_blocks;
  num_host_blocks_ = num_host_blocks;
  block_size_ = block_size;
  return absl::OkStatus();
}

void KvStorage::Write(int32_t block, int32_t slot, int32_t layer, const float* k, const float* v) {
  float* base = device_.get() + BlockFloats() * block;
  for (int32_t h = 0; h < num_kv_heads_; ++h) {
    float* kt = base + TileOffset(layer, 0, h) + slot;  // column `slot` of [head_dim][block_size]
    const float* kh = k + int64_t{h} * head_dim_;
    for (int32_t d = 0; d < head_dim_; ++d) kt[int64_t{d} * block_size_] = kh[d];
    std::memcpy(base + TileOffset(layer, 1, h) + int64_t{slot} * head_dim_,
                v + int64_t{h} * head_dim_, head_dim_ * sizeof(float));
  }
}

absl::Status KvStorage::Move(const std::vector<std::pair<int32_t, int32_t>>& pairs,
                             const float* src, int32_t src_count, float* dst, int32_t dst_count,
                             const char* what) {
  if (!initialized()) return absl::FailedPreconditionError("KV cache is not initialized");
  for (const auto& [s, d] : pairs) {
    if (s < 0 || s >= src_count || d < 0 || d >= dst_count) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": block pair (", s, ", ", d, ") out of range (", src_count, ", ", dst_count, ")"));
    }
  }
  const int64_t n = BlockFloats();
  for (const auto& [s, d] : pairs) {
    if (src + n * s == dst + n * d) continue;
    std::memcpy(dst + n * d, src + n * s, n * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status KvStorage::Copy(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  return Move(pairs, device_.get(), num_blocks_, device_.get(), num_blocks_, "CopyBlocks");
}

absl::Status KvStorage::SwapOut(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  return Move(pairs, device_.get(), num_blocks_, host_.get(), num_host_blocks_, "SwapOut");
}

absl::Status KvStorage::SwapIn(const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  return Move(pairs, host_.get(), num_host_blocks_, device_.get(), num_blocks_, "SwapIn");
}

}  // namespace hearth::engine::cpu
