// CudaOps' mixture-of-experts pieces on the host (no GPU needed):
//   BuildMoePlan   routes against an independent top-k (stable sort by logit, NaN last), weights
//                  against a float64 softmax, and the gather / slot / run layout consistent
//   MoeCombine     the replayed kernel body bit-exact with a plain rank-order sum
//   the data flow  CudaOps::MoeFfn's sequence (router GEMV, plan, gather, each used expert's
//                  gate|up GEMV, SiluMul, down GEMV, combine: every kernel body replayed, the GEMV
//                  being the kExact path) against a float64 MoE written here from the routing
//                  rule, for F32, Q8_0, Q4_K and Q6_K experts, with and without a shared expert;
//                  and each token's output alone and in reversed order bitwise equal to its row
//                  in the batch (batch invariance).
// The tensor-core path's batch invariance is cuda_host_mma_test's; the whole block on a device
// is cuda_conformance_test's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/cuda/moe_kernels.h"
#include "engine/cuda/moe_plan.h"
#include "engine/cuda/ops_kernels.h"
#include "engine/quant/ggml_type.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/cuda/host_replay.h"

namespace hearth::engine::cuda_test {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The reference rule, written from its statement: ranks by logit descending, equal logits by
// ascending expert id, NaN below every number; weights softmaxed in double over the k selected
// (normalize) or all logits.
void ReferenceRoute(const float* logits, int32_t num_experts, int32_t k, bool normalize,
                    std::vector<int32_t>* experts, std::vector<double>* weights) {
  auto key = [&](int32_t e) {
    return std::isnan(logits[e]) ? -std::numeric_limits<double>::infinity() : double{logits[e]};
  };
  std::vector<int32_t> order(num_experts);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return key(a) > key(b); });
  experts->assign(order.begin(), order.begin() + k);
  double den = 0.0;
  for (int32_t e = 0; e < (normalize ? k : num_experts); ++e) {
    den += std::exp(key(normalize ? order[e] : e) - key(order[0]));
  }
  weights->clear();
  for (int32_t r = 0; r < k; ++r) weights->push_back(std::exp(key(order[r]) - key(order[0])) / den);
}

TEST(CudaHostMoe, PlanRoutesLikeTheRuleAndLaysOutEveryRoute) {
  std::mt19937 rng(7);
  for (const bool normalize : {true, false}) {
    for (const int32_t k : {1, 2, 3}) {
      const int32_t num_experts = 6;
      const int64_t n = 23;
      const std::vector<int64_t> ffn = {64, 128, 64, 96, 32, 64};
      std::vector<float> logits(n * num_experts);
      std::uniform_int_distribution<int> level(-3, 3);
      for (float& v : logits) v = 0.5f * level(rng);  // many exact ties
      logits[5] = std::nanf("");
      logits[6 * 2 + 1] = std::nanf("");
      cuda::MoePlan plan;
      cuda::BuildMoePlan(logits.data(), n, k, normalize, ffn, &plan);
      ASSERT_EQ(plan.experts.size(), static_cast<size_t>(n * k));
      for (int64_t t = 0; t < n; ++t) {
        std::vector<int32_t> want;
        std::vector<double> w;
        ReferenceRoute(&logits[t * num_experts], num_experts, k, normalize, &want, &w);
        for (int32_t r = 0; r < k; ++r) {
          ASSERT_EQ(plan.experts[t * k + r], want[r]) << "t=" << t << " r=" << r;
          ASSERT_NEAR(plan.weights[t * k + r], w[r], 1e-7) << "t=" << t << " r=" << r;
        }
      }
      // Every route's slot holds its token; grouped order is by expert, then by token.
      std::vector<int> seen(n * k, 0);
      for (int64_t route = 0; route < n * k; ++route) {
        const int32_t slot = plan.slots[route];
        ASSERT_GE(slot, 0);
        ASSERT_LT(slot, n * k);
        ++seen[slot];
        EXPECT_EQ(plan.gather[slot], route / k);
      }
      for (int v : seen) ASSERT_EQ(v, 1);
      int64_t next = 0, gu = 0, h = 0;
      for (const cuda::MoeRun& run : plan.runs) {
        EXPECT_EQ(run.route0, next);
        EXPECT_EQ(run.gu_offset, gu);
        EXPECT_EQ(run.h_offset, h);
        ASSERT_GT(run.rows, 0);
        for (int64_t i = run.route0; i < run.route0 + run.rows; ++i) {
          if (i > run.route0) {
            EXPECT_LT(plan.gather[i - 1], plan.gather[i]);  // token order
          }
          int64_t route = 0;
          while (plan.slots[route] != i) ++route;
          EXPECT_EQ(plan.experts[route], run.expert);
        }
        next += run.rows;
        gu += run.rows * 2 * ffn[run.expert];
        h += run.rows * ffn[run.expert];
      }
      EXPECT_EQ(next, n * k);
      EXPECT_EQ(plan.gu_floats, gu);
      EXPECT_EQ(plan.h_floats, h);
      for (size_t i = 1; i < plan.runs.size(); ++i) {
        EXPECT_LT(plan.runs[i - 1].expert, plan.runs[i].expert);
      }
    }
  }
}

