// Dequantization of the plain float types and the 32-element block types (Q4_0 .. Q8_1).
// Float operations mirror gguf-py's quants.py one for one (comments give its expression).
#include <cstring>

#include "engine/quant/blocks.h"
#include "engine/quant/dequantize.h"
#include "engine/quant/fp16.h"

namespace hearth::engine::quant_internal {
namespace {

// The 4-bit value of element j (0..31) of a 32-element block: low nibbles first.
inline int Nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }

inline int HighBit(const uint8_t* qh, int j) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  return (bits >> j) & 1;
}

}  // namespace

void DequantizeF32(const void* src, float* dst, int64_t n) {
  if (n <= 0) return;  // memcpy with a null pointer is undefined even for 0 bytes
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void DequantizeF16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    dst[i] = HalfToFloat(h);
  }
}

void DequantizeBF16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b;
    std::memcpy(&b, p + 2 * i, 2);
    dst[i] = BFloat16ToFloat(b);
  }
}

void DequantizeQ4_0(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const auto b = LoadBlock<BlockQ4_0>(src, i);
    const float d = HalfToFloat(b.d);
    float* y = dst + i * kQK4_0;
    for (int j = 0; j < kQK4_0; ++j) y[j] = d * static_cast<float>(Nibble(b.qs, j) - 8);
  }
}

void DequantizeQ4_1(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const auto b = LoadBlock<BlockQ4_1>(src, i);
    const float d = HalfToFloat(b.d);
    const float m = HalfToFloat(b.m);
    float* y = dst + i * kQK4_1;
    for (int j = 0; j < kQK4_1; ++j) y[j] = d * static_cast<float>(Nibble(b.qs, j)) + m;
  }
}

void DequantizeQ5_0(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const auto b = LoadBlock<BlockQ5_0>(src, i);
    const float d = HalfToFloat(b.d);
    float* y = dst + i * kQK5_0;
    for (int j = 0; j < kQK5_0; ++j) {
      const int q = Nibble(b.qs, j) | HighBit(b.qh, j) << 4;
      y[j] = d * static_cast<float>(q - 16);
    }
  }
}

void DequantizeQ5_1(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const auto b = LoadBlock<BlockQ5_1>(src, i);
    const float d = HalfToFloat(b.d);
    const float m = HalfToFloat(b.m);
    float* y = dst + i * kQK5_1;
    for (int j = 0; j < kQK5_1; ++j) {
      const int q = Nibble(b.qs, j) | HighBit(b.qh, j) << 4;
      y[j] = d * static_cast<float>(q) + m;
    }
  }
}

void DequantizeQ8_0(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const auto b = LoadBlock<BlockQ8_0>(src, i);
    const float d = HalfToFloat(b.d);
    float* y = dst + i * kQK8_0;
    for (int j = 0; j < kQK8_0; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
  }
}

void DequantizeQ8_1(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_1; ++i) {
    const auto b = LoadBlock<BlockQ8_1>(src, i);
    const float d = HalfToFloat(b.d);
    float* y = dst + i * kQK8_1;
    for (int j = 0; j < kQK8_1; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
  }
}

}  // namespace hearth::engine::quant_internal
