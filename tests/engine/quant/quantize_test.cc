// Quantizers (engine/quant/quantize.h): what each type's error must be, edge blocks, and
// properties a wrong packing would break. The bit-exact comparison with gguf-py's quantizers
// (Q4_0, Q4_1, Q8_0, F16, BF16) and the decode of every type by gguf-py's dequantizers is
// test_quantize_vs_gguf_py.py.
#include "engine/quant/quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/quant/blocks.h"
#include "engine/quant/fp16.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine {
namespace {

using T = GgmlType;

std::vector<float> Gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> RoundTrip(T type, const std::vector<float>& x) {
  const TypeTraits& traits = GetTypeTraits(type);
  std::vector<uint8_t> q(traits.RowBytes(static_cast<int64_t>(x.size())));
  EXPECT_TRUE(QuantizeRows(type, x.data(), 1, static_cast<int64_t>(x.size()), q.data()).ok());
  std::vector<float> y(x.size());
  traits.dequantize(q.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

double RelativeRmsError(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (double{x[i]} - y[i]) * (double{x[i]} - y[i]);
    ref += double{x[i]} * x[i];
  }
  return std::sqrt(err / ref);
}

// Relative RMS error on unit Gaussian rows, measured with these quantizers on 64k values and
// bounded ~10% above. They agree with the uniform-quantizer estimate step / sqrt(12): Q8_0's
// step is max|x| / 127 over 32 values (~2.1 sigma / 127 -> 0.0048), Q4_0's max|x| / 8 plus
// clipping (~0.08), Q4_1's (max - min) / 15 (~0.079); the K-quants search their sub-block
// scales, so Q4_K at 4.5 bits per weight still edges out Q4_1 at 5.0, Q5_K halves that, and
// Q6_K (16-value sub-blocks, 64 levels) is ~1.8%.
struct ErrorCase {
  T type;
  double max_rel_rms;
};
const ErrorCase kErrorCases[] = {
    {T::kF16, 3e-4},   {T::kBF16, 2.5e-3}, {T::kQ8_0, 0.006}, {T::kQ6_K, 0.0195},
    {T::kQ5_K, 0.040}, {T::kQ4_K, 0.079},  {T::kQ4_1, 0.086}, {T::kQ4_0, 0.095},
};

TEST(QuantizeTest, ErrorWithinTypeBound) {
  const std::vector<float> x = Gaussian(1 << 16, 7);
  double previous = 0;
  for (const ErrorCase& c : kErrorCases) {
    const double e = RelativeRmsError(x, RoundTrip(c.type, x));
    EXPECT_LT(e, c.max_rel_rms) << GetTypeTraits(c.type).name;
    // Fewer bits never beat more bits (the table is in order of precision).
    EXPECT_GT(e, previous) << GetTypeTraits(c.type).name;
    previous = e;
  }
}

TEST(QuantizeTest, ErrorScalesWithData) {
  // The scales follow the data: the same rows at the scale of real weights (sigma 0.02) or
  // times 100 keep the relative error. (Far smaller values push Q6_K's fp16 super-block
  // scale, ~sigma / 1000, into fp16's subnormal range, where it loses precision; that is the
  // format, llama.cpp's files do the same.)
  for (T type : {T::kQ4_0, T::kQ4_1, T::kQ8_0, T::kQ4_K, T::kQ5_K, T::kQ6_K}) {
    const double base = RelativeRmsError(Gaussian(4096, 3), RoundTrip(type, Gaussian(4096, 3)));
    for (float sigma : {0.02f, 100.0f}) {
      const std::vector<float> x = Gaussian(4096, 3, sigma);
      EXPECT_NEAR(RelativeRmsError(x, RoundTrip(type, x)), base, base * 0.1)
          << GetTypeTraits(type).name << " sigma " << sigma;
    }
  }
}

TEST(QuantizeTest, PerElementBoundOfBlockTypes) {
  // Q8_0 rounds to the nearest of 255 levels: |x - y| <= d/2 plus the fp16 rounding of d
  // (relative 2^-11, times at most 127 levels).
  const std::vector<float> x = Gaussian(4096, 11);
  const std::vector<float> y = RoundTrip(T::kQ8_0, x);
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127;
    for (int j = 0; j < 32; ++j) {
      ASSERT_LE(std::fabs(x[b + j] - y[b + j]), d * (0.5f + 127.0f / 2048) + 1e-7f) << b + j;
    }
  }
}

TEST(QuantizeTest, ZeroLengthTouchesNothing) {
  // UBSan: a zero-length row may come with null pointers (memcpy(dst, nullptr, 0) is UB).
  for (T type :
       {T::kF32, T::kF16, T::kBF16, T::kQ4_0, T::kQ4_1, T::kQ8_0, T::kQ4_K, T::kQ5_K, T::kQ6_K}) {
    const QuantizeRowFn quantize = FindQuantizer(type);
    ASSERT_NE(quantize, nullptr) << GetTypeTraits(type).name;
    quantize(nullptr, nullptr, 0);
  }
}

TEST(QuantizeTest, ZeroAndConstantBlocks) {
  for (T type : {T::kQ4_0, T::kQ4_1, T::kQ8_0, T::kQ4_K, T::kQ5_K, T::kQ6_K}) {
    const std::vector<float> zeros(512, 0.0f);
    for (float v : RoundTrip(type, zeros)) ASSERT_EQ(v, 0.0f) << GetTypeTraits(type).name;
    // A constant block is a degenerate range; the value must survive to fp16 precision.
    const std::vector<float> twos(512, 2.0f);
    for (float v : RoundTrip(type, twos)) ASSERT_NEAR(v, 2.0f, 2e-3f) << GetTypeTraits(type).name;
    const std::vector<float> minus(512, -0.75f);
    for (float v : RoundTrip(type, minus)) {
      ASSERT_NEAR(v, -0.75f, 2e-3f) << GetTypeTraits(type).name;
    }
  }
}

TEST(QuantizeTest, ExtremesAreRepresentedByEveryBlockType) {
  // One outlier per block: the types keep the block's largest magnitude close (a wrong scale
  // packing or nibble order shows up here first).
  std::vector<float> x = Gaussian(2048, 5, 0.1f);
  for (size_t i = 0; i < x.size(); i += 256) x[i + 37] = 4.0f;
  for (T type : {T::kQ4_0, T::kQ4_1, T::kQ8_0, T::kQ4_K, T::kQ5_K, T::kQ6_K}) {
    const std::vector<float> y = RoundTrip(type, x);
    for (size_t i = 0; i < x.size(); i += 256) {
      ASSERT_NEAR(y[i + 37], 4.0f, 0.2f) << GetTypeTraits(type).name << " block " << i / 256;
    }
  }
}

TEST(QuantizeTest, RowsAreIndependent) {
  // QuantizeRows over many rows equals quantizing each row alone (what lets `hearth quantize`
  // split a tensor across threads without changing a byte).
  const int64_t rows = 7, cols = 512;
  const std::vector<float> x = Gaussian(rows * cols, 9);
  for (T type : {T::kQ4_0, T::kQ8_0, T::kQ4_K, T::kQ6_K}) {
    const int64_t rb = GetTypeTraits(type).RowBytes(cols);
    std::vector<uint8_t> all(rows * rb), one(rb);
    ASSERT_TRUE(QuantizeRows(type, x.data(), rows, cols, all.data()).ok());
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(QuantizeRows(type, x.data() + r * cols, 1, cols, one.data()).ok());
      ASSERT_EQ(0, std::memcmp(one.data(), all.data() + r * rb, rb)) << r;
    }
  }
}

TEST(QuantizeTest, Q6KScalesUseTheFullInt8Range) {
  // The sub-block with the largest scale is stored as -128 (llama.cpp's convention): the
  // super-block scale is chosen so that no precision of the int8 scales is wasted.
  const std::vector<float> x = Gaussian(256, 13);
  BlockQ6_K b;
  ASSERT_TRUE(QuantizeRows(T::kQ6_K, x.data(), 1, 256, &b).ok());
  int most = 0;
  for (int8_t s : b.scales) most = std::max(most, std::abs(int{s}));
  EXPECT_EQ(most, 128);
}

TEST(QuantizeTest, RejectsBadShapesAndTypes) {
  std::vector<float> x(100, 1.0f);
  std::vector<uint8_t> out(1024);
  absl::Status st = QuantizeRows(T::kQ4_K, x.data(), 1, 100, out.data());
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(std::string(st.message()).find("block size 256"), std::string::npos) << st;
  st = QuantizeRows(T::kQ2_K, x.data(), 1, 256, out.data());
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_EQ(FindQuantizer(T::kIQ2_XS), nullptr);
}

}  // namespace
}  // namespace hearth::engine