TEST(CudaHostMoe, CombineSumsInRankOrderBitExact) {
  std::mt19937 rng(11);
  for (const bool shared : {false, true}) {
    const int32_t n = 5, k = 3;
    const int64_t dim = 300;  // not a multiple of the block's threads
    const auto y = RandomActivations(n * k, dim, &rng);
    const auto sy = RandomActivations(n, dim, &rng);
    const auto sg = RandomActivations(1, n, &rng);
    std::vector<int32_t> slots(n * k);
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), rng);
    const auto w = RandomActivations(1, n * k, &rng);
    std::vector<float> out(n * dim, NAN);
    cuda::MoeCombineParams p;
    p.y = y.data();
    p.slots = slots.data();
    p.weights = w.data();
    p.shared = shared ? sy.data() : nullptr;
    p.shared_gate = shared ? sg.data() : nullptr;
    p.out = out.data();
    p.n = n;
    p.k = k;
    p.dim = dim;
    ReplayMoeCombine(p);
    for (int32_t t = 0; t < n; ++t) {
      const float g = static_cast<float>(1.0 / (1.0 + std::exp(-double{sg[t]})));
      for (int64_t i = 0; i < dim; ++i) {
        volatile float v = w[t * k] * y[slots[t * k] * dim + i];  // volatile: no fused ops
        for (int32_t r = 1; r < k; ++r) {
          volatile float prod = w[t * k + r] * y[slots[t * k + r] * dim + i];
          v = v + prod;
        }
        if (shared) {
          volatile float prod = g * sy[t * dim + i];
          v = v + prod;
        }
        ASSERT_EQ(Bits(out[t * dim + i]), Bits(v)) << "t=" << t << " i=" << i;
      }
    }
  }
}

// A weight matrix as the device holds it: packed GGUF rows, 16-byte aligned, readable padding.
class DeviceLike {
 public:
  DeviceLike(GgmlType type, int64_t rows, int64_t cols, std::mt19937* rng, int min_exp, int max_exp)
      : type_(type), rows_(rows), cols_(cols) {
    const auto blocks = RandomBlocks(type, rows, cols, rng, min_exp, max_exp);
    bytes_ = blocks.size();
    storage_.assign((bytes_ + 16) / 16 + 2, Chunk{});  // zeroed padding after the data
    std::memcpy(base(), blocks.data(), bytes_);
    values_ = CpuDequantize(type, blocks, rows * cols);
  }
  // y[t, rows] = x[t, cols] W^T by the replayed GEMV kernel, 8 tokens per launch group.
  void Gemv(const float* x, int64_t n, float* y) const {
    for (int64_t t0 = 0; t0 < n; t0 += 8) {
      const int nt = static_cast<int>(std::min<int64_t>(8, n - t0));
      const std::string err =
          HostReplayGemv(static_cast<uint32_t>(type_), base(), base() + bytes_ + 16, x + t0 * cols_,
                         rows_, cols_, nt, y + t0 * rows_);
      ASSERT_EQ(err, "");
    }
  }
  double At(int64_t r, int64_t c) const { return values_[r * cols_ + c]; }
  int64_t rows() const { return rows_; }

 private:
  GgmlType type_;
  int64_t rows_, cols_;
  size_t bytes_ = 0;
  struct alignas(16) Chunk {
    uint8_t b[16];
  };
  const uint8_t* base() const { return reinterpret_cast<const uint8_t*>(storage_.data()); }
  uint8_t* base() { return reinterpret_cast<uint8_t*>(storage_.data()); }
  std::vector<Chunk> storage_;  // 16-byte aligned wherever the object is copied
  std::vector<float> values_;
};

struct HostExpert {
  int64_t f;
  DeviceLike gate_up;  // [2 f, dim]: gate rows, then up rows (one stored matrix)
  DeviceLike down;     // [dim, f]
};

