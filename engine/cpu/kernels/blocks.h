// Byte layouts of the weight blocks the CPU kernels read, and of the 8-bit activation blocks
// they quantize x into. Weight layouts follow GGUF/ggml exactly (they are on-disk formats).
//
// The weight structs mirror engine/quant/blocks.h with raw uint16_t fp16 fields (what the
// intrinsics take); the static_asserts at the bottom pin every field offset to that header.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/quant/blocks.h"

namespace hearth::engine::cpu::kern {

constexpr int kQK = 32;    // elements per block of the 32-element types
constexpr int kQKK = 256;  // elements per super-block of the K-quants

// x[i] = d * (q[i] - 8); qs[j] holds element j (low nibble) and j + 16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;  // fp16
  uint8_t qs[kQK / 2];
};
// x[i] = d * q[i] + m; same nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;  // fp16
  uint16_t m;  // fp16
  uint8_t qs[kQK / 2];
};
// x[i] = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[kQK];
};
// 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], (sc, m) 6-bit packed in `scales`.
// qs[32 * c + l]: low nibble = sub-block 2c element l, high nibble = sub-block 2c + 1.
struct BlockQ4_K {
  uint16_t d;     // fp16
  uint16_t dmin;  // fp16
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
// As Q4_K plus a fifth bit: bit (2c) of qh[l] for sub-block 2c, bit (2c + 1) for 2c + 1.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
// 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q 6 bits (4 in ql, 2 in qh).
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;  // fp16
};
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// Activations for the 32-element weight types: x[i] ~= d * q[i], |q| <= 127, s = d * sum(q).
// The two integer offsets start the int8 dot products where the weights are shifted to
// unsigned: (q_w - 8) . q = q_w . q - 8 sum(q) (Q4_0), and (w + 128) . q - 128 sum(q) (Q8_0 on
// the dot-product instructions that take unsigned weights).
struct ActQ8 {
  float d;
  float s;
  int32_t neg8_sum;    // -8 * sum(q)
  int32_t neg128_sum;  // -128 * sum(q)
  int8_t q[kQK];
};
// Activations for the K-quants: x[i] ~= d * q[i], bsums[j] = sum of q over [16j, 16j + 16).
struct ActQ8K {
  float d;
  int8_t q[kQKK];
  int16_t bsums[kQKK / 16];
};
static_assert(sizeof(ActQ8) == 48);
static_assert(sizeof(ActQ8K) == 292);

// (scale, min) of sub-block j (0..7) of a Q4_K / Q5_K block.
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Exact IEEE half -> float (portable; SIMD code uses F16C, which gives the same bits).
inline float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

inline float Bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

#define HEARTH_SAME_FIELD(T, f) \
  static_assert(offsetof(T, f) == offsetof(::hearth::engine::T, f), #T "." #f)
static_assert(sizeof(BlockQ4_0) == sizeof(::hearth::engine::BlockQ4_0));
static_assert(sizeof(BlockQ4_1) == sizeof(::hearth::engine::BlockQ4_1));
static_assert(sizeof(BlockQ8_0) == sizeof(::hearth::engine::BlockQ8_0));
static_assert(sizeof(BlockQ4_K) == sizeof(::hearth::engine::BlockQ4_K));
static_assert(sizeof(BlockQ5_K) == sizeof(::hearth::engine::BlockQ5_K));
static_assert(sizeof(BlockQ6_K) == sizeof(::hearth::engine::BlockQ6_K));
HEARTH_SAME_FIELD(BlockQ4_0, qs);
HEARTH_SAME_FIELD(BlockQ4_1, m);
HEARTH_SAME_FIELD(BlockQ4_1, qs);
HEARTH_SAME_FIELD(BlockQ8_0, qs);
HEARTH_SAME_FIELD(BlockQ4_K, dmin);
HEARTH_SAME_FIELD(BlockQ4_K, scales);
HEARTH_SAME_FIELD(BlockQ4_K, qs);
HEARTH_SAME_FIELD(BlockQ5_K, scales);
HEARTH_SAME_FIELD(BlockQ5_K, qh);
HEARTH_SAME_FIELD(BlockQ5_K, qs);
HEARTH_SAME_FIELD(BlockQ6_K, qh);
HEARTH_SAME_FIELD(BlockQ6_K, scales);
HEARTH_SAME_FIELD(BlockQ6_K, d);
#undef HEARTH_SAME_FIELD

}  // namespace hearth::engine::cpu::kern
