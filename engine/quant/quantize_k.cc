// Quantization into the K-quant super-block types (Q4_K, Q5_K, Q6_K), following llama.cpp's
// reference quantizers (ggml-quants.c: quantize_row_q{4,5,6}_K_ref with their helpers
// make_qkx2_quants and make_qx_quants, rmse_type 1, no importance matrix), float operation
// for float operation, so files match what llama.cpp's `llama-quantize` writes without an
// imatrix. Built with -ffp-contract=off.
//
// Shape of the work per 256-element super-block:
//   1. per sub-block (8 of 32 for Q4_K/Q5_K, 16 of 16 for Q6_K) search a float scale (and
//      min) that minimises a weighted squared error;
//   2. store the sub-block scales as 6-bit (Q4_K/Q5_K) or int8 (Q6_K) multiples of one fp16
//      super-block scale;
//   3. re-round every value with the scales as stored, and pack.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/quant/blocks.h"
#include "engine/quant/fp16.h"
#include "engine/quant/quantize.h"

namespace hearth::engine::quant_internal {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even (what llama.cpp's nearest_int computes for |f| < 2^22).
inline int NearestInt(float f) { return static_cast<int>(std::nearbyint(f)); }

inline int Clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Asymmetric fit of n values to q in [0, nmax] with x ~ scale * q - min_out (llama.cpp's
// make_qkx2_quants, squared error): starts from the min/max grid, then tries nstep + 1 grids
// iscale = (nmax + rmin + rdelta * is) / (max - min), each followed by a weighted
// least-squares solve for scale and min, and keeps the best. Returns the scale; *min_out is
// the (non-negative) offset; L receives the levels.
float FitScaleMin(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out,
                  float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::memset(L, 0, n);
    *min_out = -min;
    return 0.0f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t trial[32];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * (diff * diff);
    }
    if (error < best_error) {
      std::memcpy(L, trial, n);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *min_out = -min;
  return scale;
}

// Symmetric fit of n values to q in [-nmax, nmax - 1], weights x^2 (llama.cpp's
// make_qx_quants with rmse_type 1): the grid through the value of largest magnitude, then 18
// neighbouring grids, each scored by its least-squares scale. Returns the scale (its sign
// follows that value); L receives q + nmax.
float FitSymmetricScale(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, n);
    return 0.0f;
  }
  auto score = [&](float iscale, float* sumlx, float* suml2, bool store) {
    *sumlx = 0;
    *suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
      if (store) L[i] = static_cast<int8_t>(l + nmax);
      const float w = x[i] * x[i];
      *sumlx += w * x[i] * l;
      *suml2 += w * l * l;
    }
  };
  float sumlx, suml2;
  score(-nmax / max, &sumlx, &suml2, /*store=*/true);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(nmax + 0.1f * is) / max;
    score(iscale, &sumlx, &suml2, /*store=*/false);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      score(iscale, &sumlx, &suml2, /*store=*/true);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Writes the 6-bit scale and min of sub-block j into the 12 packed bytes (the inverse of
// UnpackScaleMinK4 in blocks.h). REQUIRES: s zeroed before the first call for j >= 4.
void PackScaleMinK4(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    s[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
    s[j] |= static_cast<uint8_t>((lm >> 4) << 6);
  }
}

// Steps 1 and 2 for Q4_K / Q5_K (shared: they differ in nmax and the search grid): fills
// d, dmin and the packed scales, and the levels L [256] re-rounded with the stored scales.
void QuantizeSuperBlockK4(const float* x, int nmax, float rmin, float rdelta, int nstep,
                          uint16_t* d_out, uint16_t* dmin_out, uint8_t scales_out[12],
                          uint8_t L[kQK_K]) {
  float scales[8];
  float mins[8];
  float weights[32];
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = FitScaleMin(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, rdelta, nstep);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::memset(scales_out, 0, kKScaleSize);
  for (int j = 0; j < 8; ++j) {
    // As llama.cpp: the int result is truncated to uint8 before the clamp to 63.
    uint8_t ls = static_cast<uint8_t>(NearestInt(inv_scale * scales[j]));
    uint8_t lm = static_cast<uint8_t>(NearestInt(inv_min * mins[j]));
    if (ls > 63) ls = 63;
    if (lm > 63) lm = 63;
    PackScaleMinK4(j, ls, lm, scales_out);
  }
  *d_out = FloatToHalf(max_scale / 63.f);
  *dmin_out = FloatToHalf(max_min / 63.f);
  const float d_all = HalfToFloat(*d_out);
  const float dmin_all = HalfToFloat(*dmin_out);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMinK4(scales_out, j, &sc, &m);
    const float d = d_all * sc;
    if (d == 0) continue;
    const float dm = dmin_all * m;
    for (int i = 0; i < 32; ++i) {
      L[32 * j + i] = static_cast<uint8_t>(Clamp(NearestInt((x[32 * j + i] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

void QuantizeQ4_K(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    BlockQ4_K b;
    uint8_t L[kQK_K];
    QuantizeSuperBlockK4(x, 15, -1.0f, 0.1f, 20, &b.d, &b.dmin, b.scales, L);
    // Element 64*c + 32*h + l lives in nibble h of qs[32*c + l].
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        b.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
      }
    }
    std::memcpy(static_cast<uint8_t*>(dst) + i * sizeof(b), &b, sizeof(b));
  }
}

void QuantizeQ5_K(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    BlockQ5_K b;
    uint8_t L[kQK_K];
    QuantizeSuperBlockK4(x, 31, -0.5f, 0.1f, 15, &b.d, &b.dmin, b.scales, L);
    // As Q4_K for the low 4 bits; bit 4 of element e goes to bit e / 32 of qh[e % 32].
    std::memset(b.qh, 0, sizeof(b.qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l];
        const int hi = L[64 * c + 32 + l];
        b.qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        b.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
    std::memcpy(static_cast<uint8_t*>(dst) + i * sizeof(b), &b, sizeof(b));
  }
}

void QuantizeQ6_K(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    BlockQ6_K b;
    int8_t L[kQK_K];
    float scales[16];
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      scales[ib] = FitSymmetricScale(16, 32, x + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    std::memset(&b, 0, sizeof(b));
    if (max_abs_scale >= kGroupMaxEps) {
      const float iscale = -128.f / max_scale;
      b.d = FloatToHalf(1 / iscale);
      for (int ib = 0; ib < 16; ++ib) {
        b.scales[ib] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[ib])));
      }
      const float d_all = HalfToFloat(b.d);
      for (int j = 0; j < 16; ++j) {
        const float d = d_all * b.scales[j];
        if (d == 0) continue;
        for (int ii = 0; ii < 16; ++ii) {
          L[16 * j + ii] = static_cast<int8_t>(Clamp(NearestInt(x[16 * j + ii] / d), -32, 31) + 32);
        }
      }
      // Element 128*h + r: low nibble in ql[64*h + r % 64] (bits 4*(r / 64)), high 2 bits in
      // qh[32*h + r % 32] (bits 2*(r / 32)).
      for (int h = 0; h < 2; ++h) {
        for (int l = 0; l < 32; ++l) {
          const uint8_t* q = reinterpret_cast<const uint8_t*>(L) + 128 * h + l;
          b.ql[64 * h + l] = static_cast<uint8_t>((q[0] & 0xF) | ((q[64] & 0xF) << 4));
          b.ql[64 * h + 32 + l] = static_cast<uint8_t>((q[32] & 0xF) | ((q[96] & 0xF) << 4));
          b.qh[32 * h + l] = static_cast<uint8_t>((q[0] >> 4) | ((q[32] >> 4) << 2) |
                                                  ((q[64] >> 4) << 4) | ((q[96] >> 4) << 6));
        }
      }
    }
    std::memcpy(static_cast<uint8_t*>(dst) + i * sizeof(b), &b, sizeof(b));
  }
}

}  // namespace hearth::engine::quant_internal
