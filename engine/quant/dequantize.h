// Scalar dequantization kernels, one per supported type; reached through TypeTraits::dequantize
// (engine/quant/ggml_type.h) rather than called by name.
//
// Each converts `n` elements (REQUIRES: n % block_size == 0, n >= 0) from `src` (n / block_size
// blocks laid out as in engine/quant/blocks.h; no alignment required) into `dst` [n] floats.
// Results are bit-exact with gguf-py's gguf.quants.dequantize (same float operations in the same
// order, no fused multiply-add). Thread-safe.
#pragma once

#include <cstdint>
#include <cstring>

namespace hearth::engine::quant_internal {

// Copies block `i` out of an unaligned source.
template <typename Block>
Block LoadBlock(const void* src, int64_t i) {
  Block b;
  std::memcpy(&b, static_cast<const uint8_t*>(src) + i * sizeof(Block), sizeof(Block));
  return b;
}

void DequantizeF32(const void* src, float* dst, int64_t n);
void DequantizeF16(const void* src, float* dst, int64_t n);
void DequantizeBF16(const void* src, float* dst, int64_t n);
void DequantizeQ4_0(const void* src, float* dst, int64_t n);
void DequantizeQ4_1(const void* src, float* dst, int64_t n);
void DequantizeQ5_0(const void* src, float* dst, int64_t n);
void DequantizeQ5_1(const void* src, float* dst, int64_t n);
void DequantizeQ8_0(const void* src, float* dst, int64_t n);
void DequantizeQ8_1(const void* src, float* dst, int64_t n);
void DequantizeQ2_K(const void* src, float* dst, int64_t n);
void DequantizeQ3_K(const void* src, float* dst, int64_t n);
void DequantizeQ4_K(const void* src, float* dst, int64_t n);
void DequantizeQ5_K(const void* src, float* dst, int64_t n);
void DequantizeQ6_K(const void* src, float* dst, int64_t n);
void DequantizeQ8_K(const void* src, float* dst, int64_t n);

}  // namespace hearth::engine::quant_internal
