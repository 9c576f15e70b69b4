// CudaOps, operation by operation, on a GPU (label gpu: skipped without a device), against the
// CPU ops (engine/cpu, f32 precision: the oracle) and float64 references on the same inputs, so
// that a failure on the device names the kernel:
//   Linear      every weight type, every CudaGemmMode, decode and prefill batch sizes, a fused
//               matrix of mixed types; batch-invariant modes give the same bits at every n
//   Embed, RmsNorm, AddRmsNorm, Add, SiluMul (CUDA expf: within 1e-6), GatherRows, Upload/Download
//   RopeStoreKv + Attention over three steps (prefills, a chunk, decodes past one segment), f16
//               and f32 K/V, llama and qwen2 (bias, NEOX) RoPE
//   CopyBlocks, SwapOut/SwapIn bit for bit; out-of-memory and bad ids as errors
//   MoeFfn      F32, Q8_0, Q4_K, Q6_K experts, Mixtral (normalized) and Qwen2-MoE (shared expert)
//               routing, every CudaGemmMode, against CpuOps::MoeFfn (f32); batch-invariant modes
//               give each token the same bits at n = 1, 9, 40; bad expert shapes are errors
// Bounds are stated at each check.
#include "engine/cuda/cuda_ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/ops.h"
#include "engine/cuda/cuda_buffer.h"
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

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::string Name(GgmlType t) { return std::string(GetTypeTraits(t).name); }

// A GGUF tensor over test-owned bytes.
struct OwnedTensor {
  std::vector<uint8_t> bytes;
  GgufTensor t;
};

OwnedTensor MakeTensor(const std::string& name, GgmlType type, int64_t rows, int64_t cols,
                       std::vector<uint8_t> bytes) {
  OwnedTensor o;
  o.bytes = std::move(bytes);
  o.t.name = name;
  o.t.type = type;
  o.t.traits = &GetTypeTraits(type);
  o.t.shape = {cols, rows};
  o.t.num_elements = rows * cols;
  o.t.num_bytes = o.bytes.size();
  o.t.data = o.bytes.data();
  return o;
}

ModelConfig SmallConfig(bool qwen) {
  ModelConfig c;
  c.arch = qwen ? ModelArch::kQwen2 : ModelArch::kLlama;
  c.num_layers = 2;
  c.num_heads = 8;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.dim = 512;
  c.ffn_dim = 768;
  c.vocab_size = 300;
  c.context_length = 4096;
  c.rope_dims = 64;
  c.rope_base = 10000.0f;
  c.rope_style = qwen ? RopeStyle::kNeox : RopeStyle::kNormal;
  c.has_qkv_bias = qwen;
  return c;
}

Batch OneSequence(int32_t n) {
  Batch b;
  BatchSequence s;
  s.num_tokens = n;
  s.context_len = n;
  for (int32_t i = 0; i < n; ++i) {
    b.tokens.push_back(i % 7);
    b.positions.push_back(i);
  }
  for (int32_t i = 0; i < (n + 15) / 16; ++i) s.block_table.push_back(i);
  s.sample = true;
  b.sequences.push_back(s);
  return b;
}

class CudaOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device";
  }

  static std::unique_ptr<CudaOps> Make(const ModelConfig& c, CudaOpsOptions options = {}) {
    options.progress = false;
    auto ops = CudaOps::Create(c, {}, c.num_layers, options);
    EXPECT_TRUE(ops.ok()) << ops.status();
    return ops.ok() ? *std::move(ops) : nullptr;
  }
};

// y = x W^T for one matrix through CudaOps (n tokens of one sequence).
std::vector<float> RunLinear(CudaOps* ops, WeightId w, const std::vector<float>& x, int32_t n,
                             int64_t cols, int64_t rows) {
  std::vector<float> y(static_cast<size_t>(n) * rows, NAN);
  const Batch batch = OneSequence(n);
  EXPECT_TRUE(ops->BeginStep(batch).ok());
  Tensor xd = ops->Scratch(0, n, cols);
  Tensor yd = ops->Scratch(1, n, rows);
  ops->Upload(x.data(), xd);
  ops->Linear(w, xd, yd);
  ops->Download(yd, y.data());
  const absl::Status s = ops->EndStep();
  EXPECT_TRUE(s.ok()) << s;
  return y;
}

