// The element-wise and per-row kernels of CudaOps replayed on the host (host_replay.h: the same
// __host__ __device__ bodies the GPU runs) against the CPU ops they stand in for:
//   Embed, RoPE angles, RoPE + K/V store   bit-identical to engine/quant and engine/cpu/ops
//   RmsNorm / AddRmsNorm                   within 2 ulp (another fixed summation order)
//   SiluMul                                within 4e-7 relative of a float64 reference
//   Gather                                 exact
// What this cannot check (launch shapes on real hardware, CUDA's own expf and cos) the gpu
// tests (cuda_ops_test) check on a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/ops.h"
#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/dequantize.h"
#include "engine/quant/fp16.h"
#include "engine/quant/ggml_type.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/cuda/host_replay.h"

namespace hearth::engine::cuda_test {
namespace {

using cuda::KvLayout;

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                               GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0,
                               GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::vector<float> Random(int64_t n, std::mt19937* rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(*rng);
  return v;
}

TEST(CudaHostOps, EmbedRowsMatchCpuDequantizerBitExact) {
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(std::string(GetTypeTraits(type).name));
    std::mt19937 rng(3 + static_cast<int>(type));
    const int64_t vocab = 11, dim = 512;
    const auto table = RandomBlocks(type, vocab, dim, &rng, -20, 2);
    const auto want = CpuDequantize(type, table, vocab * dim);
    const std::vector<int32_t> tokens = {3, 0, 10, 3, 7};
    std::vector<float> x(tokens.size() * dim, NAN);
    cuda::EmbedParams p;
    p.type = static_cast<uint32_t>(type);
    p.table = table.data();
    p.row_bytes = GetTypeTraits(type).RowBytes(dim);
    p.tokens = tokens.data();
    p.x = x.data();
    p.n = static_cast<int32_t>(tokens.size());
    p.dim = static_cast<int32_t>(dim);
    ASSERT_TRUE(ReplayEmbed(p));
    for (size_t t = 0; t < tokens.size(); ++t) {
      for (int64_t i = 0; i < dim; ++i) {
        ASSERT_EQ(Bits(x[t * dim + i]), Bits(want[tokens[t] * dim + i])) << t << "," << i;
      }
    }
  }
}

// |a - b| in units of the last place of b.
double Ulps(float a, float b) {
  return std::fabs(static_cast<double>(a) - b) / std::ldexp(1.0, std::ilogb(b) - 23);
}

TEST(CudaHostOps, RmsNormAndAddRmsNormMatchCpuWithin2Ulp) {
  std::mt19937 rng(5);
  for (int dim : {64, 576, 4096, 300}) {
    SCOPED_TRACE(dim);
    const int n = 3;
    const auto x0 = Random(int64_t{n} * dim, &rng, 2.0f);
    const auto delta = Random(int64_t{n} * dim, &rng);
    const auto w = Random(dim, &rng);
    // Plain.
    std::vector<float> want(x0.size()), got(x0.size(), NAN);
    cpu::RmsNorm(x0.data(), w.data(), n, dim, 1e-5f, want.data());
    std::vector<float> x = x0;
    ReplayRmsNorm({x.data(), nullptr, w.data(), got.data(), n, dim, 1e-5f});
    for (size_t i = 0; i < got.size(); ++i) ASSERT_LE(Ulps(got[i], want[i]), 2.0) << i;
    // With the residual: x is updated bit-exactly, y within 2 ulp; y may alias nothing here.
    std::vector<float> xc = x0, xg = x0;
    cpu::AddRmsNorm(xc.data(), delta.data(), w.data(), n, dim, 1e-5f, want.data());
    ReplayRmsNorm({xg.data(), delta.data(), w.data(), got.data(), n, dim, 1e-5f});
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(Bits(xg[i]), Bits(xc[i])) << i;
      ASSERT_LE(Ulps(got[i], want[i]), 2.0) << i;
    }
    // In place (y == x).
    std::vector<float> inplace = x0;
    ReplayRmsNorm({inplace.data(), nullptr, w.data(), inplace.data(), n, dim, 1e-5f});
    cpu::RmsNorm(x0.data(), w.data(), n, dim, 1e-5f, want.data());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_LE(Ulps(inplace[i], want[i]), 2.0) << i;
  }
}

struct RopeCase {
  const char* name;
  RopeStyle style;
  int head_dim, rope_dims, heads, kv_heads;
  float linear;
  bool factors, bias, f16;
};

ModelConfig RopeConfig(const RopeCase& c) {
  ModelConfig m;
  m.num_heads = c.heads;
  m.num_kv_heads = c.kv_heads;
  m.head_dim = c.head_dim;
  m.dim = c.heads * c.head_dim;
  m.rope_style = c.style;
  m.rope_dims = c.rope_dims;
  m.rope_base = 500000.0f;
  m.rope_linear_scale = c.linear;
  return m;
}

