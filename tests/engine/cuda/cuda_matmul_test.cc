// CUDA dequantization and matmul against the CPU oracle (engine/quant's dequantizers, which are
// bit-exact with gguf-py) and a float64 reference product.
//
// Bounds, relative to mag = sum_c |w[r, c] * x[t, c]| of each output:
//   GEMV (n <= 8, fp32):   |y - ref| <= 1e-5 * mag. The weights are bit-identical to the CPU's,
//       so the only error is fp32 accumulation: (cols / 32 + 5) * 2^-24 ~ 1.7e-6 for cols 768.
//   cuBLAS (fp16 inputs, fp32 accumulate): |y - ref| <= (2 * 2^-11 + (cols + 2) * 2^-24) * mag
//       (~1.02e-3 for cols 768): w and x each rounded to fp16 once, then fp32 sums.
// Every output buffer is poisoned with NaN (0xFF bytes) first, so a skipped element fails.
#include "engine/cuda/cuda_matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/cuda/dequantize.h"
#include "engine/cuda/matmul.h"
#include "engine/quant/fp16.h"
#include "engine/quant/ggml_type.h"
#include "tests/engine/cuda/cuda_test_util.h"

namespace hearth::engine::cuda {
namespace {

using cuda_test::CpuDequantize;
using cuda_test::RandomActivations;
using cuda_test::RandomBlocks;
using cuda_test::ReferenceMatMul;

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                               GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0,
                               GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
constexpr int kBatches[] = {1, 3, 8, 17, 64};
constexpr int64_t kRows = 37;  // odd: rows start at every alignment modulo 16

// 576 (= 18 blocks of 32, not a multiple of the GEMV's 1024-element chunk) for 32-element types.
int64_t ColsFor(GgmlType type) { return GetTypeTraits(type).block_size == 256 ? 768 : 576; }

std::string Name(GgmlType type) { return std::string(GetTypeTraits(type).name); }

class CudaKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device";
  }
};

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST_F(CudaKernelTest, DequantizeMatchesCpuBitExact) {
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(Name(type));
    std::mt19937 rng(1234 + static_cast<int>(type));
    const int64_t cols = ColsFor(type), n = kRows * cols;
    // Scales from 2^-24 up: subnormal fp16 scales included.
    const std::vector<uint8_t> blocks = RandomBlocks(type, kRows, cols, &rng, -24, 4);
    const std::vector<float> want = CpuDequantize(type, blocks, n);

    auto src = CudaBuffer::Allocate(blocks.size());
    ASSERT_TRUE(src.ok()) << src.status();
    ASSERT_TRUE(src->Upload(blocks.data(), blocks.size()).ok());
    auto out32 = CudaBuffer::Allocate(n * sizeof(float));
    auto out16 = CudaBuffer::Allocate(n * sizeof(uint16_t));
    ASSERT_TRUE(out32.ok() && out16.ok());
    ASSERT_TRUE(out32->Fill(0xFF).ok());
    ASSERT_TRUE(out16->Fill(0xFF).ok());
    ASSERT_TRUE(CudaStatus(LaunchDequantize({type, src->data(), out32->data(), n, false}, nullptr),
                           "dequantize fp32")
                    .ok());
    ASSERT_TRUE(CudaStatus(LaunchDequantize({type, src->data(), out16->data(), n, true}, nullptr),
                           "dequantize fp16")
                    .ok());
    std::vector<float> got32(n);
    std::vector<uint16_t> got16(n);
    ASSERT_TRUE(out32->Download(got32.data(), n * sizeof(float)).ok());
    ASSERT_TRUE(out16->Download(got16.data(), n * sizeof(uint16_t)).ok());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(want[i])) << i;
      ASSERT_EQ(Bits(got32[i]), Bits(want[i]))
          << "fp32 element " << i << ": " << got32[i] << " vs " << want[i];
      // fp16 output is the same float rounded to nearest even (FloatToHalf is exhaustively
      // tested against its definition in tests/engine/quant).
      ASSERT_EQ(got16[i], FloatToHalf(want[i])) << "fp16 element " << i;
    }
  }
}

