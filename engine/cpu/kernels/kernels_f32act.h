// Shared driver of the float-activation ("f32" precision) kernels, included by
// kernels_f32act_scalar.cc and kernels_f32act_avx2.cc (internal linkage in each).
//
// For each tile of kF32ActRows weight rows: dequantize the rows once into a per-thread float
// tile [kF32ActRows, cols] (bit-exact with engine/quant), then Dot::Run multiplies the tile
// with every activation row in [c0, c1). Each output's arithmetic (see kernels.h) does not
// depend on the tile it falls in, nor on c0, c1: batch invariance.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/cpu/kernels/kernels.h"

namespace hearth::engine::cpu::kern {
namespace {

constexpr int kF32ActRows = 4;

// Dequantizes one weight row of `cols` elements into out[cols].
using DeqRowFn = void (*)(const uint8_t* w, int64_t cols, float* out);

// Dot::Run(tile, nr, a, r, c0, c1): y[c][r + i] = row i of tile . x[c], i < nr, c in [c0, c1).
template <DeqRowFn kDeq, class Dot>
void RangeF32Act(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  thread_local std::vector<float> tile;
  const int64_t cols = a.cols;
  if (static_cast<int64_t>(tile.size()) < kF32ActRows * cols) tile.resize(kF32ActRows * cols);
  for (int64_t r = r0; r < r1; r += kF32ActRows) {
    const int nr = static_cast<int>(std::min<int64_t>(kF32ActRows, r1 - r));
    for (int i = 0; i < nr; ++i) kDeq(a.w + (r + i) * a.w_row_bytes, cols, tile.data() + i * cols);
    Dot::Run(tile.data(), nr, a, r, c0, c1);
  }
}

}  // namespace
}  // namespace hearth::engine::cpu::kern
