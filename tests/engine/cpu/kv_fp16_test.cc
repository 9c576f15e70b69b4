// Tests of the float -> fp16 conversion of engine/cpu/kv_storage.h: engine/quant's scalar
// FloatToHalf (what the scalar path stores) gives the same bits as F16C's vcvtps2ph (what the
// vector path stores) for floats of every exponent, every rounding case of the low mantissa
// bits and random bit patterns; and every one of the 65536 halves round-trips through
// HalfToFloat (NaNs come back quieted, as F16C does).
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/cpu/kernels/matmul.h"
#include "engine/cpu/kv_storage.h"
#include "engine/quant/fp16.h"
#include "gtest/gtest.h"

namespace hearth::engine::cpu {
namespace {

bool HaveF16c() { return CpuKernelPathSupported(CpuKernelPath::kAvx2); }  // implies F16C

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Scalar and F16C conversions of `in` agree bit for bit; also through FloatToHalfRow.
void ExpectSameBits(const std::vector<float>& in) {
  std::vector<uint16_t> f16c(in.size()), row(in.size());
  internal::FloatToHalfRowF16c(in.data(), static_cast<int64_t>(in.size()), f16c.data());
  FloatToHalfRow(in.data(), static_cast<int64_t>(in.size()), row.data());
  for (size_t i = 0; i < in.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &in[i], sizeof(bits));
    const uint16_t scalar = FloatToHalf(in[i]);
    ASSERT_EQ(scalar, f16c[i]) << std::hex << "float bits 0x" << bits;
    ASSERT_EQ(row[i], f16c[i]) << std::hex << "float bits 0x" << bits;
  }
}

// Every sign and exponent (normal and subnormal halves, overflow, float subnormals, inf, NaN),
// each with every value of the 13 mantissa bits that fp16 drops (ties, just above and below)
// under several kept-bit patterns, plus the shifts of a subnormal result (where the dropped
// bits reach higher).
TEST(KvFp16Test, ScalarMatchesF16cOnEveryExponentAndRoundingCase) {
  if (!HaveF16c()) GTEST_SKIP() << "no F16C";
  const uint32_t kHigh[] = {0x000, 0x001, 0x002, 0x155, 0x200, 0x2AA, 0x3FE, 0x3FF};
  std::vector<float> in;
  in.reserve(1 << 20);
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint32_t exp = 0; exp < 256; ++exp) {
      for (uint32_t high : kHigh) {
        in.clear();
        for (uint32_t low = 0; low < (1u << 13); ++low) {
          in.push_back(FromBits(sign << 31 | exp << 23 | high << 13 | low));
        }
        // Ties and neighbours at every bit position (subnormal results drop up to 24 bits).
        for (uint32_t bit = 0; bit < 23; ++bit) {
          for (uint32_t m : {1u << bit, (1u << bit) - 1, (1u << bit) + 1, (3u << bit) & 0x7FFFFF,
                             ((3u << bit) + 1) & 0x7FFFFF, ((3u << bit) - 1) & 0x7FFFFF}) {
            in.push_back(FromBits(sign << 31 | exp << 23 | (m & 0x7FFFFF)));
            in.push_back(FromBits(sign << 31 | exp << 23 | ((m | high << 13) & 0x7FFFFF)));
          }
        }
        ExpectSameBits(in);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(KvFp16Test, ScalarMatchesF16cOnRandomBits) {
  if (!HaveF16c()) GTEST_SKIP() << "no F16C";
  std::mt19937 rng(1);
  std::vector<float> in(1 << 22);
  for (float& x : in) x = FromBits(static_cast<uint32_t>(rng()));
  ExpectSameBits(in);
  // Odd lengths and offsets exercise the converter's tail.
  for (int64_t n : {1, 7, 9, 15, 17}) {
    std::vector<float> part(in.begin() + 3, in.begin() + 3 + n);
    ExpectSameBits(part);
  }
}

// HalfToFloat then FloatToHalf is the identity on all 65536 halves except NaNs, which come back
// as quiet NaNs with the same sign and payload (the quiet bit set), on both paths.
TEST(KvFp16Test, EveryHalfRoundTrips) {
  std::vector<float> floats(65536);
  for (uint32_t h = 0; h < 65536; ++h) floats[h] = HalfToFloat(static_cast<uint16_t>(h));
  std::vector<uint16_t> row(65536);
  FloatToHalfRow(floats.data(), 65536, row.data());
  std::vector<uint16_t> f16c(65536);
  if (HaveF16c()) internal::FloatToHalfRowF16c(floats.data(), 65536, f16c.data());
  for (uint32_t h = 0; h < 65536; ++h) {
    const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
    const uint16_t want = static_cast<uint16_t>(nan ? h | 0x200 : h);
    ASSERT_EQ(FloatToHalf(floats[h]), want) << std::hex << h;
    ASSERT_EQ(row[h], want) << std::hex << h;
    if (HaveF16c()) {
      ASSERT_EQ(f16c[h], want) << std::hex << h;
    }
  }
}

TEST(KvFp16Test, DtypeNames) {
  EXPECT_EQ(ParseKvDtype("f16"), KvDtype::kF16);
  EXPECT_EQ(ParseKvDtype("f32"), KvDtype::kF32);
  EXPECT_EQ(ParseKvDtype("auto"), std::nullopt);
  EXPECT_STREQ(KvDtypeName(KvDtype::kF16), "f16");
  EXPECT_EQ(KvDtypeBytes(KvDtype::kF16), 2);
  EXPECT_EQ(KvDtypeBytes(KvDtype::kF32), 4);
}

}  // namespace
}  // namespace hearth::engine::cpu