// One (type, n, path) case of the table below; records the worst error / magnitude ratio and
// returns y ([n, kRows]).
std::vector<float> CheckMatMul(GgmlType type, int n, MatMulPath path, CudaMatMul* mm) {
  const int64_t cols = ColsFor(type);
  std::mt19937 rng(99 + 31 * static_cast<int>(type) + n);
  const std::vector<uint8_t> blocks = RandomBlocks(type, kRows, cols, &rng);
  const std::vector<float> w = CpuDequantize(type, blocks, kRows * cols);
  const std::vector<float> x = RandomActivations(n, cols, &rng);
  std::vector<double> ref, mag;
  ReferenceMatMul(w, x, kRows, cols, n, &ref, &mag);

  std::vector<float> y(ref.size(), NAN);
  auto weight = CudaWeight::Upload(type, kRows, cols, blocks.data());
  EXPECT_TRUE(weight.ok()) << weight.status();
  auto xd = CudaBuffer::Allocate(x.size() * sizeof(float));
  auto yd = CudaBuffer::Allocate(ref.size() * sizeof(float));
  if (!weight.ok() || !xd.ok() || !yd.ok()) {
    ADD_FAILURE() << "allocation";
    return y;
  }
  EXPECT_TRUE(xd->Upload(x.data(), x.size() * sizeof(float)).ok());
  EXPECT_TRUE(yd->Fill(0xFF).ok());
  absl::Status s = mm->Run(*weight, xd->as<float>(), yd->as<float>(), n, path);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(CudaStatus(cudaStreamSynchronize(mm->stream()), "sync").ok());
  EXPECT_TRUE(yd->Download(y.data(), y.size() * sizeof(float)).ok());

  const bool gemv = path == MatMulPath::kGemv || (path == MatMulPath::kAuto && n <= kGemvMaxN);
  const double rel = gemv ? 1e-5 : 2 * std::ldexp(1.0, -11) + (cols + 2) * std::ldexp(1.0, -24);
  const char* name = gemv ? "gemv" : path == MatMulPath::kTensorCore ? "tensor_core" : "cublas";
  double worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isnan(y[i])) {
      ADD_FAILURE() << "y[" << i << "] not written (" << name << ")";
      return y;
    }
    const double err = std::fabs(y[i] - ref[i]);
    if (err > rel * mag[i] + 1e-30) {
      ADD_FAILURE() << "t=" << i / kRows << " r=" << i % kRows << " y=" << y[i] << " ref=" << ref[i]
                    << " mag=" << mag[i] << " (" << name << ")";
      return y;
    }
    worst = std::max(worst, err / (mag[i] + 1e-300));
  }
  ::testing::Test::RecordProperty(absl::StrCat(Name(type), "_n", n, "_", name),
                                  absl::StrCat(worst));
  return y;
}

TEST_F(CudaKernelTest, MatMulAutoPathMatchesFloat64Reference) {
  auto mm = CudaMatMul::Create();
  ASSERT_TRUE(mm.ok()) << mm.status();
  for (GgmlType type : kTypes) {
    for (int n : kBatches) {
      SCOPED_TRACE(absl::StrCat(Name(type), " n=", n));
      CheckMatMul(type, n, MatMulPath::kAuto, mm->get());
    }
  }
}

// The cuBLAS path below its usual batch sizes, with row tiles of 16 rows (37 = 16 + 16 + 5), and
// the GEMV with one and several token groups.
TEST_F(CudaKernelTest, ForcedPathsAndTiles) {
  for (GgmlType type : kTypes) {
    auto tiled = CudaMatMul::Create(nullptr, 16 * ColsFor(type) * 2);
    ASSERT_TRUE(tiled.ok()) << tiled.status();
    for (int n : {1, 3, 17}) {
      SCOPED_TRACE(absl::StrCat(Name(type), " cublas tiled n=", n));
      CheckMatMul(type, n, MatMulPath::kCublas, tiled->get());
    }
    for (int n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17}) {  // 9, 17: token groups of 8 (grid.y)
      SCOPED_TRACE(absl::StrCat(Name(type), " gemv n=", n));
      CheckMatMul(type, n, MatMulPath::kGemv, tiled->get());
    }
  }
}

