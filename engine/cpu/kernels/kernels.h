// Internal: the per-instruction-set kernel tables behind MatMul, and activation quantization.
// Not part of the public API (tests and benches may use it).
#pragma once

#include <cstdint>

#include "engine/cpu/kernels/blocks.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine::cpu::kern {

// Operands of one matmul y[n, rows] = x[n, cols] * W[rows, cols]^T.
struct MatArgs {
  // [rows] rows of w_row_bytes bytes each, or, where KernelTable::strips is set and the type
  // is a strip type (strips.h), StripCount(rows) strips of w_strip_bytes bytes each.
  const uint8_t* w = nullptr;
  int64_t w_row_bytes = 0;
  int64_t w_strip_bytes = 0;
  int64_t cols = 0;
  // [n] rows of x_row_bytes bytes: floats for F32/F16/BF16 weights, ActQ8 blocks for the
  // 32-element types, ActQ8K blocks for the K-quants (see ActFormatFor).
  const uint8_t* x = nullptr;
  int64_t x_row_bytes = 0;
  float* y = nullptr;  // [n, y_stride]
  int64_t y_stride = 0;
};

// Computes y[c][r] for r in [r0, r1), c in [c0, c1). Every kernel computes each output with
// the same sequence of operations whatever the ranges are (batch invariance).
using RangeFn = void (*)(const MatArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1);

struct KernelTable {
  // Whether the block-quantized types (q4_0 ... q6_k) read the strip layout (strips.h; r0 a
  // multiple of kStripRows) instead of GGUF rows. Both compute the per-block sequence of
  // strips.h, so the same bits.
  bool strips = false;
  RangeFn f32 = nullptr, f16 = nullptr, bf16 = nullptr;
  RangeFn q4_0 = nullptr, q4_1 = nullptr, q8_0 = nullptr;
  RangeFn q4_k = nullptr, q5_k = nullptr, q6_k = nullptr;
};

const KernelTable& ScalarKernels();
const KernelTable& Avx2Kernels();     // REQUIRES: CPU has AVX2, FMA, F16C
const KernelTable& AvxVnniKernels();  // REQUIRES: additionally AVX-VNNI
const KernelTable& Avx512Kernels();   // REQUIRES: additionally AVX-512 F, BW, VL, VNNI

// Float-activation ("f32" precision) tables: x rows are floats for every weight type; block
// weights are dequantized (bit-exact with engine/quant) and each output is
//   acc[l] = fma(w[k], x[k], acc[l]) for k = 8t + l in increasing t (8 float lanes),
//   y = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)),
// the same operations on every path, so scalar and AVX2 agree bit for bit. Only the
// block-quantized entries are set (float weights use the ordinary tables).
const KernelTable& ScalarF32ActKernels();
const KernelTable& Avx2F32ActKernels();  // REQUIRES: CPU has AVX2, FMA, F16C

// Null when the type has no kernel.
RangeFn LookupKernel(const KernelTable& table, GgmlType type);

enum class ActFormat { kFloat, kQ8, kQ8K };
ActFormat ActFormatFor(GgmlType type);
// Bytes of one quantized activation row of `cols` elements.
int64_t ActRowBytes(ActFormat format, int64_t cols);

// Blocks whose largest |x| is below this quantize to zero (d = 0).
constexpr float kMinAmax = 1e-30f;

// REQUIRES: cols % 32 == 0 (Q8) or cols % 256 == 0 (Q8K). Deterministic, one code path for
// every kernel set, so all sets see identical activations.
void QuantizeRowQ8(const float* x, int64_t cols, ActQ8* out);
void QuantizeRowQ8K(const float* x, int64_t cols, ActQ8K* out);

// The two implementations behind those (same bytes; tests compare them).
namespace internal {
void QuantizeRowQ8Scalar(const float* x, int64_t cols, ActQ8* out);
void QuantizeRowQ8KScalar(const float* x, int64_t cols, ActQ8K* out);
void QuantizeRowQ8Avx2(const float* x, int64_t cols, ActQ8* out);    // REQUIRES: AVX2, FMA
void QuantizeRowQ8KAvx2(const float* x, int64_t cols, ActQ8K* out);  // REQUIRES: AVX2, FMA
}  // namespace internal

}  // namespace hearth::engine::cpu::kern
