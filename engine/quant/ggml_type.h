// Tensor element types as GGUF numbers them, and the one table of per-type traits.
//
// Block-quantized types store `block_size` elements in `type_size` bytes; plain types
// (F32, F16, BF16) have block_size 1. Backends keep their own kernel tables (dot products,
// matmuls) keyed by this enum; this table holds only what every backend shares.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace hearth::engine {

// Values are GGUF's `ggml_type` numbers (stable on disk).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  // Layout known (files validate), no dequantizer in Hearth.
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

// Converts `n` elements (a multiple of block_size) from `src` into floats.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);

struct TypeTraits {
  GgmlType type;
  std::string_view name;  // "Q4_K", as gguf-py and llama.cpp spell it
  int64_t block_size;     // elements per block
  int64_t type_size;      // bytes per block
  // Null for types whose layout is known (so files can be validated) but that Hearth does
  // not compute with.
  DequantizeRowFn dequantize;

  bool supported() const { return dequantize != nullptr; }
  // Bytes for `n` elements; REQUIRES: n % block_size == 0.
  int64_t RowBytes(int64_t n) const { return n / block_size * type_size; }
};

// The traits of a raw GGUF type number, or nullptr when the number is not a ggml type at all.
const TypeTraits* FindTypeTraits(uint32_t raw_type);

// Convenience for known types. REQUIRES: `type` is one of the enumerators above.
const TypeTraits& GetTypeTraits(GgmlType type);

// Every entry of the table, in GGUF number order (for tests and tools).
std::span<const TypeTraits> AllTypeTraits();

}  // namespace hearth::engine