TEST_F(CudaOpsTest, LinearEveryTypeAndModeMatchesFloat64) {
  const ModelConfig c = SmallConfig(false);
  for (CudaGemmMode mode : {CudaGemmMode::kInvariant, CudaGemmMode::kFast, CudaGemmMode::kExact}) {
    for (GgmlType type : kTypes) {
      SCOPED_TRACE(absl::StrCat(CudaGemmModeName(mode), " ", Name(type)));
      const int64_t rows = 77, cols = GetTypeTraits(type).block_size == 256 ? 768 : 576;
      std::mt19937 rng(31 + static_cast<int>(type));
      OwnedTensor w = MakeTensor("w", type, rows, cols, RandomBlocks(type, rows, cols, &rng));
      const auto wf = CpuDequantize(type, w.bytes, rows * cols);
      CudaOpsOptions options;
      options.gemm = mode;
      options.cublas_min_tokens = 64;
      auto ops = Make(c, options);
      ASSERT_NE(ops, nullptr);
      const GgufTensor* parts[] = {&w.t};
      auto id = ops->AddMatrix(parts);
      ASSERT_TRUE(id.ok()) << id.status();
      ASSERT_TRUE(ops->FinishLoading().ok());
      ASSERT_TRUE(ops->InitKvCache(32, 0, 16).ok());
      const int32_t kMaxN = 200;
      const auto x = RandomActivations(kMaxN, cols, &rng);
      std::vector<double> ref, mag;
      ReferenceMatMul(wf, x, rows, cols, kMaxN, &ref, &mag);
      // exact: fp32 weights and activations, fp32 sums. Others: w and x rounded to fp16 once.
      const double rel = mode == CudaGemmMode::kExact
                             ? 1e-5
                             : 2 * std::ldexp(1.0, -11) + (cols + 2) * std::ldexp(1.0, -24);
      std::vector<float> first;
      for (int32_t n : {kMaxN, 1, 8, 9, 64}) {
        const std::vector<float> xn(x.begin(), x.begin() + n * cols);
        const auto y = RunLinear(ops.get(), *id, xn, n, cols, rows);
        for (int32_t t = 0; t < n; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            const size_t i = t * rows + r;
            ASSERT_LE(std::fabs(y[i] - ref[i]), rel * mag[i] + 1e-30)
                << "n=" << n << " t=" << t << " r=" << r << " y=" << y[i] << " ref=" << ref[i];
          }
        }
        if (first.empty()) first = y;
        if (mode != CudaGemmMode::kFast) {  // batch-invariant: the same bits at every n
          for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_EQ(Bits(y[i]), Bits(first[i])) << "n=" << n << " element " << i;
          }
        }
      }
    }
  }
}

TEST_F(CudaOpsTest, FusedMatrixOfMixedTypesWritesEachPartInPlace) {
  // Q|K|V as a Q4_K_M file stores them: Q4_K, Q4_K, Q6_K (two segments).
  const ModelConfig c = SmallConfig(false);
  std::mt19937 rng(8);
  const int64_t cols = 512;
  const GgmlType types[] = {GgmlType::kQ4_K, GgmlType::kQ4_K, GgmlType::kQ6_K};
  const int64_t part_rows[] = {48, 16, 16};
  std::vector<OwnedTensor> parts;
  std::vector<float> wf;
  for (int i = 0; i < 3; ++i) {
    parts.push_back(MakeTensor(absl::StrCat("p", i), types[i], part_rows[i], cols,
                               RandomBlocks(types[i], part_rows[i], cols, &rng)));
    const auto f = CpuDequantize(types[i], parts.back().bytes, part_rows[i] * cols);
    wf.insert(wf.end(), f.begin(), f.end());
  }
  auto ops = Make(c);
  ASSERT_NE(ops, nullptr);
  const GgufTensor* ptrs[] = {&parts[0].t, &parts[1].t, &parts[2].t};
  auto id = ops->AddMatrix(ptrs);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(ops->FinishLoading().ok());
  ASSERT_TRUE(ops->InitKvCache(4, 0, 16).ok());
  const int32_t n = 5;
  const auto x = RandomActivations(n, cols, &rng);
  std::vector<double> ref, mag;
  ReferenceMatMul(wf, x, 80, cols, n, &ref, &mag);
  const auto y = RunLinear(ops.get(), *id, x, n, cols, 80);
  const double rel = 2 * std::ldexp(1.0, -11) + (cols + 2) * std::ldexp(1.0, -24);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_LE(std::fabs(y[i] - ref[i]), rel * mag[i]) << i;
}

