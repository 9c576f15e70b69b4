// On-disk block layouts of the block-quantized ggml types, byte for byte as GGUF stores them.
//
// Every struct is trivially copyable, has no padding, and its size is the type's `type_size` in
// the traits table (static_asserts below). Fields are little-endian; `Half` is an IEEE binary16
// bit pattern (convert with HalfToFloat in engine/quant/fp16.h).
//
// Element order inside a block (what dequantization produces, index 0..block_size-1):
//   Q4_0/Q4_1:  element j < 16 is the low nibble of qs[j], element j + 16 its high nibble.
//   Q5_0/Q5_1:  as Q4, with bit 4 of element j taken from bit j of the 32-bit qh.
//   Q8_0/Q8_1:  element j is qs[j].
//   K-quants:   256 elements in sub-blocks of 16 (Q2_K, Q3_K, Q6_K) or 32 (Q4_K, Q5_K) sharing a
//               scale; see the per-struct comments and engine/quant/dequantize_k.cc.
#pragma once

#include <cstdint>
#include <type_traits>

namespace hearth::engine {

using Half = uint16_t;  // binary16 bits

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK_K = 256;       // super-block size of the K-quants
inline constexpr int kKScaleSize = 12;  // packed 6-bit scales and mins of Q4_K / Q5_K

// x = d * (q - 8), q in [0, 15].
struct BlockQ4_0 {
  Half d;
  uint8_t qs[kQK4_0 / 2];
};

// x = d * q + m, q in [0, 15].
struct BlockQ4_1 {
  Half d;
  Half m;
  uint8_t qs[kQK4_1 / 2];
};

// x = d * (q - 16), q in [0, 31].
struct BlockQ5_0 {
  Half d;
  uint8_t qh[4];  // bit j: bit 4 of element j
  uint8_t qs[kQK5_0 / 2];
};

// x = d * q + m, q in [0, 31].
struct BlockQ5_1 {
  Half d;
  Half m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};

// x = d * q.
struct BlockQ8_0 {
  Half d;
  int8_t qs[kQK8_0];
};

// x = d * q; s = d * sum(q) (used by dot products with Q4_1/Q5_1). As ggml stores it today
// (two halves: 36 bytes; gguf-py's GGML_QUANT_SIZES still says 40, from an older layout).
struct BlockQ8_1 {
  Half d;
  Half s;
  int8_t qs[kQK8_1];
};

// 16 sub-blocks of 16. Element e = 128*j + 32*s + l (j < 2, s < 4, l < 32) is
// (qs[32*j + l] >> 2*s) & 3; x = d * (scales[e/16] & 15) * q - dmin * (scales[e/16] >> 4).
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  Half d;
  Half dmin;
};

// 16 sub-blocks of 16, 6-bit signed scales (packed, offset 32). Element e = 128*j + 32*s + l:
// low bits (qs[32*j + l] >> 2*s) & 3, minus 4 when bit e/32 of hmask[l] is clear;
// x = d * (scale[e/16] - 32) * q.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  Half d;
};

// 8 sub-blocks of 32 with 6-bit scale and min each (packed in `scales`, see UnpackScaleMinK4).
// Element e = 64*c + 32*h + l: q = (qs[32*c + l] >> 4*h) & 15; sub-block 2*c + h;
// x = d * sc * q - dmin * m.
struct BlockQ4_K {
  Half d;
  Half dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};

// As Q4_K plus a fifth bit: bit 4 of element e is (qh[e % 32] >> (e / 32)) & 1.
struct BlockQ5_K {
  Half d;
  Half dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 16 sub-blocks of 16 with int8 scales. Element e = 128*j + r: low nibble
// (ql[64*j + r % 64] >> 4*(r / 64)) & 15, high bits (qh[32*j + r % 32] >> 2*(r / 32)) & 3;
// x = d * scales[e/16] * (q - 32).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  Half d;
};

// Intermediate quantization for dot products: x = d * q; bsums[i] = sum of qs[16*i .. 16*i+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(std::is_trivially_copyable_v<BlockQ4_K> && std::is_trivially_copyable_v<BlockQ6_K>);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block:
//   j < 4: sc = s[j] & 63,                         m = s[j + 4] & 63
//   j ≥ 4: sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4, m = (s[j + 4] >> 4) | (s[j] >> 6) << 4
inline void UnpackScaleMinK4(const uint8_t* s, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

}  // namespace hearth::engine