TEST(CudaHostOps, RopeTableAndRopeStoreMatchCpuBitExact) {
  const RopeCase cases[] = {
      {"normal_gqa", RopeStyle::kNormal, 64, 64, 4, 2, 1.0f, false, false, false},
      {"neox_bias_f16", RopeStyle::kNeox, 64, 64, 4, 4, 1.0f, false, true, true},
      {"normal_linear_factors_f16", RopeStyle::kNormal, 128, 128, 2, 1, 4.0f, true, false, true},
      {"neox_partial_rotary", RopeStyle::kNeox, 64, 32, 2, 1, 2.0f, false, true, false},
  };
  for (const RopeCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::mt19937 rng(11);
    const ModelConfig m = RopeConfig(c);
    std::vector<float> factors;
    if (c.factors) {
      std::uniform_real_distribution<float> u(1.0f, 8.0f);
      for (int i = 0; i < c.rope_dims / 2; ++i) factors.push_back(u(rng));
    }
    const std::vector<int32_t> positions = {0, 1, 17, 4095, 131071};
    const int n = static_cast<int>(positions.size());
    const int qd = m.q_dim(), kvd = m.kv_dim(), width = qd + 2 * kvd;

    // Angles.
    const cpu::Rope rope(m, factors);
    std::vector<float> cs_cpu(n * rope.table_width()), cs(n * c.rope_dims, NAN);
    rope.CosSin(positions.data(), n, cs_cpu.data());
    const std::vector<float> inv = cuda::RopeInverseFrequencies(m, factors);
    ReplayRopeTable({positions.data(), inv.data(), cs.data(), n, c.rope_dims});
    for (size_t i = 0; i < cs.size(); ++i) ASSERT_EQ(Bits(cs[i]), Bits(cs_cpu[i])) << i;

    // Rotation and K/V store: token t goes to block 2t + 1, slot t % block_size.
    const auto qkv = Random(int64_t{n} * width, &rng);
    const auto bias = Random(width, &rng);
    KvLayout lay{2, c.kv_heads, c.head_dim, 4, c.f16};
    const int32_t layer = 1, blocks = 2 * n + 2;
    std::vector<int32_t> slots(n);
    for (int t = 0; t < n; ++t) slots[t] = (2 * t + 1) * lay.block_size + t % lay.block_size;
    std::vector<uint8_t> pool(lay.BlockElements() * lay.ElementBytes() * blocks, 0xFF);
    std::vector<float> q(int64_t{n} * qd, NAN);
    cuda::RopeStoreParams p;
    p.qkv = qkv.data();
    p.bias = c.bias ? bias.data() : nullptr;
    p.cos_sin = cs.data();
    p.slots = slots.data();
    p.q = q.data();
    p.kv = pool.data();
    p.layout = lay;
    p.layer = layer;
    p.n = n;
    p.num_heads = c.heads;
    p.rope_dims = c.rope_dims;
    p.neox = c.style == RopeStyle::kNeox;
    ReplayRopeStore(p);

    for (int t = 0; t < n; ++t) {
      std::vector<float> row(qkv.begin() + t * width, qkv.begin() + (t + 1) * width);
      if (c.bias) cpu::AddBias(row.data(), bias.data(), 1, width);
      rope.Apply(row.data(), c.heads, cs_cpu.data() + t * c.rope_dims);
      rope.Apply(row.data() + qd, c.kv_heads, cs_cpu.data() + t * c.rope_dims);
      for (int j = 0; j < qd; ++j) ASSERT_EQ(Bits(q[t * qd + j]), Bits(row[j])) << t << "," << j;
      for (int kv = 0; kv < 2; ++kv) {
        for (int j = 0; j < kvd; ++j) {
          const float want = row[qd + kv * kvd + j];
          const int64_t off = int64_t{slots[t] / lay.block_size} * lay.BlockElements() +
                              lay.Offset(layer, kv, j / c.head_dim, slots[t] % lay.block_size) +
                              j % c.head_dim;
          if (c.f16) {
            uint16_t h;
            std::memcpy(&h, pool.data() + 2 * off, 2);
            ASSERT_EQ(h, FloatToHalf(want)) << "t=" << t << " kv=" << kv << " j=" << j;
          } else {
            float f;
            std::memcpy(&f, pool.data() + 4 * off, 4);
            ASSERT_EQ(Bits(f), Bits(want)) << "t=" << t << " kv=" << kv << " j=" << j;
          }
        }
      }
    }
    // Nothing outside the tokens' slots of `layer` was written.
    int64_t written = 0;
    const int64_t elems = static_cast<int64_t>(pool.size()) / lay.ElementBytes();
    for (int64_t e = 0; e < elems; ++e) {
      bool poisoned = true;
      for (int b = 0; b < lay.ElementBytes(); ++b)
        poisoned &= pool[e * lay.ElementBytes() + b] == 0xFF;
      written += poisoned ? 0 : 1;
    }
    EXPECT_EQ(written, int64_t{n} * 2 * kvd);
  }
}

TEST(CudaHostOps, SiluMulMatchesFloat64) {
  std::mt19937 rng(9);
  const int n = 3, f = 700;
  const auto gate_up = Random(int64_t{n} * 2 * f, &rng, 4.0f);
  std::vector<float> h(int64_t{n} * f, NAN);
  ReplaySiluMul({gate_up.data(), h.data(), n, f});
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < f; ++i) {
      const double g = gate_up[t * 2 * f + i], u = gate_up[t * 2 * f + f + i];
      const double want = g / (1.0 + std::exp(-g)) * u;
      ASSERT_NEAR(h[t * f + i], want, 4e-7 * std::fabs(want) + 1e-30) << t << "," << i;
    }
  }
}

TEST(CudaHostOps, GatherCopiesRows) {
  std::mt19937 rng(2);
  const auto x = Random(5 * 33, &rng);
  const std::vector<int32_t> rows = {4, 0, 4};
  std::vector<float> y(rows.size() * 33, NAN);
  ReplayGather({x.data(), rows.data(), y.data(), 3, 33});
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int c = 0; c < 33; ++c) ASSERT_EQ(Bits(y[i * 33 + c]), Bits(x[rows[i] * 33 + c]));
  }
}

}  // namespace
}  // namespace hearth::engine::cuda_test
