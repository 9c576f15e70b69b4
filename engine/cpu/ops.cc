#include "engine/cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/attention.h"
#include "engine/cpu/kernels/matmul.h"

namespace hearth::engine::cpu {
namespace {

// fn(begin, end) over [0, n) on the pool when there are at least `min_parallel` items.
template <typename Fn>
void ForRange(ThreadPool* pool, int64_t n, int64_t min_parallel, const Fn& fn) {
  if (pool == nullptr || pool->num_threads() == 1 || n < min_parallel) {
    if (n > 0) fn(0, n);
    return;
  }
  pool->ParallelFor(n, fn);
}

bool UseAvx2() {
  static const bool avx2 = ActiveCpuKernelPath() != CpuKernelPath::kScalar &&
                           CpuKernelPathSupported(CpuKernelPath::kAvx2);
  return avx2;
}

// Elements per parallel unit of the element-wise ops (a multiple of 8: whole vectors).
constexpr int64_t kElementChunk = 4096;

// One row of RmsNorm. The sum of squares runs in double in 8 interleaved partial sums (element i
// into sum i % 8, combined in a fixed order): 8 short dependency chains instead of one
// dim-long chain, and the same arithmetic on every path and for every row.
void RmsNormRow(const float* x, const float* w, int32_t dim, float eps, float* y) {
  double part[8] = {};
  int32_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    for (int j = 0; j < 8; ++j) part[j] += static_cast<double>(x[i + j]) * x[i + j];
  }
  for (int j = 0; i < dim; ++i, ++j) part[j] += static_cast<double>(x[i]) * x[i];
  const double ss =
      ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
  for (i = 0; i < dim; ++i) y[i] = x[i] * scale * w[i];
}

}  // namespace

void RmsNorm(const float* x, const float* w, int64_t n, int32_t dim, float eps, float* y,
             ThreadPool* pool) {
  ForRange(pool, n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) RmsNormRow(x + r * dim, w, dim, eps, y + r * dim);
  });
}

void AddRmsNorm(float* x, const float* delta, const float* w, int64_t n, int32_t dim, float eps,
                float* y, ThreadPool* pool) {
  ForRange(pool, n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* xr = x + r * dim;
      const float* dr = delta + r * dim;
      for (int32_t i = 0; i < dim; ++i) xr[i] += dr[i];
      RmsNormRow(xr, w, dim, eps, y + r * dim);
    }
  });
}

void AddBias(float* y, const float* b, int64_t n, int32_t dim) {
  for (int64_t r = 0; r < n; ++r) {
    float* yr = y + r * dim;
    for (int32_t i = 0; i < dim; ++i) yr[i] += b[i];
  }
}

void AddInPlace(float* y, const float* x, int64_t count, ThreadPool* pool) {
  const int64_t chunks = (count + kElementChunk - 1) / kElementChunk;
  ForRange(pool, chunks, 4, [&](int64_t begin, int64_t end) {
    const int64_t hi = std::min(count, end * kElementChunk);
    for (int64_t i = begin * kElementChunk; i < hi; ++i) y[i] += x[i];
  });
}

void SiluMul(const float* gate, const float* up, int64_t count, float* h, ThreadPool* pool) {
  const bool avx2 = UseAvx2();
  const int64_t chunks = (count + kElementChunk - 1) / kElementChunk;
  ForRange(pool, chunks, 2, [&](int64_t begin, int64_t end) {
    const int64_t lo = begin * kElementChunk;
    const int64_t hi = std::min(count, end * kElementChunk);
    if (avx2) {
      internal::SiluMulAvx2(gate + lo, up + lo, hi - lo, h + lo);
      return;
    }
    for (int64_t i = lo; i < hi; ++i) {
      const float g = gate[i];
      h[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
}

Rope::Rope(const ModelConfig& config, const std::vector<float>& freq_factors)
    : style_(config.rope_style), head_dim_(config.head_dim), rope_dims_(config.rope_dims) {
  inv_freq_.resize(rope_dims_ / 2);
  for (int32_t i = 0; i < rope_dims_ / 2; ++i) {
    double f = std::pow(static_cast<double>(config.rope_base), -2.0 * i / rope_dims_);
    if (!freq_factors.empty()) f /= freq_factors[i];
    inv_freq_[i] = static_cast<float>(f / config.rope_linear_scale);
  }
}

void Rope::CosSin(const int32_t* positions, int64_t n, float* table, ThreadPool* pool) const {
  const int32_t half = rope_dims_ / 2;
  ForRange(pool, n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* row = table + t * rope_dims_;
      for (int32_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(positions[t]) * inv_freq_[i];
        row[2 * i] = static_cast<float>(std::cos(angle));
        row[2 * i + 1] = static_cast<float>(std::sin(angle));
      }
    }
  });
}

void Rope::Apply(float* x, int32_t num_heads, const float* cos_sin) const {
  const int32_t half = rope_dims_ / 2;
  for (int32_t h = 0; h < num_heads; ++h) {
    float* xh = x + int64_t{h} * head_dim_;
    for (int32_t i = 0; i < half; ++i) {
      const float c = cos_sin[2 * i];
      const float s = cos_sin[2 * i + 1];
      // normal: (2i, 2i + 1); neox: (i, i + half).
      const int32_t a = style_ == RopeStyle::kNormal ? 2 * i : i;
      const int32_t b = style_ == RopeStyle::kNormal ? 2 * i + 1 : i + half;
      const float x0 = xh[a];
      const float x1 = xh[b];
      xh[a] = x0 * c - x1 * s;
      xh[b] = x0 * s + x1 * c;
    }
  }
}

void Rope::Apply(float* x, int32_t num_heads, int32_t pos) const {
  std::vector<float> cos_sin(rope_dims_);
  CosSin(&pos, 1, cos_sin.data());
  Apply(x, num_heads, cos_sin.data());
}

}  // namespace hearth::engine::cpu
