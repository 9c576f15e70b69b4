#include "engine/cpu/kv_storage.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>

#include "absl/strings/str_cat.h"
#include "engine/cpu/kernels/matmul.h"
#include "engine/quant/fp16.h"

namespace hearth::engine::cpu {
namespace {

// Null when the allocation fails or the size overflows. Huge pages where the OS grants them
// (kernels/memory.h): attention reads blocks scattered over the whole pool.
AlignedBytes TryAllocate(int64_t count, int32_t element_bytes) {
  if (count <= 0) return nullptr;
  if (count > std::numeric_limits<int64_t>::max() / element_bytes) return nullptr;
  return TryAllocateAligned(count * element_bytes);
}

// F16C with the vector kernels (every AVX2+FMA CPU the kernel paths accept has it), the
// scalar twin on the scalar path; they give the same bits.
bool UseF16c() {
  static const bool use = ActiveCpuKernelPath() != CpuKernelPath::kScalar &&
                          CpuKernelPathSupported(CpuKernelPath::kAvx2);
  return use;
}

}  // namespace

void FloatToHalfRow(const float* src, int64_t n, uint16_t* dst) {
  if (UseF16c()) {
    internal::FloatToHalfRowF16c(src, n, dst);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = FloatToHalf(src[i]);
  }
}

absl::Status KvStorage::Init(int32_t num_blocks, int32_t num_host_blocks, int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0 || num_host_blocks < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache needs positive sizes, got ", num_blocks, " blocks of ", block_size,
                     " tokens and ", num_host_blocks, " host blocks"));
  }
  device_.reset();
  host_.reset();
  num_blocks_ = num_host_blocks_ = block_size_ = 0;
  const int32_t bytes = KvDtypeBytes(dtype_);
  const int64_t block_elements = int64_t{num_layers_} * 2 * block_size * kv_dim_;
  AlignedBytes device = TryAllocate(block_elements * num_blocks, bytes);
  AlignedBytes host;
  if (num_host_blocks > 0) host = TryAllocate(block_elements * num_host_blocks, bytes);
  if (device == nullptr || (num_host_blocks > 0 && host == nullptr)) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate the KV cache: ", num_blocks,
                                                     " + ", num_host_blocks, " blocks of ",
                                                     block_elements * bytes, " bytes"));
  }
  device_ = std::move(device);
  host_ = std::move(host);
  num_blocks_ = num_blocks;
  num_host_blocks_ = num_host_blocks;
  block_size_ = block_size;
  return absl::OkStatus();
}

void KvStorage::Write(int32_t block, int32_t slot, int32_t layer, const float* k, const float* v) {
  const int64_t block_elements = BlockElements() * block;
  if (dtype_ == KvDtype::kF32) {
    float* base = reinterpret_cast<float*>(device_.get()) + block_elements;
    for (int32_t h = 0; h < num_kv_heads_; ++h) {
      float* kt = base + TileOffset(layer, 0, h) + slot;  // column `slot` of [head_dim][bs]
      const float* kh = k + int64_t{h} * head_dim_;
      for (int32_t d = 0; d < head_dim_; ++d) kt[int64_t{d} * block_size_] = kh[d];
      std::memcpy(base + TileOffset(layer, 1, h) + int64_t{slot} * head_dim_,
                  v + int64_t{h} * head_dim_, head_dim_ * sizeof(float));
    }
    return;
  }
  uint16_t* base = reinterpret_cast<uint16_t*>(device_.get()) + block_elements;
  for (int32_t h = 0; h < num_kv_heads_; ++h) {
    // K: convert a contiguous chunk, then scatter it down the column.
    uint16_t* kt = base + TileOffset(layer, 0, h) + slot;
    const float* kh = k + int64_t{h} * head_dim_;
    constexpr int32_t kChunk = 256;
    uint16_t buf[kChunk];
    for (int32_t d0 = 0; d0 < head_dim_; d0 += kChunk) {
      const int32_t n = std::min(kChunk, head_dim_ - d0);
      FloatToHalfRow(kh + d0, n, buf);
      for (int32_t i = 0; i < n; ++i) kt[int64_t{d0 + i} * block_size_] = buf[i];
    }
    // V: the row is contiguous.
    FloatToHalfRow(v + int64_t{h} * head_dim_, head_dim_,
                   base + TileOffset(layer, 1, h) + int64_t{slot} * head_dim_);
  }
}

absl::Status KvStorage::Move(const std::vector<std::pair<int32_t, int32_t>>& pairs,
                             const uint8_t* src, int32_t src_count, uint8_t* dst, int32_t dst_count,
                             const char* what) {
  if (!initialized()) return absl::FailedPreconditionError("KV cache is not initialized");
  for (const auto& [s, d] : pairs) {
    if (s < 0 || s >= src_count || d < 0 || d >= dst_count) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": block pair (", s, ", ", d, ") out of range (", src_count, ", ", dst_count, ")"));
    }
  }
  const int64_t n = BlockElements() * KvDtypeBytes(dtype_);  // bytes per block
  for (const auto& [s, d] : pairs) {
    if (src + n * s == dst + n * d) continue;
    std::memcpy(dst + n * d, src + n * s, n);
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
