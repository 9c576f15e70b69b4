// Quantization of float rows into the GGUF block types Hearth writes (the inverse of
// dequantize.h), for `hearth quantize` and the synthetic-model writer.
//
//   F32, F16, BF16, Q4_0, Q4_1, Q8_0   bit-identical to gguf-py 0.19's gguf.quants.quantize
//                                      (same float operations in the same order, no FMA);
//                                      these also equal llama.cpp's quantize_row_*_ref
//   Q4_K, Q5_K, Q6_K                   llama.cpp's reference algorithm (quantize_row_*_ref,
//                                      no importance matrix): per sub-block a weighted search
//                                      for scale (and min), scales re-quantized to 6/8 bits,
//                                      then every value re-rounded with the stored scales.
//                                      gguf-py 0.19 cannot quantize these types.
//
// Expected error (tests/engine/quant/quantize_test.cc measures it on Gaussian rows, relative
// RMS error = rms(x - dequant(quant(x))) / rms(x)): Q8_0 0.54%, Q6_K 1.8%, Q5_K 3.6%,
// Q4_K 7.2%, Q4_1 7.8%, Q4_0 8.7%.
//
// Thread-safety: pure functions; callers split rows across threads freely (each row's bytes
// depend only on that row).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine {

// Converts `n` floats (REQUIRES: n % block_size == 0) into n / block_size blocks at `dst`
// (TypeTraits::RowBytes(n) bytes; no alignment required).
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

// The quantizer of `type`, or nullptr when Hearth cannot write that type.
QuantizeRowFn FindQuantizer(GgmlType type);

// Quantizes `rows` rows of `cols` floats (row-major, contiguous) into `dst`.
// InvalidArgument when the type has no quantizer or `cols` is not a multiple of its block size.
absl::Status QuantizeRows(GgmlType type, const float* src, int64_t rows, int64_t cols, void* dst);

namespace quant_internal {

void QuantizeF32(const float* src, void* dst, int64_t n);
void QuantizeF16(const float* src, void* dst, int64_t n);
void QuantizeBF16(const float* src, void* dst, int64_t n);
void QuantizeQ4_0(const float* src, void* dst, int64_t n);
void QuantizeQ4_1(const float* src, void* dst, int64_t n);
void QuantizeQ8_0(const float* src, void* dst, int64_t n);
void QuantizeQ4_K(const float* src, void* dst, int64_t n);
void QuantizeQ5_K(const float* src, void* dst, int64_t n);
void QuantizeQ6_K(const float* src, void* dst, int64_t n);

}  // namespace quant_internal
}  // namespace hearth::engine
