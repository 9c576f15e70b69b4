// The CPU mixture-of-experts block (engine/cpu/moe.h): routing (top-k, ties, weights), grouping
// by expert, the block against a float64 reference built from independently dequantized weights,
// batch invariance (a token's row alone equals its row in any batch, bit for bit), and that only
// the selected experts are read.
#include "engine/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/cpu/kernels/test_weights.h"
#include "tests/engine/model/tiny_model.h"

namespace hearth::engine::cpu {
namespace {

using testing::Name;
using testing::RandomActivations;
using testing::RandomWeights;
using testing::TestWeights;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---- Routing --------------------------------------------------------------------------------

TEST(MoeRoutingTest, TopKTable) {
  struct Case {
    std::string name;
    std::vector<float> logits;  // one row
    int32_t k;
    bool normalize;
    std::vector<int32_t> experts;
  };
  const std::vector<Case> cases = {
      {"descending order", {0.5f, 2.0f, -1.0f, 1.0f}, 2, true, {1, 3}},
      {"tie goes to the lower id", {1.0f, 3.0f, 0.0f, 3.0f}, 1, true, {1}},
      {"tie at the cut", {2.0f, 1.0f, 0.0f, 1.0f}, 2, true, {0, 1}},
      {"all equal", {0.25f, 0.25f, 0.25f, 0.25f}, 3, true, {0, 1, 2}},
      {"k = 1", {-3.0f, -2.0f, -5.0f}, 1, true, {1}},
      {"k = n_expert", {0.1f, 0.4f, 0.3f, 0.2f}, 4, true, {1, 2, 3, 0}},
      {"NaN ranks last", {kNaN, -7.0f, kNaN, -9.0f}, 3, true, {1, 3, 0}},
      {"-inf and +inf", {-INFINITY, 1.0f, INFINITY, 0.0f}, 2, false, {2, 1}},
      {"unnormalized", {0.5f, 2.0f, -1.0f, 1.0f}, 2, false, {1, 3}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const int32_t num_experts = static_cast<int32_t>(c.logits.size());
    std::vector<int32_t> experts(c.k);
    std::vector<float> weights(c.k);
    RouteTopK(c.logits.data(), 1, num_experts, {c.k, c.normalize}, experts.data(), weights.data());
    EXPECT_EQ(experts, c.experts);
    if (std::isinf(c.logits[2])) continue;  // weights of infinities are not meaningful
    // Weights: softmax over the selected logits (normalize) or over all of them, in double.
    auto key = [](float v) { return std::isnan(v) ? -INFINITY : double{v}; };
    double top = key(c.logits[c.experts[0]]), denominator = 0.0;
    for (int32_t e = 0; e < num_experts; ++e) {
      const bool selected = std::find(c.experts.begin(), c.experts.end(), e) != c.experts.end();
      if (selected || !c.normalize) denominator += std::exp(key(c.logits[e]) - top);
    }
    double sum = 0.0;
    for (int32_t r = 0; r < c.k; ++r) {
      const double want = std::exp(key(c.logits[c.experts[r]]) - top) / denominator;
      EXPECT_NEAR(weights[r], want, 1e-7) << "rank " << r;
      if (r > 0) {
        EXPECT_LE(weights[r], weights[r - 1]);
      }
      sum += weights[r];
    }
    if (c.normalize) {
      EXPECT_NEAR(sum, 1.0, 1e-6);
    } else {
      EXPECT_LT(sum, 1.0);
    }
  }
}

TEST(MoeRoutingTest, RowsAreRoutedIndependently) {
  const std::vector<float> logits = {1, 2, 3, 4,  //
                                     4, 3, 2, 1,  //
                                     0, 9, 9, 0};
  std::vector<int32_t> experts(6);
  std::vector<float> weights(6);
  RouteTopK(logits.data(), 3, 4, {2, true}, experts.data(), weights.data());
  EXPECT_EQ(experts, (std::vector<int32_t>{3, 2, 0, 1, 1, 2}));
  EXPECT_EQ(weights[4], 0.5f);
  EXPECT_EQ(weights[5], 0.5f);
}

TEST(MoeRoutingTest, GroupByExpertTable) {
  struct Case {
    std::string name;
    std::vector<int32_t> experts;  // [n * k] routes
    int32_t num_experts;
    std::vector<int32_t> offsets, routes;
  };
  const std::vector<Case> cases = {
      {"k = 2, 3 tokens", {2, 0, 0, 1, 2, 1}, 3, {0, 2, 4, 6}, {1, 2, 3, 5, 0, 4}},
      {"unused experts", {3, 3, 3}, 5, {0, 0, 0, 0, 3, 3}, {0, 1, 2}},
      {"no routes", {}, 2, {0, 0, 0}, {}},
      {"one each", {1, 0}, 2, {0, 1, 2}, {1, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExpertGroups g;
    g.routes = {42, 42, 42, 42, 42, 42, 42};  // stale contents must not leak
    GroupByExpert(c.experts.data(), static_cast<int64_t>(c.experts.size()), c.num_experts, &g);
    EXPECT_EQ(g.offsets, c.offsets);
    EXPECT_EQ(g.routes, c.routes);
  }
}

// ---- The block ------------------------------------------------------------------------------

// A layer's weights with their storage and, in q8 precision, their strips.
struct TestMoe {
  TestWeights router, shared_gate;
  std::vector<TestWeights> gate, up, down;  // per expert
  TestWeights shared_g, shared_u, shared_d;
  PackedWeights packed;
  MoeMatrices m;
};

struct MoeShape {
  GgmlType type = GgmlType::kQ8_0;
  int64_t dim = 256, ffn = 256;
  int32_t experts = 8, top_k = 2;
  bool normalize = true, shared = false;
  bool pack = true;  // strips (and a fused gate|up) as the backend makes them
};

void Build(const MoeShape& s, std::mt19937& rng, TestMoe* t) {
  t->router = RandomWeights(GgmlType::kF32, s.experts, s.dim, rng);  // converters keep it F32
  std::vector<int> index;  // into packed: gate, up, down per expert, then the shared expert
  for (int32_t e = 0; e < s.experts; ++e) {
    t->gate.push_back(RandomWeights(s.type, s.ffn, s.dim, rng));
    t->up.push_back(RandomWeights(s.type, s.ffn, s.dim, rng));
    t->down.push_back(RandomWeights(s.type, s.dim, s.ffn, rng));
  }
  for (int32_t e = 0; e < s.experts; ++e) {
    for (TestWeights* w : {&t->gate[e], &t->up[e], &t->down[e]}) {
      w->w.data = w->bytes.data();
      index.push_back(t->packed.Add(w->w));
    }
  }
  if (s.shared) {
    t->shared_gate = RandomWeights(GgmlType::kF32, 1, s.dim, rng);
    t->shared_gate.w.data = t->shared_gate.bytes.data();
    t->shared_g = RandomWeights(s.type, s.ffn, s.dim, rng);
    t->shared_u = RandomWeights(s.type, s.ffn, s.dim, rng);
    t->shared_d = RandomWeights(s.type, s.dim, s.ffn, rng);
    for (TestWeights* w : {&t->shared_g, &t->shared_u, &t->shared_d}) {
      w->w.data = w->bytes.data();
      index.push_back(t->packed.Add(w->w));
    }
  }
  t->router.w.data = t->router.bytes.data();
  if (s.pack) {
    ASSERT_TRUE(t->packed.Pack(nullptr).ok());
  }
  auto expert = [&](int i) {
    ExpertMatrices e{t->packed.matrix(index[i]),
                     t->packed.matrix(index[i + 1]),
                     t->packed.matrix(index[i + 2]),
                     {}};
    e.gate_up = ConcatenatedStrips({e.gate, e.up});
    return e;
  };
  t->m.router = t->router.w;
  t->m.rule = {s.top_k, s.normalize};
  for (int32_t e = 0; e < s.experts; ++e) t->m.experts.push_back(expert(3 * e));
  if (s.shared) {
    t->m.shared_gate = t->shared_gate.w;
    t->m.shared = expert(3 * s.experts);
  }
}

// The block in float64 from the weights dequantized by engine/quant; tokens whose k-th and
// (k+1)-th logits are within `tie` get NaN rows (a float32 router may order them either way).
std::vector<double> Reference(const MoeShape& s, const TestMoe& t, const std::vector<float>& x,
                              int64_t n, double tie) {
  const std::vector<float> router = t.router.Dequantized();
  auto ffn = [&](const TestWeights& g, const TestWeights& u, const TestWeights& d,
                 const float* xt) {
    const std::vector<float> gw = g.Dequantized(), uw = u.Dequantized(), dw = d.Dequantized();
    const int64_t f = g.w.rows;
    std::vector<double> h(f), y(s.dim, 0.0);
    for (int64_t j = 0; j < f; ++j) {
      double a = 0, b = 0;
      for (int64_t i = 0; i < s.dim; ++i) {
        a += double{gw[j * s.dim + i]} * xt[i];
        b += double{uw[j * s.dim + i]} * xt[i];
      }
      h[j] = a / (1.0 + std::exp(-a)) * b;
    }
    for (int64_t i = 0; i < s.dim; ++i) {
      for (int64_t j = 0; j < f; ++j) y[i] += double{dw[i * f + j]} * h[j];
    }
    return y;
  };
  std::vector<double> out(n * s.dim, 0.0);
  for (int64_t t_ = 0; t_ < n; ++t_) {
    const float* xt = &x[t_ * s.dim];
    std::vector<double> logits(s.experts);
    for (int32_t e = 0; e < s.experts; ++e) {
      for (int64_t i = 0; i < s.dim; ++i) logits[e] += double{router[e * s.dim + i]} * xt[i];
    }
    std::vector<int32_t> order(s.experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    double* o = &out[t_ * s.dim];
    if (s.top_k < s.experts && logits[order[s.top_k - 1]] - logits[order[s.top_k]] < tie) {
      std::fill(o, o + s.dim, NAN);
      continue;
    }
    const double top = logits[order[0]];
    double denominator = 0;
    for (int32_t r = 0; r < (s.normalize ? s.top_k : s.experts); ++r) {
      denominator += std::exp(logits[order[r]] - top);
    }
    for (int32_t r = 0; r < s.top_k; ++r) {
      const int32_t e = order[r];
      const double w = std::exp(logits[e] - top) / denominator;
      const std::vector<double> y = ffn(t.gate[e], t.up[e], t.down[e], xt);
      for (int64_t i = 0; i < s.dim; ++i) o[i] += w * y[i];
    }
    if (s.shared) {
      double g = 0;
      const std::vector<float> sg = t.shared_gate.Dequantized();
      for (int64_t i = 0; i < s.dim; ++i) g += double{sg[i]} * xt[i];
      const std::vector<double> y = ffn(t.shared_g, t.shared_u, t.shared_d, xt);
      for (int64_t i = 0; i < s.dim; ++i) o[i] += y[i] / (1.0 + std::exp(-g));
    }
  }
  return out;
}

// f32 precision (float activations, exact dequantization) against the float64 reference, for
// each weight type of the issue, with and without renormalization and a shared expert.
TEST(MoeFfnTest, MatchesFloat64Reference) {
  std::vector<MoeShape> shapes;
  for (GgmlType type : {GgmlType::kF32, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    MoeShape s;
    s.type = type;
    s.pack = false;
    shapes.push_back(s);
  }
  MoeShape qwen;
  qwen.type = GgmlType::kQ8_0;
  qwen.experts = 6;
  qwen.top_k = 3;
  qwen.normalize = false;
  qwen.shared = true;
  qwen.pack = false;
  shapes.push_back(qwen);
  std::mt19937 rng(11);
  ThreadPool pool(2);
  for (const MoeShape& s : shapes) {
    SCOPED_TRACE(Name(s.type) + (s.shared ? " shared" : ""));
    TestMoe t;
    Build(s, rng, &t);
    const int64_t n = 9;
    const std::vector<float> x = RandomActivations(n, s.dim, rng);
    const std::vector<double> ref = Reference(s, t, x, n, 1e-3);
    std::vector<float> out(n * s.dim);
    MoeScratch scratch;
    MoeFfn(t.m, x.data(), n, s.dim, out.data(), &scratch, &pool, ActPrecision::kF32);
    int checked = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (std::isnan(ref[r * s.dim])) continue;
      ++checked;
      double scale = 0;
      for (int64_t i = 0; i < s.dim; ++i) scale = std::max(scale, std::fabs(ref[r * s.dim + i]));
      for (int64_t i = 0; i < s.dim; ++i) {
        ASSERT_NEAR(out[r * s.dim + i], ref[r * s.dim + i], 1e-4 * scale)
            << "token " << r << " element " << i;
      }
    }
    EXPECT_GE(checked, n - 2);
  }
}

// Every token's row equals its row computed alone (n = 1), bit for bit, in q8 and f32
// precision, whatever the batch, thread count or k; and the fused gate|up gives the same bits
// as separate matrices.
TEST(MoeFfnTest, TokenAloneEqualsTokenInAnyBatch) {
  std::mt19937 rng(5);
  for (int32_t k : {1, 2, 4}) {
    for (ActPrecision precision : {ActPrecision::kQ8, ActPrecision::kF32}) {
      SCOPED_TRACE(::testing::Message() << "k " << k << " " << ActPrecisionName(precision));
      MoeShape s;
      s.type = GgmlType::kQ4_K;
      s.experts = 4;
      s.top_k = k;
      s.shared = k == 2;
      TestMoe t;
      Build(s, rng, &t);
      if (precision == ActPrecision::kQ8 && CpuKernelPathSupported(CpuKernelPath::kAvx2)) {
        ASSERT_GT(t.m.experts[0].gate_up.rows, 0);  // the fused path is exercised
      }
      const int64_t n = 37;
      const std::vector<float> x = RandomActivations(n, s.dim, rng);
      ThreadPool pool(2);
      MoeScratch scratch;
      std::vector<float> batch(n * s.dim), alone(s.dim);
      MoeFfn(t.m, x.data(), n, s.dim, batch.data(), &scratch, &pool, precision);
      // Routes really differ between tokens.
      std::vector<int32_t> used;
      for (int32_t e = 0; e < s.experts; ++e) {
        if (scratch.groups.offsets[e + 1] > scratch.groups.offsets[e]) used.push_back(e);
      }
      EXPECT_EQ(static_cast<int32_t>(used.size()), s.experts);
      MoeMatrices unfused = t.m;
      for (ExpertMatrices& e : unfused.experts) e.gate_up = WeightMatrix{};
      unfused.shared.gate_up = WeightMatrix{};
      for (int64_t r = 0; r < n; ++r) {
        MoeScratch fresh;
        const MoeMatrices& m = r % 2 == 0 ? t.m : unfused;
        MoeFfn(m, &x[r * s.dim], 1, s.dim, alone.data(), &fresh, r % 3 == 0 ? nullptr : &pool,
               precision);
        ASSERT_EQ(std::memcmp(alone.data(), &batch[r * s.dim], s.dim * sizeof(float)), 0)
            << "token " << r;
      }
      // A reversed batch gives each token the same row.
      std::vector<float> reversed_x(n * s.dim), reversed(n * s.dim);
      for (int64_t r = 0; r < n; ++r) {
        std::memcpy(&reversed_x[r * s.dim], &x[(n - 1 - r) * s.dim], s.dim * sizeof(float));
      }
      MoeFfn(t.m, reversed_x.data(), n, s.dim, reversed.data(), &scratch, &pool, precision);
      for (int64_t r = 0; r < n; ++r) {
        ASSERT_EQ(
            std::memcmp(&reversed[r * s.dim], &batch[(n - 1 - r) * s.dim], s.dim * sizeof(float)),
            0)
            << "token " << r;
      }
    }
  }
}

// Experts no token is routed to are never read: their weights are NaN, which would reach every
// output they touched (0 * NaN = NaN). The router sends positive inputs only to experts 0-3.
TEST(MoeFfnTest, ReadsOnlyTheSelectedExperts) {
  std::mt19937 rng(3);
  MoeShape s;
  s.type = GgmlType::kF32;
  s.experts = 8;
  s.pack = false;
  TestMoe t;
  Build(s, rng, &t);
  const float nan = kNaN;
  for (int32_t e = 0; e < s.experts; ++e) {
    float* r = reinterpret_cast<float*>(t.router.bytes.data()) + e * s.dim;
    for (int64_t i = 0; i < s.dim; ++i) r[i] = e < 4 ? std::fabs(r[i]) : -std::fabs(r[i]);
    if (e < 4) continue;
    for (TestWeights* w : {&t.gate[e], &t.up[e], &t.down[e]}) {
      float* p = reinterpret_cast<float*>(w->bytes.data());
      std::fill(p, p + w->w.rows * w->w.cols, nan);
    }
  }
  for (int64_t n : {1, 2, 40}) {  // decode and batched
    std::vector<float> x = RandomActivations(n, s.dim, rng);
    for (float& v : x) v = std::fabs(v);
    std::vector<float> out(n * s.dim);
    MoeScratch scratch;
    ThreadPool pool(2);
    MoeFfn(t.m, x.data(), n, s.dim, out.data(), &scratch, &pool, ActPrecision::kF32);
    for (float v : out) ASSERT_TRUE(std::isfinite(v)) << "n " << n;
    for (int32_t e = 4; e < s.experts; ++e) {
      EXPECT_EQ(scratch.groups.offsets[e + 1], scratch.groups.offsets[e]);
    }
  }
}

// Two experts with the same router row tie on every token: the lower id wins, so with k = 1
// the block is exactly that expert's FFN (weight 1).
TEST(MoeFfnTest, RouterTiesGoToTheLowerExpert) {
  std::mt19937 rng(9);
  MoeShape s;
  s.type = GgmlType::kQ8_0;
  s.experts = 4;
  s.top_k = 1;
  TestMoe t;
  Build(s, rng, &t);
  // Experts 1 and 2: the same router row, the largest logit for positive inputs.
  float* router = reinterpret_cast<float*>(t.router.bytes.data());
  for (int64_t i = 0; i < s.dim; ++i) {
    router[0 * s.dim + i] = -1.0f;
    router[1 * s.dim + i] = router[2 * s.dim + i] = 1.0f;
    router[3 * s.dim + i] = 0.5f;
  }
  const int64_t n = 10;
  std::vector<float> x = RandomActivations(n, s.dim, rng);
  for (float& v : x) v = std::fabs(v);
  std::vector<float> out(n * s.dim), want(n * s.dim);
  MoeScratch scratch;
  MoeFfn(t.m, x.data(), n, s.dim, out.data(), &scratch, nullptr, ActPrecision::kQ8);
  std::vector<float> gate_up, h;
  ExpertFfn(t.m.experts[1], x.data(), n, want.data(), &gate_up, &h, nullptr, ActPrecision::kQ8);
  EXPECT_EQ(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)), 0);
  EXPECT_EQ(scratch.groups.offsets, (std::vector<int32_t>{0, 0, 10, 10, 10}));
}

// CpuOps::AddExperts checks what it is given (the loader validates files; this guards the graph).
TEST(CpuOpsMoeTest, AddExpertsRejectsInconsistentExperts) {
  engine::testing::TinyModelSpec spec;
  spec.experts = 4;
  auto file = GgufFile::FromBytes(engine::testing::BuildTinyModel(spec));
  ASSERT_TRUE(file.ok()) << file.status();
  auto model = LoadedModel::FromFile(*std::move(file));
  ASSERT_TRUE(model.ok()) << model.status();
  const LayerWeights& l = (*model)->weights().layers[0];
  auto tensors = [&] {
    MoeTensors moe;
    moe.router = l.router;
    for (const ExpertWeights& e : l.experts) moe.experts.push_back({&e.gate, &e.up, &e.down});
    moe.top_k = 2;
    return moe;
  };
  struct Case {
    std::string name;
    MoeTensors moe;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"top_k 0", tensors(), "4 experts with top_k 0"});
  cases.back().moe.top_k = 0;
  cases.push_back({"top_k > experts", tensors(), "4 experts with top_k 5"});
  cases.back().moe.top_k = 5;
  cases.push_back({"router of the wrong shape", tensors(), "'blk.0.ffn_gate_exps.weight[0]' is"});
  cases.back().moe.router = &l.experts[0].gate;
  cases.push_back({"down of the wrong shape", tensors(), "'blk.0.ffn_gate_exps.weight[2]' is"});
  cases.back().moe.experts[2].down = &l.experts[2].gate;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto ops = CpuOps::Create((*model)->config(), {}, 1, CpuOpsOptions{});
    ASSERT_TRUE(ops.ok()) << ops.status();
    auto id = (*ops)->AddExperts(c.moe);
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(id.status().message()), ::testing::HasSubstr(c.message));
  }
  auto ops = CpuOps::Create((*model)->config(), {}, 1, CpuOpsOptions{});
  ASSERT_TRUE(ops.ok()) << ops.status();
  ASSERT_TRUE((*ops)->AddExperts(tensors()).ok());
  EXPECT_TRUE((*ops)->FinishLoading().ok());
}

}  // namespace
}  // namespace hearth::engine::cpu
