// Scalar kernels: the reference twins of the SIMD kernels, and the path for CPUs without AVX2.
// Each output is an independent plain loop over blocks in order.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "engine/cpu/kernels/kernels.h"

namespace hearth::engine::cpu::kern {
namespace {

// Dot of one weight row with one activation row.
using RowDotFn = float (*)(const uint8_t* w, const uint8_t* x, int64_t cols);

template <RowDotFn kDot>
void Range(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) {
    const uint8_t* x = a.x + c * a.x_row_bytes;
    float* y = a.y + c * a.y_stride;
    for (int64_t r = r0; r < r1; ++r) y[r] = kDot(a.w + r * a.w_row_bytes, x, a.cols);
  }
}

float DotF32(const uint8_t* w, const uint8_t* x, int64_t cols) {
  const float* wf = reinterpret_cast<const float*>(w);
  const float* xf = reinterpret_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < cols; ++i) sum += wf[i] * xf[i];
  return sum;
}

float DotF16(const uint8_t* w, const uint8_t* x, int64_t cols) {
  const uint16_t* wh = reinterpret_cast<const uint16_t*>(w);
  const float* xf = reinterpret_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < cols; ++i) sum += HalfToFloat(wh[i]) * xf[i];
  return sum;
}

float DotBf16(const uint8_t* w, const uint8_t* x, int64_t cols) {
  const uint16_t* wh = reinterpret_cast<const uint16_t*>(w);
  const float* xf = reinterpret_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < cols; ++i) sum += Bf16ToFloat(wh[i]) * xf[i];
  return sum;
}

// The 32-element types repeat the strip kernels' per-block sequence (strips.h) exactly:
// p = exact int32 dot, acc = fma(float(p), d_w * d_x, acc) [, acc = fma(m_w, s_x, acc)].
template <typename Block>
float Dot32(const uint8_t* w, const uint8_t* x, int64_t cols) {
  const auto* wb = reinterpret_cast<const Block*>(w);
  const auto* xb = reinterpret_cast<const ActQ8*>(x);
  float acc = 0.0f;
  for (int64_t b = 0; b < cols / kQK; ++b) {
    int32_t p = 0;
    for (int e = 0; e < kQK; ++e) {
      int32_t q;
      if constexpr (std::is_same_v<Block, BlockQ8_0>) {
        q = wb[b].qs[e];
      } else {
        q = e < kQK / 2 ? (wb[b].qs[e] & 0xF) : (wb[b].qs[e - kQK / 2] >> 4);
        if constexpr (std::is_same_v<Block, BlockQ4_0>) q -= 8;
      }
      p += q * xb[b].q[e];
    }
    acc = std::fma(static_cast<float>(p), HalfToFloat(wb[b].d) * xb[b].d, acc);
    if constexpr (std::is_same_v<Block, BlockQ4_1>)
      acc = std::fma(HalfToFloat(wb[b].m), xb[b].s, acc);
  }
  return acc;
}

// The K-quants repeat the K strip kernels' per-super-block sequence (strips.h) exactly:
// exact int32 isum (and imin), acc = fma(float(isum), d_w * d_x, acc)
// [, acc = fma(float(imin), -(dmin_w * d_x), acc)].
// Shared by Q4_K and Q5_K: q(j, l) is the unsigned quant of element l of sub-block j.
template <typename Block, typename QuantFn>
float DotK4Like(const uint8_t* w, const uint8_t* x, int64_t cols, QuantFn quant) {
  const auto* wb = reinterpret_cast<const Block*>(w);
  const auto* xb = reinterpret_cast<const ActQ8K*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < cols / kQKK; ++b) {
    int32_t isum = 0, imin = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      ScaleMinK4(j, wb[b].scales, &sc, &m);
      int32_t sub = 0;
      for (int l = 0; l < 32; ++l) sub += quant(wb[b], j, l) * xb[b].q[32 * j + l];
      isum += sc * sub;
      imin += m * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    }
    sum = std::fma(static_cast<float>(isum), HalfToFloat(wb[b].d) * xb[b].d, sum);
    sum = std::fma(static_cast<float>(imin), -(HalfToFloat(wb[b].dmin) * xb[b].d), sum);
  }
  return sum;
}

float DotQ4_K(const uint8_t* w, const uint8_t* x, int64_t cols) {
  return DotK4Like<BlockQ4_K>(w, x, cols, [](const BlockQ4_K& blk, int j, int l) {
    const uint8_t byte = blk.qs[32 * (j / 2) + l];
    return (j % 2 == 0) ? (byte & 0xF) : (byte >> 4);
  });
}

float DotQ5_K(const uint8_t* w, const uint8_t* x, int64_t cols) {
  return DotK4Like<BlockQ5_K>(w, x, cols, [](const BlockQ5_K& blk, int j, int l) {
    const uint8_t byte = blk.qs[32 * (j / 2) + l];
    const int low = (j % 2 == 0) ? (byte & 0xF) : (byte >> 4);
    return low + (((blk.qh[l] >> j) & 1) << 4);
  });
}

float DotQ6_K(const uint8_t* w, const uint8_t* x, int64_t cols) {
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  const auto* xb = reinterpret_cast<const ActQ8K*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < cols / kQKK; ++b) {
    // Unpack to q[256] in element order.
    int8_t q[kQKK];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = wb[b].ql + 64 * h;
      const uint8_t* qh = wb[b].qh + 32 * h;
      int8_t* out = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        out[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int32_t isum = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t sub = 0;
      for (int l = 0; l < 16; ++l) sub += q[16 * j + l] * xb[b].q[16 * j + l];
      isum += wb[b].scales[j] * sub;
    }
    sum = std::fma(static_cast<float>(isum), HalfToFloat(wb[b].d) * xb[b].d, sum);
  }
  return sum;
}

}  // namespace

const KernelTable& ScalarKernels() {
  static const KernelTable table = {
      .f32 = Range<DotF32>,
      .f16 = Range<DotF16>,
      .bf16 = Range<DotBf16>,
      .q4_0 = Range<Dot32<BlockQ4_0>>,
      .q4_1 = Range<Dot32<BlockQ4_1>>,
      .q8_0 = Range<Dot32<BlockQ8_0>>,
      .q4_k = Range<DotQ4_K>,
      .q5_k = Range<DotQ5_K>,
      .q6_k = Range<DotQ6_K>,
  };
  return table;
}

}  // namespace hearth::engine::cpu::kern
