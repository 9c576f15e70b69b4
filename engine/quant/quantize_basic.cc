// Quantization into the plain float types and the 32-element block types. Each float
// operation mirrors gguf-py's quants.py (its expression is quoted in the comments), which in
// turn equals llama.cpp's quantize_row_*_ref; the library is built with -ffp-contract=off so
// no a*b+c becomes an FMA.
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/quant/blocks.h"
#include "engine/quant/fp16.h"
#include "engine/quant/quantize.h"

namespace hearth::engine {
namespace quant_internal {
namespace {

template <typename Block>
void StoreBlock(void* dst, int64_t i, const Block& b) {
  std::memcpy(static_cast<uint8_t*>(dst) + i * sizeof(Block), &b, sizeof(Block));
}

void StoreHalf(void* dst, int64_t i, uint16_t h) {
  std::memcpy(static_cast<uint8_t*>(dst) + 2 * i, &h, 2);
}

// Packs 32 4-bit values: element j < 16 in the low nibble of byte j, j + 16 in its high one.
void PackNibbles(const uint8_t q[32], uint8_t qs[16]) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
}

// numpy's float -> uint8 cast of an already truncated value, then clip(0, hi). The values
// reaching it are in [0, hi + 1] (the +1 from a rounding at the top end).
uint8_t ClipU8(float truncated, int hi) {
  const int v = static_cast<int>(truncated);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > hi ? hi : v));
}

}  // namespace

void QuantizeF32(const float* src, void* dst, int64_t n) {
  if (n <= 0) return;  // memcpy with a null pointer is undefined even for 0 bytes
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void QuantizeF16(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) StoreHalf(dst, i, FloatToHalf(src[i]));
}

// gguf-py BF16.quantize_blocks (= ggml_compute_fp32_to_bf16): NaN -> quiet NaN, else round
// to nearest even.
void QuantizeBF16(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t x;
    std::memcpy(&x, &src[i], 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
      x = (x & 0xFFFF0000u) | (64u << 16);
    }
    const uint64_t rounded = (static_cast<uint64_t>(x) + (0x7FFFu + ((x >> 16) & 1u))) >> 16;
    StoreHalf(dst, i, static_cast<uint16_t>(rounded));
  }
}

// d = max / -8 where max is the first element of largest |x|; q = trunc(x / d + 8.5).
void QuantizeQ4_0(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d == 0.0f ? 0.0f : 1.0f / d;
    uint8_t q[kQK4_0];
    for (int j = 0; j < kQK4_0; ++j) q[j] = ClipU8(std::trunc(x[j] * id + 8.5f), 15);
    BlockQ4_0 b;
    b.d = FloatToHalf(d);
    PackNibbles(q, b.qs);
    StoreBlock(dst, i, b);
  }
}

// d = (max - min) / 15, m = min; q = trunc((x - min) / d + 0.5).
void QuantizeQ4_1(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const float* x = src + i * kQK4_1;
    float min = x[0];
    float max = x[0];
    for (int j = 1; j < kQK4_1; ++j) {
      min = std::fmin(min, x[j]);
      max = std::fmax(max, x[j]);
    }
    const float d = (max - min) / 15.0f;
    const float id = d == 0.0f ? 0.0f : 1.0f / d;
    uint8_t q[kQK4_1];
    for (int j = 0; j < kQK4_1; ++j) q[j] = ClipU8(std::trunc((x[j] - min) * id + 0.5f), 15);
    BlockQ4_1 b;
    b.d = FloatToHalf(d);
    b.m = FloatToHalf(min);
    PackNibbles(q, b.qs);
    StoreBlock(dst, i, b);
  }
}

// d = max|x| / 127; q = round-half-away-from-zero(x / d) (gguf-py's np_roundf, C's roundf).
void QuantizeQ8_0(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* x = src + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d == 0.0f ? 0.0f : 1.0f / d;
    BlockQ8_0 b;
    b.d = FloatToHalf(d);
    for (int j = 0; j < kQK8_0; ++j) b.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    StoreBlock(dst, i, b);
  }
}

}  // namespace quant_internal

QuantizeRowFn FindQuantizer(GgmlType type) {
  using namespace quant_internal;  // NOLINT
  switch (type) {
    case GgmlType::kF32:
      return QuantizeF32;
    case GgmlType::kF16:
      return QuantizeF16;
    case GgmlType::kBF16:
      return QuantizeBF16;
    case GgmlType::kQ4_0:
      return QuantizeQ4_0;
    case GgmlType::kQ4_1:
      return QuantizeQ4_1;
    case GgmlType::kQ8_0:
      return QuantizeQ8_0;
    case GgmlType::kQ4_K:
      return QuantizeQ4_K;
    case GgmlType::kQ5_K:
      return QuantizeQ5_K;
    case GgmlType::kQ6_K:
      return QuantizeQ6_K;
    default:
      return nullptr;
  }
}

absl::Status QuantizeRows(GgmlType type, const float* src, int64_t rows, int64_t cols, void* dst) {
  const TypeTraits& traits = GetTypeTraits(type);
  const QuantizeRowFn quantize = FindQuantizer(type);
  if (quantize == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Hearth cannot quantize to ", std::string(traits.name)));
  }
  if (cols % traits.block_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows of ", cols, " elements are not a multiple of the ",
                     std::string(traits.name), " block size ", traits.block_size));
  }
  const int64_t row_bytes = traits.RowBytes(cols);
  for (int64_t r = 0; r < rows; ++r) {
    quantize(src + r * cols, static_cast<uint8_t*>(dst) + r * row_bytes, cols);
  }
  return absl::OkStatus();
}

}  // namespace hearth::engine
