// Scalar conversions and dequantizers against independent references: binary16 decoded from
// its definition with ldexp, and hand-computed blocks for the types gguf-py does not dequantize
// (Q8_1, Q8_K). The bulk bit-exactness check against gguf-py is test_dequant_vs_gguf_py.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/quant/blocks.h"
#include "engine/quant/fp16.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// binary16 by its definition: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
float ReferenceHalf(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  float mag;
  if (e == 31) {
    mag = m == 0 ? INFINITY : NAN;
  } else if (e == 0) {
    mag = std::ldexp(static_cast<float>(m), -24);
  } else {
    mag = std::ldexp(static_cast<float>(1024 + m), e - 25);
  }
  return s ? -mag : mag;
}

TEST(Fp16Test, HalfToFloatExhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = HalfToFloat(static_cast<uint16_t>(h));
    const float want = ReferenceHalf(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << h;
      // Sign and payload survive: the payload sits in the top 10 mantissa bits.
      ASSERT_EQ(Bits(got), (h & 0x8000u) << 16 | 0x7F800000u | (h & 0x3FFu) << 13) << std::hex << h;
    } else {
      ASSERT_EQ(Bits(got), Bits(want)) << std::hex << h;  // bit-exact, -0.0 included
    }
  }
}

TEST(Fp16Test, FloatToHalfRoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = FloatToHalf(HalfToFloat(static_cast<uint16_t>(h)));
    const bool nan = (h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0;
    // NaNs come back quiet (bit 9 set), sign and payload kept.
    ASSERT_EQ(back, nan ? (h | 0x200u) : h) << std::hex << h;
  }
}

TEST(Fp16Test, FloatToHalfRoundsToNearestEven) {
  const struct {
    float in;
    uint16_t want;
  } kCases[] = {
      {1.0f, 0x3C00},
      {1.0f + 0x1p-11f, 0x3C00},             // tie between 1 and 1+2^-10: even (1)
      {1.0f + 3 * 0x1p-11f, 0x3C02},         // tie: even (1 + 2^-9)
      {1.0f + 0x1p-11f + 0x1p-20f, 0x3C01},  // above the tie
      {65504.0f, 0x7BFF},                    // max half
      {65519.0f, 0x7BFF},                    // below the rounding threshold
      {65520.0f, 0x7C00},                    // rounds to inf
      {0x1p-24f, 0x0001},                    // min subnormal
      {0x1p-25f, 0x0000},                    // tie to zero (even)
      {0x1.8p-25f, 0x0001},                  // above the tie
      {-0.0f, 0x8000},
      {INFINITY, 0x7C00},
      {0x1.ff8p-15f, 0x03FF},  // max subnormal
      {0x1.ffcp-15f, 0x0400},  // tie between it and the min normal: even
  };
  for (const auto& c : kCases) EXPECT_EQ(FloatToHalf(c.in), c.want) << c.in;
}

TEST(Fp16Test, BFloat16IsTheTopHalf) {
  for (uint32_t b = 0; b < 65536; ++b) ASSERT_EQ(Bits(BFloat16ToFloat(b)), b << 16);
}

TEST(DequantizeTest, TraitsSizesMatchBlockStructs) {
  EXPECT_EQ(GetTypeTraits(GgmlType::kQ4_K).type_size, int64_t{sizeof(BlockQ4_K)});
  EXPECT_EQ(GetTypeTraits(GgmlType::kQ6_K).type_size, int64_t{sizeof(BlockQ6_K)});
  EXPECT_EQ(GetTypeTraits(GgmlType::kQ8_1).type_size, int64_t{sizeof(BlockQ8_1)});
  EXPECT_EQ(GetTypeTraits(GgmlType::kQ8_K).type_size, int64_t{sizeof(BlockQ8_K)});
}

TEST(DequantizeTest, Q4_0HandBlock) {
  BlockQ4_0 b{};
  b.d = FloatToHalf(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  float y[32];
  GetTypeTraits(GgmlType::kQ4_0).dequantize(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;            // low nibbles first
    EXPECT_EQ(y[j + 16], 0.5f * (15 - j - 8)) << j;  // then high nibbles
  }
}

TEST(DequantizeTest, Q8_1AndQ8_KAreScaleTimesQuant) {
  std::mt19937 rng(7);
  std::vector<BlockQ8_1> q81(3);
  std::vector<BlockQ8_K> q8k(2);
  for (auto& b : q81) {
    b.d = FloatToHalf(std::uniform_real_distribution<float>(-2, 2)(rng));
    b.s = 0x7C00;  // inf: must not leak into the values
    for (auto& q : b.qs) q = static_cast<int8_t>(rng());
  }
  for (auto& b : q8k) {
    b.d = std::uniform_real_distribution<float>(-2, 2)(rng);
    for (auto& q : b.qs) q = static_cast<int8_t>(rng());
  }
  std::vector<float> y(3 * 32);
  GetTypeTraits(GgmlType::kQ8_1).dequantize(q81.data(), y.data(), 3 * 32);
  for (int i = 0; i < 3 * 32; ++i) {
    ASSERT_EQ(y[i], HalfToFloat(q81[i / 32].d) * q81[i / 32].qs[i % 32]) << i;
  }
  y.resize(2 * 256);
  GetTypeTraits(GgmlType::kQ8_K).dequantize(q8k.data(), y.data(), 2 * 256);
  for (int i = 0; i < 2 * 256; ++i) ASSERT_EQ(y[i], q8k[i / 256].d * q8k[i / 256].qs[i % 256]);
}

TEST(DequantizeTest, UnalignedSourceAndZeroLength) {
  // Kernels must not assume alignment: dequantize a Q8_0 block at an odd address.
  alignas(8) uint8_t buf[1 + sizeof(BlockQ8_0)] = {};
  BlockQ8_0 b{};
  b.d = FloatToHalf(0.25f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j - 16);
  std::memcpy(buf + 1, &b, sizeof(b));
  float y[32];
  GetTypeTraits(GgmlType::kQ8_0).dequantize(buf + 1, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.25f * (j - 16));
  float untouched = 42.0f;
  for (const TypeTraits& t : AllTypeTraits()) {
    if (t.supported()) t.dequantize(nullptr, &untouched, 0);
  }
  EXPECT_EQ(untouched, 42.0f);
}

}  // namespace
}  // namespace hearth::engine
