#include "engine/cpu/moe.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/cpu/ops.h"

namespace hearth::engine::cpu {
namespace {

// Rows per parallel unit below which copies stay on the calling thread.
constexpr int64_t kParallelMinRows = 8;

template <typename Fn>
void ForRows(ThreadPool* pool, int64_t n, const Fn& fn) {
  if (pool == nullptr || pool->num_threads() == 1 || n < kParallelMinRows) {
    if (n > 0) fn(0, n);
    return;
  }
  pool->ParallelFor(n, fn);
}

// NaN ranks below every number.
float RankKey(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

// Top-k of one row: selection by repeated scans (k and E are small), ascending ids, so the
// first of equal logits wins.
void RouteRow(const float* logits, int32_t num_experts, const RoutingRule& rule, int32_t* experts,
              float* weights) {
  const int32_t k = rule.top_k;
  for (int32_t r = 0; r < k; ++r) {
    int32_t best = -1;
    for (int32_t e = 0; e < num_experts; ++e) {
      bool taken = false;
      for (int32_t j = 0; j < r; ++j) taken |= experts[j] == e;
      if (taken) continue;
      if (best < 0 || RankKey(logits[e]) > RankKey(logits[best])) best = e;
    }
    experts[r] = best;
  }
  // Softmax relative to the largest selected logit (the row's maximum), in double.
  const double top = RankKey(logits[experts[0]]);
  double denominator = 0.0;
  if (rule.normalize) {
    for (int32_t r = 0; r < k; ++r) denominator += std::exp(RankKey(logits[experts[r]]) - top);
  } else {
    for (int32_t e = 0; e < num_experts; ++e) denominator += std::exp(RankKey(logits[e]) - top);
  }
  for (int32_t r = 0; r < k; ++r) {
    weights[r] = static_cast<float>(std::exp(RankKey(logits[experts[r]]) - top) / denominator);
  }
}

void Resize(std::vector<float>* v, int64_t n) {
  // resize, not clear + resize: a buffer keeps its memory and is not zeroed again; every
  // element is written before it is read.
  if (static_cast<int64_t>(v->size()) < n) v->resize(n);
}

float Sigmoid(float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-double{v}))); }

}  // namespace

void RouteTopK(const float* logits, int64_t n, int32_t num_experts, const RoutingRule& rule,
               int32_t* experts, float* weights) {
  const int32_t k = rule.top_k;
  for (int64_t t = 0; t < n; ++t) {
    RouteRow(logits + t * num_experts, num_experts, rule, experts + t * k, weights + t * k);
  }
}

void GroupByExpert(const int32_t* experts, int64_t num_routes, int32_t num_experts,
                   ExpertGroups* groups) {
  std::vector<int32_t>& offsets = groups->offsets;
  offsets.assign(num_experts + 1, 0);
  for (int64_t i = 0; i < num_routes; ++i) ++offsets[experts[i] + 1];
  for (int32_t e = 0; e < num_experts; ++e) offsets[e + 1] += offsets[e];
  groups->routes.resize(num_routes);
  std::vector<int32_t> next(offsets.begin(), offsets.end() - 1);
  for (int64_t i = 0; i < num_routes; ++i) {
    groups->routes[next[experts[i]]++] = static_cast<int32_t>(i);
  }
}

void ExpertFfn(const ExpertMatrices& e, const float* x, int64_t rows, float* y,
               std::vector<float>* gate_up, std::vector<float>* h, ThreadPool* pool,
               ActPrecision precision) {
  const int64_t f = e.gate.rows;
  // The fused matrix has strips only (kF32 precision reads the GGUF rows).
  const bool fused = e.gate_up.rows > 0 && precision == ActPrecision::kQ8;
  Resize(gate_up, rows * 2 * f);
  Resize(h, rows * f);
  float* gu = gate_up->data();
  {
    QuantizedActivations xq(x, rows, e.gate.cols, precision);  // once for gate and up
    if (fused) {
      MatMul(e.gate_up, xq, gu, pool);  // [rows, f | f]
    } else {
      MatMul(e.gate, xq, gu, pool);           // [rows, f]
      MatMul(e.up, xq, gu + rows * f, pool);  // [rows, f]
    }
  }
  float* hp = h->data();
  if (fused) {
    ForRows(pool, rows, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        SiluMul(gu + t * 2 * f, gu + t * 2 * f + f, f, hp + t * f);
    });
  } else {
    SiluMul(gu, gu + rows * f, rows * f, hp, pool);
  }
  MatMul(e.down, hp, rows, y, pool, precision);  // [rows, dim]
}

void MoeFfn(const MoeMatrices& m, const float* x, int64_t n, int64_t dim, float* out, MoeScratch* s,
            ThreadPool* pool, ActPrecision precision) {
  if (n == 0) return;
  const int32_t num_experts = static_cast<int32_t>(m.experts.size());
  const int32_t k = m.rule.top_k;

  // Router and routing.
  Resize(&s->logits, n * num_experts);
  MatMul(m.router, x, n, s->logits.data(), pool, precision);  // [n, E]
  s->experts.resize(n * k);
  Resize(&s->weights, n * k);
  RouteTopK(s->logits.data(), n, num_experts, m.rule, s->experts.data(), s->weights.data());
  GroupByExpert(s->experts.data(), n * k, num_experts, &s->groups);

  // Each expert with routes, over all of its rows at once.
  Resize(&s->y, n * k * dim);
  for (int32_t e = 0; e < num_experts; ++e) {
    const int32_t* routes = s->groups.routes.data() + s->groups.offsets[e];
    const int64_t rows = s->groups.offsets[e + 1] - s->groups.offsets[e];
    if (rows == 0) continue;
    Resize(&s->xe, rows * dim);
    Resize(&s->ye, rows * dim);
    ForRows(pool, rows, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        std::memcpy(&s->xe[i * dim], x + routes[i] / k * dim, dim * sizeof(float));
      }
    });
    ExpertFfn(m.experts[e], s->xe.data(), rows, s->ye.data(), &s->gate_up, &s->h, pool, precision);
    ForRows(pool, rows, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        std::memcpy(&s->y[int64_t{routes[i]} * dim], &s->ye[i * dim], dim * sizeof(float));
      }
    });
  }

  // The shared expert, for every token.
  const bool shared = m.shared_gate.rows > 0;
  if (shared) {
    Resize(&s->shared, n * dim);
    Resize(&s->shared_gate, n);
    MatMul(m.shared_gate, x, n, s->shared_gate.data(), pool, precision);  // [n, 1]
    ExpertFfn(m.shared, x, n, s->shared.data(), &s->gate_up, &s->h, pool, precision);
  }

  // Weighted sum in rank order.
  ForRows(pool, n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* o = out + t * dim;
      const float* w = &s->weights[t * k];
      const float* y0 = &s->y[t * k * dim];
      for (int64_t i = 0; i < dim; ++i) o[i] = w[0] * y0[i];
      for (int32_t r = 1; r < k; ++r) {
        const float* yr = y0 + r * dim;
        for (int64_t i = 0; i < dim; ++i) o[i] += w[r] * yr[i];
      }
      if (shared) {
        const float g = Sigmoid(s->shared_gate[t]);
        const float* ys = &s->shared[t * dim];
        for (int64_t i = 0; i < dim; ++i) o[i] += g * ys[i];
      }
    }
  });
}

}  // namespace hearth::engine::cpu