// The small per-row operations against engine/cpu/ops (bounds as in cuda_host_ops_test: Embed,
// Add and GatherRows exact; norms within 2 ulp; SiluMul within 1e-6 relative of float64).
TEST_F(CudaOpsTest, RowOpsMatchCpu) {
  const ModelConfig c = SmallConfig(false);
  std::mt19937 rng(4);
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(Name(type));
    auto ops = Make(c);
    ASSERT_NE(ops, nullptr);
    OwnedTensor table = MakeTensor("token_embd", type, c.vocab_size, c.dim,
                                   RandomBlocks(type, c.vocab_size, c.dim, &rng));
    const auto tf = CpuDequantize(type, table.bytes, int64_t{c.vocab_size} * c.dim);
    auto embd = ops->AddEmbedding(table.t);
    ASSERT_TRUE(embd.ok()) << embd.status();
    const auto wv = RandomActivations(1, c.dim, &rng);
    auto norm = ops->AddVector(wv);
    ASSERT_TRUE(norm.ok());
    ASSERT_TRUE(ops->FinishLoading().ok());
    ASSERT_TRUE(ops->InitKvCache(4, 0, 16).ok());

    const int32_t n = 11, f = 300;
    Batch batch = OneSequence(n);
    for (int32_t i = 0; i < n; ++i) batch.tokens[i] = (i * 37) % c.vocab_size;
    const auto delta = RandomActivations(n, c.dim, &rng);
    const auto gate_up = RandomActivations(n, 2 * f, &rng);
    const std::vector<int32_t> rows = {10, 0, 3};
    std::vector<float> x(n * c.dim), y(n * c.dim), y2(n * c.dim), x2(n * c.dim), h(n * f),
        g(rows.size() * c.dim);
    ASSERT_TRUE(ops->BeginStep(batch).ok());
    Tensor xd = ops->Scratch(0, n, c.dim), yd = ops->Scratch(1, n, c.dim);
    Tensor dd = ops->Scratch(2, n, c.dim), gu = ops->Scratch(3, n, 2 * f);
    Tensor hd = ops->Scratch(4, n, f), gd = ops->Scratch(5, rows.size(), c.dim);
    ops->Embed(*embd, xd);
    ops->Download(xd, x.data());
    ops->RmsNorm(xd, *norm, 1e-5f, yd);
    ops->Download(yd, y.data());
    ops->Upload(delta.data(), dd);
    ops->AddRmsNorm(xd, dd, *norm, 1e-5f, yd);
    ops->Download(yd, y2.data());
    ops->Add(xd, dd);  // x + 2 delta
    ops->Download(xd, x2.data());
    ops->Upload(gate_up.data(), gu);
    ops->SiluMul(gu, hd);
    ops->Download(hd, h.data());
    ops->GatherRows(xd, rows, gd);
    ops->Download(gd, g.data());
    const absl::Status s = ops->EndStep();
    ASSERT_TRUE(s.ok()) << s;

    std::vector<float> want_x(n * c.dim), want_y(n * c.dim), want_y2(n * c.dim);
    for (int32_t t = 0; t < n; ++t) {
      std::memcpy(&want_x[t * c.dim], &tf[int64_t{batch.tokens[t]} * c.dim], c.dim * 4);
    }
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(Bits(x[i]), Bits(want_x[i])) << "Embed " << i;
    cpu::RmsNorm(want_x.data(), wv.data(), n, c.dim, 1e-5f, want_y.data());
    std::vector<float> cx = want_x;
    cpu::AddRmsNorm(cx.data(), delta.data(), wv.data(), n, c.dim, 1e-5f, want_y2.data());
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], want_y[i], 2.5e-7 * std::fabs(want_y[i])) << "RmsNorm " << i;
      ASSERT_NEAR(y2[i], want_y2[i], 2.5e-7 * std::fabs(want_y2[i])) << "AddRmsNorm " << i;
      ASSERT_EQ(Bits(x2[i]), Bits(cx[i] + delta[i])) << "Add " << i;
    }
    for (int32_t t = 0; t < n; ++t) {
      for (int32_t i = 0; i < f; ++i) {
        const double gv = gate_up[t * 2 * f + i], u = gate_up[t * 2 * f + f + i];
        const double want = gv / (1.0 + std::exp(-gv)) * u;
        ASSERT_NEAR(h[t * f + i], want, 1e-6 * std::fabs(want) + 1e-30)
            << "SiluMul";  // expf: 2 ulp
      }
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      for (int32_t i = 0; i < c.dim; ++i) {
        ASSERT_EQ(Bits(g[r * c.dim + i]), Bits(x2[rows[r] * c.dim + i])) << "GatherRows";
      }
    }
  }
}

