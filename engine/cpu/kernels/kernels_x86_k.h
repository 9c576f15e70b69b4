// The x86 kernel tables: float weights from GGUF rows (kernels_x86.h), the 32-element types and
// the K-quants from strips (kernels_x86_strip.h, kernels_x86_kstrip.h). Included by
// kernels_avx2.cc, kernels_avxvnni.cc and kernels_avx512.cc, each with its own -m flags.
#pragma once

#include "engine/cpu/kernels/kernels_x86.h"
#include "engine/cpu/kernels/kernels_x86_kstrip.h"
#include "engine/cpu/kernels/kernels_x86_strip.h"

namespace hearth::engine::cpu::kern {
namespace {

// Columns per K-quant tile. Three accumulators per column (sub-block dot, isum, float acc):
// zmm spills the float ones (touched once per super-block) at 12, which measured as fast as 8
// for Q4_K and ~5% faster for Q6_K at n = 32; ymm: 4 and 5 measured the same, 3 slower.
template <class Lanes>
constexpr int KTileCols() {
  return Lanes::kLanes == 16 ? 12 : 4;
}

// The table for one variant: Lanes is the vector width and dot product of the strip kernels.
template <class Lanes>
KernelTable MakeX86Table() {
  constexpr int kKCols = KTileCols<Lanes>();
  KernelTable t;
  t.strips = true;
  t.f32 = RangeT<KernelFloat<F32Load, 4, 2>>;
  t.f16 = RangeT<KernelFloat<F16Load, 4, 2>>;
  t.bf16 = RangeT<KernelFloat<Bf16Load, 4, 2>>;
  t.q4_0 = StripKernel<Lanes, StripQ4_0>::Range;
  t.q4_1 = StripKernel<Lanes, StripQ4_1>::Range;
  t.q8_0 = StripKernel<Lanes, StripQ8_0>::Range;
  t.q4_k = KStripKernel<Lanes, KStripQ4K, kKCols>::Range;
  t.q5_k = KStripKernel<Lanes, KStripQ5K, kKCols>::Range;
  t.q6_k = KStripKernel<Lanes, KStripQ6K, kKCols>::Range;
  return t;
}

}  // namespace
}  // namespace hearth::engine::cpu::kern
