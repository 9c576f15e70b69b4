// The tensor-core matmul's body (mma_gemm_device.cuh) replayed on the host with an emulated
// mma.sync (replay_ctx.h): the staging of unaligned rows, the fp16 tile, the fragment indexing
// and the slice sum, against a float64 product of the same fp16-rounded operands, and its
// batch invariance (a token's outputs are the same bits whatever n and the token tile).
//
// Bound: the operands are exactly the fp16 values the reference uses, so the only error is the
// fp32 accumulation: one rounding per 16-element mma step and per slice sum, relative to
// mag = sum |w x|: (cols / 16 + 8) * 2^-24 * mag (the emulation rounds each mma once; hardware
// may round internally a little more, which the GPU test's looser bound allows).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/matmul.h"
#include "engine/cuda/mma_gemm.h"
#include "engine/quant/fp16.h"
#include "engine/quant/ggml_type.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/cuda/host_replay.h"

namespace hearth::engine::cuda_test {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                               GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0,
                               GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float RoundHalf(float v) { return HalfToFloat(FloatToHalf(v)); }

struct Product {
  std::vector<float> y;  // [n, ldy]
};

// Runs the replay for tokens [0, n) of x (cols wide) and returns y [n, ldy] (NaN where unwritten).
std::vector<float> Replay(GgmlType type, const uint8_t* w, int64_t rows, int64_t cols,
                          const std::vector<uint16_t>& x16, int n, int64_t ldy) {
  std::vector<float> y(static_cast<size_t>(n) * ldy, NAN);
  cuda::MmaGemmParams p;
  p.type = static_cast<uint32_t>(type);
  p.w = w;
  p.x = x16.data();
  p.y = y.data();
  p.rows = rows;
  p.cols = cols;
  p.ldy = ldy;
  p.n = n;
  EXPECT_TRUE(ReplayMmaGemm(p));
  return y;
}

TEST(CudaHostMma, MatchesFloat64OfHalfOperandsAndIsBatchInvariant) {
  for (GgmlType type : kTypes) {
    const bool k_quant = GetTypeTraits(type).block_size == 256;
    // 576 = 2.25 chunks of 256 (a partial chunk); 768 three K-quant superblocks.
    const int64_t cols = k_quant ? 768 : 576;
    const int64_t rows = 21;  // a partial row tile; odd row byte counts
    SCOPED_TRACE(std::string(GetTypeTraits(type).name));
    std::mt19937 rng(17 + static_cast<int>(type));
    const auto blocks = RandomBlocks(type, rows, cols, &rng);
    // The arena's layout: 256-byte aligned, kWeightPadBytes readable after the data.
    std::vector<uint8_t> storage(blocks.size() + cuda::kWeightPadBytes + 256);
    uint8_t* base = storage.data() + (256 - reinterpret_cast<uintptr_t>(storage.data()) % 256);
    std::memcpy(base, blocks.data(), blocks.size());
    const auto wf = CpuDequantize(type, blocks, rows * cols);

    const int kMaxN = 137;  // two token tiles of 128
    const auto x = RandomActivations(kMaxN, cols, &rng);
    std::vector<uint16_t> x16(x.size());
    std::vector<float> xh(x.size()), wh(wf.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x16[i] = FloatToHalf(x[i]);
      xh[i] = HalfToFloat(x16[i]);
    }
    for (size_t i = 0; i < wf.size(); ++i) wh[i] = RoundHalf(wf[i]);
    std::vector<double> ref, mag;
    ReferenceMatMul(wh, xh, rows, cols, kMaxN, &ref, &mag);
    const double rel = (cols / 16.0 + 8) * std::ldexp(1.0, -24);

    const int64_t ldy = rows + 3;  // outputs at a row stride, as a fused matrix's segments
    const auto full = Replay(type, base, rows, cols, x16, kMaxN, ldy);
    for (int t = 0; t < kMaxN; ++t) {
      for (int64_t r = 0; r < ldy; ++r) {
        const float v = full[t * ldy + r];
        if (r >= rows) {
          ASSERT_TRUE(std::isnan(v)) << "wrote past the rows: t=" << t << " r=" << r;
          continue;
        }
        const double want = ref[t * rows + r];
        ASSERT_LE(std::fabs(v - want), rel * mag[t * rows + r] + 1e-30)
            << "t=" << t << " r=" << r << " got " << v << " want " << want;
      }
    }
    // The same tokens in smaller batches: the decode tile (n <= 8) and a smaller prefill tile
    // give the same bits.
    for (int n : {1, 5, 8, 9}) {
      const auto part = Replay(type, base, rows, cols, x16, n, ldy);
      for (int t = 0; t < n; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(Bits(part[t * ldy + r]), Bits(full[t * ldy + r]))
              << "n=" << n << " t=" << t << " r=" << r;
        }
      }
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cuda_test