struct HostMoe {
  int64_t dim = 256;
  int32_t k = 2;
  bool normalize = true;
  std::vector<DeviceLike> router;  // one [E, dim] F32 matrix
  std::vector<HostExpert> experts;
  std::vector<DeviceLike> shared_gate;  // empty: no shared expert
  std::vector<HostExpert> shared;
  std::vector<int64_t> Ffn() const {
    std::vector<int64_t> f;
    for (const HostExpert& e : experts) f.push_back(e.f);
    return f;
  }
};

HostMoe MakeMoe(GgmlType type, bool shared, std::mt19937* rng) {
  HostMoe m;
  m.normalize = !shared;  // Qwen2-MoE style with the shared expert
  const bool kquant = type == GgmlType::kQ4_K || type == GgmlType::kQ6_K;
  const std::vector<int64_t> ffn = kquant ? std::vector<int64_t>{256, 256, 256, 256, 256}
                                          : std::vector<int64_t>{64, 128, 96, 64, 32};
  // Scale exponents (RandomBlocks) that give weights of magnitude ~2^-5 for each type, so
  // activations stay O(1) through the block; router logits of spread ~1.
  const int lo = type == GgmlType::kF32    ? -13
                 : type == GgmlType::kQ8_0 ? -12
                 : type == GgmlType::kQ4_K ? -13
                                           : -15;
  const int hi = type == GgmlType::kF32 ? lo + 7 : lo + 1;  // F32: 2^[min + 8, max + 2]
  auto expert = [&](int64_t f) {
    return HostExpert{f, DeviceLike(type, 2 * f, m.dim, rng, lo, hi),
                      DeviceLike(type, m.dim, f, rng, lo, hi)};
  };
  m.router.emplace_back(GgmlType::kF32, static_cast<int64_t>(ffn.size()), m.dim, rng, -12, -5);
  for (int64_t f : ffn) m.experts.push_back(expert(f));
  if (shared) {
    m.shared_gate.emplace_back(GgmlType::kF32, 1, m.dim, rng, -12, -5);
    m.shared.push_back(expert(kquant ? 256 : 64));
  }
  return m;
}

// CudaOps::MoeFfn's sequence (kExact: every matmul the fp32 GEMV), each kernel body replayed.
std::vector<float> ReplayMoe(const HostMoe& m, const std::vector<float>& x, int64_t n,
                             cuda::MoePlan* plan) {
  const int64_t dim = m.dim;
  const int32_t num_experts = static_cast<int32_t>(m.experts.size());
  std::vector<float> logits(n * num_experts);
  m.router[0].Gemv(x.data(), n, logits.data());
  cuda::BuildMoePlan(logits.data(), n, m.k, m.normalize, m.Ffn(), plan);
  const int64_t routes = n * m.k;
  std::vector<float> xg(routes * dim), gu(plan->gu_floats), h(plan->h_floats), yg(routes * dim);
  ReplayGather({x.data(), plan->gather.data(), xg.data(), static_cast<int32_t>(routes), dim});
  for (const cuda::MoeRun& run : plan->runs) {
    const HostExpert& e = m.experts[run.expert];
    e.gate_up.Gemv(&xg[run.route0 * dim], run.rows, &gu[run.gu_offset]);
    ReplaySiluMul({&gu[run.gu_offset], &h[run.h_offset], run.rows, static_cast<int32_t>(e.f)});
  }
  for (const cuda::MoeRun& run : plan->runs) {
    m.experts[run.expert].down.Gemv(&h[run.h_offset], run.rows, &yg[run.route0 * dim]);
  }
  std::vector<float> sg(n), sgu, sh, sy;
  cuda::MoeCombineParams c;
  if (!m.shared.empty()) {
    const HostExpert& s = m.shared[0];
    sgu.resize(n * 2 * s.f);
    sh.resize(n * s.f);
    sy.resize(n * dim);
    m.shared_gate[0].Gemv(x.data(), n, sg.data());
    s.gate_up.Gemv(x.data(), n, sgu.data());
    ReplaySiluMul({sgu.data(), sh.data(), static_cast<int32_t>(n), static_cast<int32_t>(s.f)});
    s.down.Gemv(sh.data(), n, sy.data());
    c.shared = sy.data();
    c.shared_gate = sg.data();
  }
  std::vector<float> out(n * dim, NAN);
  c.y = yg.data();
  c.slots = plan->slots.data();
  c.weights = plan->weights.data();
  c.out = out.data();
  c.n = static_cast<int32_t>(n);
  c.k = m.k;
  c.dim = dim;
  ReplayMoeCombine(c);
  return out;
}