// The tensor-core kernel at decode and prefill batch sizes, and its batch invariance on the
// device: one x of 200 rows, and the first tokens' outputs are the same bits at every n.
TEST_F(CudaKernelTest, TensorCorePathMatchesFloat64AndIsBatchInvariant) {
  auto mm = CudaMatMul::Create();
  ASSERT_TRUE(mm.ok()) << mm.status();
  for (GgmlType type : kTypes) {
    for (int n : {1, 7, 8, 9, 64, 200}) {
      SCOPED_TRACE(absl::StrCat(Name(type), " tensor core n=", n));
      CheckMatMul(type, n, MatMulPath::kTensorCore, mm->get());
    }
    // Invariance: the same weights and the same first rows of x at n = 1, 8, 9, 200.
    const int64_t cols = ColsFor(type);
    std::mt19937 rng(5 + static_cast<int>(type));
    const auto blocks = RandomBlocks(type, kRows, cols, &rng);
    const auto x = RandomActivations(200, cols, &rng);
    auto weight = CudaWeight::Upload(type, kRows, cols, blocks.data());
    auto xd = CudaBuffer::Allocate(x.size() * sizeof(float));
    auto yd = CudaBuffer::Allocate(200 * kRows * sizeof(float));
    ASSERT_TRUE(weight.ok() && xd.ok() && yd.ok());
    ASSERT_TRUE(xd->Upload(x.data(), x.size() * sizeof(float)).ok());
    std::vector<float> first;
    for (int n : {200, 9, 8, 1}) {
      ASSERT_TRUE(
          (*mm)->Run(*weight, xd->as<float>(), yd->as<float>(), n, MatMulPath::kTensorCore).ok());
      ASSERT_TRUE(CudaStatus(cudaStreamSynchronize((*mm)->stream()), "sync").ok());
      std::vector<float> y(static_cast<size_t>(n) * kRows);
      ASSERT_TRUE(yd->Download(y.data(), y.size() * sizeof(float)).ok());
      if (first.empty()) first = y;
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_EQ(Bits(y[i]), Bits(first[i])) << Name(type) << " n=" << n << " element " << i;
      }
    }
  }
}

// Argument checks happen before any CUDA call: these run without a device.
TEST(CudaArgs, RejectsBadShapesAndTypes) {
  EXPECT_FALSE(CudaSupportsType(GgmlType::kQ5_0));
  EXPECT_TRUE(CudaSupportsType(GgmlType::kF32));
  EXPECT_FALSE(CudaSupportsType(GgmlType::kQ2_K));
  EXPECT_TRUE(CudaSupportsType(GgmlType::kQ6_K));
  EXPECT_EQ(CudaBlockElems(GgmlType::kF16), 1);
  EXPECT_EQ(CudaBlockBytes(GgmlType::kF16), 2);
  for (GgmlType t : kTypes) {
    EXPECT_EQ(CudaBlockElems(t), GetTypeTraits(t).block_size) << Name(t);
    EXPECT_EQ(CudaBlockBytes(t), GetTypeTraits(t).type_size) << Name(t);
  }
  const uint8_t dummy[64] = {};
  EXPECT_EQ(CudaWeight::Upload(GgmlType::kQ5_0, 1, 32, dummy).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CudaWeight::Upload(GgmlType::kQ4_K, 1, 32, dummy).status().code(),
            absl::StatusCode::kInvalidArgument);  // 32 is not a multiple of 256
  EXPECT_EQ(CudaWeight::Upload(GgmlType::kQ8_0, 1, 48, dummy).status().code(),
            absl::StatusCode::kInvalidArgument);
  float f = 0;
  EXPECT_EQ(LaunchGemv({GgmlType::kQ8_0, dummy, &f, &f, 2, 32, 1, /*ldy=*/1}, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(LaunchGemv({GgmlType::kQ8_0, dummy, &f, &f, 1, 32, 0}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(LaunchGemv({GgmlType::kQ4_K, dummy, &f, &f, 1, 32, 1}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(LaunchGemv({GgmlType::kQ5_0, dummy, &f, &f, 1, 32, 1}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(LaunchDequantize({GgmlType::kQ8_0, dummy, &f, 12, false}, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(LaunchDequantize({GgmlType::kQ4_K, dummy, &f, 32, false}, nullptr),
            cudaErrorInvalidValue);
}

}  // namespace
}  // namespace hearth::engine::cuda