// Runs RopeStoreKv + Attention of layer 1 for `batch` on `ops`; returns q and the output.
void AttentionStep(DeviceOps* ops, const ModelConfig& c, const Batch& batch,
                   const std::vector<float>& qkv, WeightId bias, std::vector<float>* q,
                   std::vector<float>* out) {
  const int64_t n = batch.num_tokens(), qd = c.q_dim();
  q->assign(n * qd, NAN);
  out->assign(n * qd, NAN);
  ASSERT_TRUE(ops->BeginStep(batch).ok());
  Tensor qkv_t = ops->Scratch(0, n, qd + 2 * c.kv_dim());
  Tensor q_t = ops->Scratch(1, n, qd), out_t = ops->Scratch(2, n, qd);
  ops->Upload(qkv.data(), qkv_t);
  ops->RopeStoreKv(1, qkv_t, bias, q_t);
  ops->Attention(1, q_t, out_t);
  ops->Download(q_t, q->data());
  ops->Download(out_t, out->data());
  const absl::Status s = ops->EndStep();
  ASSERT_TRUE(s.ok()) << s;
}

TEST_F(CudaOpsTest, RopeStoreAndAttentionMatchCpuOverSteps) {
  for (bool qwen : {false, true}) {
    for (KvDtype dtype : {KvDtype::kF16, KvDtype::kF32}) {
      SCOPED_TRACE(absl::StrCat(qwen ? "qwen2" : "llama", " ", KvDtypeName(dtype)));
      const ModelConfig c = SmallConfig(qwen);
      CudaOpsOptions options;
      options.kv_dtype = dtype;
      auto gpu = Make(c, options);
      ASSERT_NE(gpu, nullptr);
      cpu::CpuOpsOptions cpu_options;
      cpu_options.precision = cpu::ActPrecision::kF32;
      cpu_options.kv_dtype = dtype;
      auto cpu = cpu::CpuOps::Create(c, {}, c.num_layers, cpu_options);
      ASSERT_TRUE(cpu.ok());
      std::mt19937 rng(6);
      const int64_t width = c.q_dim() + 2 * c.kv_dim();
      const auto bias_values = RandomActivations(1, width, &rng);
      WeightId bias[2] = {kNoWeight, kNoWeight};
      DeviceOps* both[2] = {gpu.get(), cpu->get()};
      for (int d = 0; d < 2; ++d) {
        if (qwen) bias[d] = *both[d]->AddVector(bias_values);
        ASSERT_TRUE(both[d]->FinishLoading().ok());
        ASSERT_TRUE(both[d]->InitKvCache(64, 0, 16).ok());
      }
      // Sequence A: blocks 40.., prompt 40, then decodes. B: blocks 0.., prompt 200 + chunk of
      // 100, then a decode at 300 (two segments; alone in its step: split on the GPU).
      auto seq = [](int32_t first_block, int32_t ctx, int32_t n, int32_t begin) {
        BatchSequence s;
        s.token_begin = begin;
        s.num_tokens = n;
        s.context_len = ctx;
        for (int32_t b = 0; b < (ctx + 15) / 16; ++b) s.block_table.push_back(first_block + b);
        return s;
      };
      std::vector<std::vector<BatchSequence>> steps = {
          {seq(40, 40, 40, 0), seq(0, 200, 200, 40)},
          {seq(40, 41, 1, 0), seq(0, 300, 100, 1)},
          {seq(0, 301, 1, 0)},
      };
      for (size_t st = 0; st < steps.size(); ++st) {
        Batch batch;
        batch.sequences = steps[st];
        for (const BatchSequence& s : batch.sequences) {
          for (int32_t j = 0; j < s.num_tokens; ++j) {
            batch.tokens.push_back(1);
            batch.positions.push_back(s.context_len - s.num_tokens + j);
          }
        }
        const auto qkv = RandomActivations(batch.num_tokens(), width, &rng);
        std::vector<float> q[2], out[2];
        for (int d = 0; d < 2; ++d) AttentionStep(both[d], c, batch, qkv, bias[d], &q[d], &out[d]);
        for (size_t i = 0; i < q[0].size(); ++i) {
          // The same angles up to CUDA's double cos/sin (correct to 2 ulp of double).
          ASSERT_NEAR(q[0][i], q[1][i], 1e-6 * std::fabs(q[1][i]) + 1e-6) << "step " << st << " q";
          ASSERT_NEAR(out[0][i], out[1][i], 5e-5) << "step " << st << " attention " << i;
        }
      }
    }
  }
}