// One expert's FFN of one token in float64.
std::vector<double> ReferenceFfn(const HostExpert& e, const float* x, int64_t dim) {
  std::vector<double> h(e.f), y(dim, 0.0);
  for (int64_t i = 0; i < e.f; ++i) {
    double g = 0, u = 0;
    for (int64_t c = 0; c < dim; ++c) {
      g += e.gate_up.At(i, c) * x[c];
      u += e.gate_up.At(e.f + i, c) * x[c];
    }
    h[i] = g / (1.0 + std::exp(-g)) * u;
  }
  for (int64_t r = 0; r < dim; ++r) {
    for (int64_t i = 0; i < e.f; ++i) y[r] += e.down.At(r, i) * h[i];
  }
  return y;
}

// The block for token row x in float64; `experts` gets its routes.
std::vector<double> ReferenceMoe(const HostMoe& m, const float* x, std::vector<int32_t>* experts) {
  const int64_t dim = m.dim;
  const int32_t num_experts = static_cast<int32_t>(m.experts.size());
  std::vector<float> logits(num_experts);
  for (int32_t e = 0; e < num_experts; ++e) {
    double s = 0;
    for (int64_t c = 0; c < dim; ++c) s += m.router[0].At(e, c) * x[c];
    logits[e] = static_cast<float>(s);
  }
  std::vector<double> w;
  ReferenceRoute(logits.data(), num_experts, m.k, m.normalize, experts, &w);
  std::vector<double> out(dim, 0.0);
  for (int32_t r = 0; r < m.k; ++r) {
    const auto y = ReferenceFfn(m.experts[(*experts)[r]], x, dim);
    for (int64_t i = 0; i < dim; ++i) out[i] += w[r] * y[i];
  }
  if (!m.shared.empty()) {
    double gl = 0;
    for (int64_t c = 0; c < dim; ++c) gl += m.shared_gate[0].At(0, c) * x[c];
    const double g = 1.0 / (1.0 + std::exp(-gl));
    const auto y = ReferenceFfn(m.shared[0], x, dim);
    for (int64_t i = 0; i < dim; ++i) out[i] += g * y[i];
  }
  return out;
}

TEST(CudaHostMoe, ReplayedBlockMatchesFloat64ReferenceAndIsBatchInvariant) {
  const GgmlType types[] = {GgmlType::kF32, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K};
  for (const GgmlType type : types) {
    for (const bool shared : {false, true}) {
      SCOPED_TRACE(std::string(GetTypeTraits(type).name) + (shared ? " shared" : ""));
      std::mt19937 rng(100 + static_cast<int>(type) * 2 + shared);
      const HostMoe m = MakeMoe(type, shared, &rng);
      const int64_t n = 11, dim = m.dim;
      const auto x = RandomActivations(n, dim, &rng);
      cuda::MoePlan plan;
      const auto out = ReplayMoe(m, x, n, &plan);

      std::set<int32_t> used;
      for (int64_t t = 0; t < n; ++t) {
        std::vector<int32_t> experts;
        const auto want = ReferenceMoe(m, &x[t * dim], &experts);
        double scale = 0, err = 0;
        for (int64_t i = 0; i < dim; ++i) {
          scale = std::max(scale, std::fabs(want[i]));
          err = std::max(err, std::fabs(out[t * dim + i] - want[i]));
        }
        for (int32_t r = 0; r < m.k; ++r) {
          ASSERT_EQ(plan.experts[t * m.k + r], experts[r]) << "t=" << t << " r=" << r;
          used.insert(experts[r]);
        }
        EXPECT_LE(err, 1e-5 * scale) << "t=" << t;
      }
      EXPECT_GE(used.size(), 3u) << "the tokens should spread over the experts";

      // Batch invariance: each token alone, and the batch reversed, give the same bits.
      for (int64_t t = 0; t < n; ++t) {
        const std::vector<float> one(x.begin() + t * dim, x.begin() + (t + 1) * dim);
        cuda::MoePlan p1;
        const auto alone = ReplayMoe(m, one, 1, &p1);
        for (int64_t i = 0; i < dim; ++i) {
          ASSERT_EQ(Bits(alone[i]), Bits(out[t * dim + i])) << "t=" << t << " i=" << i;
        }
      }
      std::vector<float> rev(n * dim);
      for (int64_t t = 0; t < n; ++t) {
        std::copy(x.begin() + t * dim, x.begin() + (t + 1) * dim, rev.begin() + (n - 1 - t) * dim);
      }
      cuda::MoePlan pr;
      const auto reversed = ReplayMoe(m, rev, n, &pr);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < dim; ++i) {
          ASSERT_EQ(Bits(reversed[(n - 1 - t) * dim + i]), Bits(out[t * dim + i]))
              << "t=" << t << " i=" << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace hearth::engine::cuda_test
