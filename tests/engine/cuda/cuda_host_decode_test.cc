// Runs the CUDA kernels' device code on the host (no GPU needed, see host_replay.h): the
// block decoders against the CPU dequantizers (bit-exact), and a replay of the GEMV's warps
// against a float64 product. What this cannot check (shared memory and shuffles on real
// hardware, launches) cuda_matmul_test checks on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda/matmul.h"
#include "engine/quant/ggml_type.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/cuda/host_replay.h"

namespace hearth::engine::cuda_test {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                               GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0,
                               GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

std::string Name(GgmlType t) { return std::string(GetTypeTraits(t).name); }

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(CudaHostDecode, GroupDecodersMatchCpuBitExact) {
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(Name(type));
    std::mt19937 rng(7 + static_cast<int>(type));
    const int64_t n = 16 * 1024;
    const auto blocks = RandomBlocks(type, 16, 1024, &rng, -24, 4);  // subnormal scales too
    const auto want = CpuDequantize(type, blocks, n);
    std::vector<float> got(n, NAN);
    ASSERT_TRUE(HostDecode(static_cast<uint32_t>(type), blocks.data(), n, got.data()));
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(Bits(got[i]), Bits(want[i]))
          << "element " << i << ": " << got[i] << " vs " << want[i];
    }
  }
}

TEST(CudaHostDecode, GemvWarpReplayMatchesFloat64Reference) {
  for (GgmlType type : kTypes) {
    const bool k_quant = GetTypeTraits(type).block_size == 256;
    // 2304 = 2.25 chunks of 1024 elements; 576 and 768 are less than one chunk.
    for (int64_t cols : {k_quant ? int64_t{768} : int64_t{576}, int64_t{2304}}) {
      for (int n : {1, 3, 8}) {
        SCOPED_TRACE(Name(type) + " cols=" + std::to_string(cols) + " n=" + std::to_string(n));
        std::mt19937 rng(11 + static_cast<int>(type) + n);
        const int64_t rows = 37;  // odd row byte counts: rows start at every offset mod 16
        const auto blocks = RandomBlocks(type, rows, cols, &rng);
        const auto wf = CpuDequantize(type, blocks, rows * cols);
        const auto x = RandomActivations(n, cols, &rng);
        std::vector<double> ref, mag;
        ReferenceMatMul(wf, x, rows, cols, n, &ref, &mag);
        // A 256-byte-aligned copy with the kernel's padding, as CudaWeight allocates it.
        std::vector<uint8_t> storage(blocks.size() + cuda::kWeightPadBytes + 256);
        uint8_t* base = storage.data() + (256 - reinterpret_cast<uintptr_t>(storage.data()) % 256);
        std::memcpy(base, blocks.data(), blocks.size());
        std::vector<float> y(ref.size(), NAN);
        ASSERT_EQ(HostReplayGemv(static_cast<uint32_t>(type), base,
                                 base + blocks.size() + cuda::kWeightPadBytes, x.data(), rows, cols,
                                 n, y.data()),
                  "");
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_FALSE(std::isnan(y[i])) << i;
          ASSERT_LE(std::fabs(y[i] - ref[i]), 1e-5 * mag[i])
              << i << ": " << y[i] << " vs " << ref[i];
        }
      }
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cuda_test