TEST_F(CudaOpsTest, CopyAndSwapRoundTripsAreBitExact) {
  const ModelConfig c = SmallConfig(false);
  auto ops = Make(c);
  ASSERT_NE(ops, nullptr);
  ASSERT_TRUE(ops->FinishLoading().ok());
  ASSERT_TRUE(ops->InitKvCache(16, 4, 16).ok());
  std::mt19937 rng(12);
  const Batch batch = OneSequence(48);  // blocks 0, 1, 2
  std::vector<float> q, out;
  AttentionStep(ops.get(), c, batch, RandomActivations(48, c.q_dim() + 2 * c.kv_dim(), &rng),
                kNoWeight, &q, &out);
  std::vector<std::vector<uint8_t>> before(3);
  for (int b = 0; b < 3; ++b) ASSERT_TRUE(ops->ReadKvBlock(b, &before[b]).ok());
  ASSERT_TRUE(ops->SwapOut({{0, 3}, {1, 2}, {2, 1}}).ok());
  ASSERT_TRUE(ops->CopyBlocks({{9, 0}, {9, 1}, {9, 2}}).ok());  // clobber the originals
  ASSERT_TRUE(ops->SwapIn({{3, 10}, {2, 11}, {1, 12}}).ok());
  ASSERT_TRUE(ops->CopyBlocks({{10, 5}}).ok());
  for (int b = 0; b < 3; ++b) {
    std::vector<uint8_t> after;
    ASSERT_TRUE(ops->ReadKvBlock(10 + b, &after).ok());
    ASSERT_EQ(after, before[b]) << "block " << b;
  }
  std::vector<uint8_t> copied;
  ASSERT_TRUE(ops->ReadKvBlock(5, &copied).ok());
  EXPECT_EQ(copied, before[0]);
  EXPECT_EQ(ops->SwapOut({{0, 4}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops->SwapIn({{0, 16}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops->CopyBlocks({{-1, 0}}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CudaOpsTest, OutOfMemoryAndBadShapesAreErrors) {
  const ModelConfig c = SmallConfig(false);
  auto ops = Make(c);
  ASSERT_NE(ops, nullptr);
  // A matrix of 2^40 bytes: FinishLoading refuses before reading it (data stays null).
  GgufTensor huge;
  huge.name = "huge";
  huge.type = GgmlType::kF16;
  huge.traits = &GetTypeTraits(GgmlType::kF16);
  huge.shape = {int64_t{1} << 19, int64_t{1} << 20};
  huge.num_elements = int64_t{1} << 39;
  huge.num_bytes = uint64_t{1} << 40;
  const GgufTensor* parts[] = {&huge};
  ASSERT_TRUE(ops->AddMatrix(parts).ok());
  absl::Status s = ops->FinishLoading();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("MiB"), std::string::npos) << s;

  auto ops2 = Make(c);
  ASSERT_NE(ops2, nullptr);
  ASSERT_TRUE(ops2->FinishLoading().ok());
  s = ops2->InitKvCache(1 << 30, 0, 16);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s;
  ASSERT_TRUE(ops2->InitKvCache(8, 0, 16).ok());
  const DeviceMemory mem = ops2->Memory();
  EXPECT_GT(mem.total_bytes, mem.free_bytes);
  EXPECT_GT(mem.free_bytes, 0);
  // A shape mismatch fails the step, and the next step runs.
  const Batch batch = OneSequence(4);
  ASSERT_TRUE(ops2->BeginStep(batch).ok());
  Tensor a = ops2->Scratch(0, 4, 8), b = ops2->Scratch(1, 4, 9);
  ops2->Add(a, b);
  EXPECT_EQ(ops2->EndStep().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(ops2->BeginStep(batch).ok());
  ops2->Add(a, a);
  EXPECT_TRUE(ops2->EndStep().ok());
}

// Without a device, creating the ops is a clear error (runs on machines without a GPU).
TEST(CudaOpsNoDevice, CreateSaysNoCudaDevice) {
  if (CudaDeviceAvailable()) GTEST_SKIP() << "a CUDA device is present";
  auto ops = CudaOps::Create(SmallConfig(false), {}, 2, CudaOpsOptions());
  ASSERT_FALSE(ops.ok());
  EXPECT_EQ(ops.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ops.status().message().find("no CUDA device"), std::string::npos) << ops.status();
}

// One MoE block through `ops` over x [n, dim] (tokens of one sequence).
std::vector<float> RunMoe(DeviceOps* ops, WeightId moe, const std::vector<float>& x, int32_t n,
                          int64_t dim) {
  std::vector<float> out(static_cast<size_t>(n) * dim, NAN);
  const Batch batch = OneSequence(n);
  EXPECT_TRUE(ops->BeginStep(batch).ok());
  Tensor xd = ops->Scratch(0, n, dim);
  Tensor od = ops->Scratch(1, n, dim);
  ops->Upload(x.data(), xd);
  ops->MoeFfn(moe, xd, od);
  ops->Download(od, out.data());
  const absl::Status s = ops->EndStep();
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST_F(CudaOpsTest, MoeFfnMatchesCpuEveryModeAndIsBatchInvariant) {
  const ModelConfig c = SmallConfig(false);
  const int64_t dim = c.dim, f = 256;
  const int32_t num_experts = 6;
  const GgmlType types[] = {GgmlType::kF32, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K};
  for (GgmlType type : types) {
    for (bool shared : {false, true}) {
      std::mt19937 rng(70 + static_cast<int>(type) * 2 + shared);
      // RandomBlocks scale exponents giving weights of ~2^-5 (F32: 2^[min + 8, max + 2]).
      const int lo = type == GgmlType::kF32    ? -13
                     : type == GgmlType::kQ8_0 ? -12
                     : type == GgmlType::kQ4_K ? -13
                                               : -15;
      const int hi = type == GgmlType::kF32 ? lo + 7 : lo + 1;
      std::vector<OwnedTensor> owned;
      owned.reserve(4 + 3 * (num_experts + 1));
      auto add = [&](const std::string& name, GgmlType t, int64_t rows, int64_t cols, int mn,
                     int mx) {
        owned.push_back(MakeTensor(name, t, rows, cols, RandomBlocks(t, rows, cols, &rng, mn, mx)));
        return &owned.back().t;
      };
      MoeTensors moe;
      moe.top_k = 2;
      moe.normalize = !shared;
      moe.router = add("router", GgmlType::kF32, num_experts, dim, -12, -5);
      auto expert = [&](const std::string& name) {
        return ExpertTensors{add(name + ".gate", type, f, dim, lo, hi),
                             add(name + ".up", type, f, dim, lo, hi),
                             add(name + ".down", type, dim, f, lo, hi)};
      };
      for (int32_t e = 0; e < num_experts; ++e) moe.experts.push_back(expert(absl::StrCat(e)));
      if (shared) {
        moe.shared_gate = add("shared_gate", GgmlType::kF32, 1, dim, -12, -5);
        moe.shared = expert("shared");
      }
      const int32_t kMaxN = 40;
      const auto x = RandomActivations(kMaxN, dim, &rng);

      cpu::CpuOpsOptions cpu_options;
      cpu_options.precision = cpu::ActPrecision::kF32;
      auto cpu = cpu::CpuOps::Create(c, {}, c.num_layers, cpu_options);
      ASSERT_TRUE(cpu.ok());
      auto cpu_id = (*cpu)->AddExperts(moe);
      ASSERT_TRUE(cpu_id.ok()) << cpu_id.status();
      ASSERT_TRUE((*cpu)->FinishLoading().ok());
      ASSERT_TRUE((*cpu)->InitKvCache(8, 0, 16).ok());
      const auto want = RunMoe(cpu->get(), *cpu_id, x, kMaxN, dim);

      for (CudaGemmMode mode :
           {CudaGemmMode::kInvariant, CudaGemmMode::kFast, CudaGemmMode::kExact}) {
        SCOPED_TRACE(absl::StrCat(Name(type), shared ? " shared " : " ", CudaGemmModeName(mode)));
        CudaOpsOptions options;
        options.gemm = mode;
        options.cublas_min_tokens = 16;  // an expert with >= 16 of the 80 routes takes cuBLAS
        auto ops = Make(c, options);
        ASSERT_NE(ops, nullptr);
        auto id = ops->AddExperts(moe);
        ASSERT_TRUE(id.ok()) << id.status();
        ASSERT_TRUE(ops->FinishLoading().ok());
        ASSERT_TRUE(ops->InitKvCache(8, 0, 16).ok());
        // The router runs in fp32 on the same x in every mode: the CPU's routes. exact: fp32
        // throughout (other summation orders); else weights and activations rounded to fp16
        // before each matmul (relative to the token's largest output).
        const double rel = mode == CudaGemmMode::kExact ? 1e-5 : 1e-2;
        std::vector<float> first;
        for (int32_t n : {kMaxN, 1, 9}) {
          const std::vector<float> xn(x.begin(), x.begin() + n * dim);
          const auto got = RunMoe(ops.get(), *id, xn, n, dim);
          for (int32_t t = 0; t < n; ++t) {
            double scale = 0, err = 0;
            for (int64_t i = 0; i < dim; ++i) {
              scale = std::max(scale, std::fabs(static_cast<double>(want[t * dim + i])));
              err = std::max(err,
                             std::fabs(static_cast<double>(got[t * dim + i]) - want[t * dim + i]));
            }
            ASSERT_LE(err, rel * scale) << "n=" << n << " t=" << t;
          }
          if (first.empty()) first = got;
          if (mode != CudaGemmMode::kFast) {
            for (size_t i = 0; i < got.size(); ++i) {
              ASSERT_EQ(Bits(got[i]), Bits(first[i])) << "n=" << n << " element " << i;
            }
          }
        }
      }
    }
  }
  // An expert whose down matrix does not match: an error naming it.
  std::mt19937 rng(5);
  OwnedTensor router =
      MakeTensor("router", GgmlType::kF32, 2, dim, RandomBlocks(GgmlType::kF32, 2, dim, &rng));
  OwnedTensor gate =
      MakeTensor("g", GgmlType::kQ8_0, f, dim, RandomBlocks(GgmlType::kQ8_0, f, dim, &rng));
  OwnedTensor down = MakeTensor("blk.0.ffn_down.1", GgmlType::kQ8_0, dim, f / 2,
                                RandomBlocks(GgmlType::kQ8_0, dim, f / 2, &rng));
  MoeTensors bad;
  bad.router = &router.t;
  bad.experts = {{&gate.t, &gate.t, &down.t}, {&gate.t, &gate.t, &down.t}};
  auto ops = Make(c);
  ASSERT_NE(ops, nullptr);
  auto id = ops->AddExperts(bad);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(std::string(id.status().message()).find("blk.0.ffn_down.1"), std::string::npos)
      << id.status();
}

}  // namespace
}  // namespace hearth::engine::cuda
