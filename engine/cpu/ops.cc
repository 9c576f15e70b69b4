#include "engine/cpu/ops.h"

#include <cmath>

namespace hearth::engine::cpu {

void RmsNorm(const float* x, const float* w, int64_t n, int32_t dim, float eps, float* y) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double ss = 0.0;
    for (int32_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
    for (int32_t i = 0; i < dim; ++i) yr[i] = xr[i] * scale * w[i];
  }
}

void AddBias(float* y, const float* b, int64_t n, int32_t dim) {
  for (int64_t r = 0; r < n; ++r) {
    float* yr = y + r * dim;
    for (int32_t i = 0; i < dim; ++i) yr[i] += b[i];
  }
}

void SiluMul(const float* gate, const float* up, int64_t count, float* h) {
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    h[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
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

void Rope::Apply(float* x, int32_t num_heads, int32_t pos) const {
  const int32_t half = rope_dims_ / 2;
  for (int32_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq_[i];
    const float c = static_cast<float>(std::cos(angle));
    const float s = static_cast<float>(std::sin(angle));
    // normal: (2i, 2i + 1); neox: (i, i + half).
    const int32_t a = style_ == RopeStyle::kNormal ? 2 * i : i;
    const int32_t b = style_ == RopeStyle::kNormal ? 2 * i + 1 : i + half;
    for (int32_t h = 0; h < num_heads; ++h) {
      float* xh = x + int64_t{h} * head_dim_;
      const float x0 = xh[a];
      const float x1 = xh[b];
      xh[a] = x0 * c - x1 * s;
      xh[b] = x0 * s + x1 * c;
    }
  }
}

}  // namespace hearth::engine::cpu
