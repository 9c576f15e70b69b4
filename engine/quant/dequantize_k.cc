// Dequantization of the K-quants (256-element super-blocks). Element order and scale packing
// are documented on the structs in blocks.h; float operations mirror gguf-py's quants.py.
#include <cstring>

#include "engine/quant/blocks.h"
#include "engine/quant/dequantize.h"
#include "engine/quant/fp16.h"

namespace hearth::engine::quant_internal {
namespace {}  // namespace

void DequantizeQ2_K(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = LoadBlock<BlockQ2_K>(src, i);
    const float d = HalfToFloat(b.d);
    const float dmin = HalfToFloat(b.dmin);
    float* y = dst + i * kQK_K;
    for (int e = 0; e < kQK_K; ++e) {
      const int j = e / 128, s = (e / 32) % 4, l = e % 32;
      const int q = (b.qs[32 * j + l] >> (2 * s)) & 3;
      const uint8_t sc = b.scales[e / 16];
      const float dl = d * static_cast<float>(sc & 0xF);    // d * (scales & 0xF)
      const float ml = dmin * static_cast<float>(sc >> 4);  // dmin * (scales >> 4)
      y[e] = dl * static_cast<float>(q) - ml;
    }
  }
}

void DequantizeQ3_K(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = LoadBlock<BlockQ3_K>(src, i);
    const float d = HalfToFloat(b.d);
    // 16 six-bit scales: low nibbles from bytes 0..7, high pairs from bytes 8..11.
    float dl[16];
    for (int k = 0; k < 16; ++k) {
      const int low = k < 8 ? b.scales[k] & 0xF : b.scales[k - 8] >> 4;
      const int high = (b.scales[8 + k % 4] >> (2 * (k / 4))) & 3;
      const int sc = static_cast<int8_t>(static_cast<uint8_t>(low | high << 4)) - 32;
      dl[k] = d * static_cast<float>(sc);
    }
    float* y = dst + i * kQK_K;
    for (int e = 0; e < kQK_K; ++e) {
      const int j = e / 128, s = (e / 32) % 4, l = e % 32;
      const int low = (b.qs[32 * j + l] >> (2 * s)) & 3;
      const int hbit = (b.hmask[l] >> (e / 32)) & 1;
      const int q = low - ((hbit ^ 1) << 2);
      y[e] = dl[e / 16] * static_cast<float>(q);
    }
  }
}

namespace {

// Shared by Q4_K and Q5_K: per-sub-block (8 of 32) d * sc and dmin * m.
void ScalesK4(const uint8_t* packed, float d, float dmin, float* dsc, float* dm) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMinK4(packed, j, &sc, &m);
    dsc[j] = d * static_cast<float>(sc);
    dm[j] = dmin * static_cast<float>(m);
  }
}

}  // namespace

void DequantizeQ4_K(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = LoadBlock<BlockQ4_K>(src, i);
    float dsc[8], dm[8];
    ScalesK4(b.scales, HalfToFloat(b.d), HalfToFloat(b.dmin), dsc, dm);
    float* y = dst + i * kQK_K;
    for (int e = 0; e < kQK_K; ++e) {
      const int c = e / 64, h = (e / 32) % 2, l = e % 32;
      const int q = (b.qs[32 * c + l] >> (4 * h)) & 0xF;
      y[e] = dsc[e / 32] * static_cast<float>(q) - dm[e / 32];
    }
  }
}

void DequantizeQ5_K(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = LoadBlock<BlockQ5_K>(src, i);
    float dsc[8], dm[8];
    ScalesK4(b.scales, HalfToFloat(b.d), HalfToFloat(b.dmin), dsc, dm);
    float* y = dst + i * kQK_K;
    for (int e = 0; e < kQK_K; ++e) {
      const int c = e / 64, h = (e / 32) % 2, l = e % 32;
      const int low = (b.qs[32 * c + l] >> (4 * h)) & 0xF;
      const int high = (b.qh[l] >> (e / 32)) & 1;
      y[e] = dsc[e / 32] * static_cast<float>(low | high << 4) - dm[e / 32];
    }
  }
}

void DequantizeQ6_K(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = LoadBlock<BlockQ6_K>(src, i);
    const float d = HalfToFloat(b.d);
    float* y = dst + i * kQK_K;
    for (int e = 0; e < kQK_K; ++e) {
      const int j = e / 128, r = e % 128;
      const int low = (b.ql[64 * j + r % 64] >> (4 * (r / 64))) & 0xF;
      const int high = (b.qh[32 * j + r % 32] >> (2 * (r / 32))) & 3;
      const float dl = d * static_cast<float>(b.scales[e / 16]);
      y[e] = dl * static_cast<float>((low | high << 4) - 32);
    }
  }
}

void DequantizeQ8_K(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = LoadBlock<BlockQ8_K>(src, i);
    float* y = dst + i * kQK_K;
    for (int e = 0; e < kQK_K; ++e) y[e] = b.d * static_cast<float>(b.qs[e]);
  }
}

}  // namespace hearth::engine::quant_internal
