// The one table of ggml type traits. Sizes follow ggml (ggml.c's type_traits); they agree with
// gguf-py's GGML_QUANT_SIZES except Q8_1 (see blocks.h).
#include <array>

#include "engine/quant/blocks.h"
#include "engine/quant/dequantize.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine {
namespace {

using namespace quant_internal;  // NOLINT: the kernels' names are the table's contents
using T = GgmlType;

constexpr std::array kTraits = {
    TypeTraits{T::kF32, "F32", 1, 4, DequantizeF32},
    TypeTraits{T::kF16, "F16", 1, 2, DequantizeF16},
    TypeTraits{T::kQ4_0, "Q4_0", kQK4_0, sizeof(BlockQ4_0), DequantizeQ4_0},
    TypeTraits{T::kQ4_1, "Q4_1", kQK4_1, sizeof(BlockQ4_1), DequantizeQ4_1},
    TypeTraits{T::kQ5_0, "Q5_0", kQK5_0, sizeof(BlockQ5_0), DequantizeQ5_0},
    TypeTraits{T::kQ5_1, "Q5_1", kQK5_1, sizeof(BlockQ5_1), DequantizeQ5_1},
    TypeTraits{T::kQ8_0, "Q8_0", kQK8_0, sizeof(BlockQ8_0), DequantizeQ8_0},
    TypeTraits{T::kQ8_1, "Q8_1", kQK8_1, sizeof(BlockQ8_1), DequantizeQ8_1},
    TypeTraits{T::kQ2_K, "Q2_K", kQK_K, sizeof(BlockQ2_K), DequantizeQ2_K},
    TypeTraits{T::kQ3_K, "Q3_K", kQK_K, sizeof(BlockQ3_K), DequantizeQ3_K},
    TypeTraits{T::kQ4_K, "Q4_K", kQK_K, sizeof(BlockQ4_K), DequantizeQ4_K},
    TypeTraits{T::kQ5_K, "Q5_K", kQK_K, sizeof(BlockQ5_K), DequantizeQ5_K},
    TypeTraits{T::kQ6_K, "Q6_K", kQK_K, sizeof(BlockQ6_K), DequantizeQ6_K},
    TypeTraits{T::kQ8_K, "Q8_K", kQK_K, sizeof(BlockQ8_K), DequantizeQ8_K},
    // Layout only (QK_K = 256 unless noted), as in gguf-py's GGML_QUANT_SIZES.
    TypeTraits{T::kIQ2_XXS, "IQ2_XXS", 256, 2 + 256 / 4, nullptr},
    TypeTraits{T::kIQ2_XS, "IQ2_XS", 256, 2 + 256 / 4 + 256 / 32, nullptr},
    TypeTraits{T::kIQ3_XXS, "IQ3_XXS", 256, 2 + 256 / 4 + 256 / 8, nullptr},
    TypeTraits{T::kIQ1_S, "IQ1_S", 256, 2 + 256 / 8 + 256 / 16, nullptr},
    TypeTraits{T::kIQ4_NL, "IQ4_NL", 32, 2 + 16, nullptr},
    TypeTraits{T::kIQ3_S, "IQ3_S", 256, 2 + 256 / 4 + 256 / 8 + 256 / 32 + 4, nullptr},
    TypeTraits{T::kIQ2_S, "IQ2_S", 256, 2 + 256 / 4 + 256 / 16, nullptr},
    TypeTraits{T::kIQ4_XS, "IQ4_XS", 256, 2 + 2 + 256 / 2 + 256 / 64, nullptr},
    TypeTraits{T::kI8, "I8", 1, 1, nullptr},
    TypeTraits{T::kI16, "I16", 1, 2, nullptr},
    TypeTraits{T::kI32, "I32", 1, 4, nullptr},
    TypeTraits{T::kI64, "I64", 1, 8, nullptr},
    TypeTraits{T::kF64, "F64", 1, 8, nullptr},
    TypeTraits{T::kIQ1_M, "IQ1_M", 256, 256 / 8 + 256 / 16 + 256 / 32, nullptr},
    TypeTraits{T::kBF16, "BF16", 1, 2, DequantizeBF16},
    TypeTraits{T::kTQ1_0, "TQ1_0", 256, 2 + 4 * 13, nullptr},
    TypeTraits{T::kTQ2_0, "TQ2_0", 256, 2 + 64, nullptr},
    TypeTraits{T::kMXFP4, "MXFP4", 32, 1 + 16, nullptr},
};

// Raw GGUF number -> index into kTraits (-1: not a type). Built at compile time.
constexpr uint32_t kMaxRaw = 64;
constexpr std::array<int, kMaxRaw> kIndex = [] {
  std::array<int, kMaxRaw> index{};
  for (int& i : index) i = -1;
  for (size_t i = 0; i < kTraits.size(); ++i) {
    index[static_cast<uint32_t>(kTraits[i].type)] = static_cast<int>(i);
  }
  return index;
}();

constexpr bool TableIsSorted() {
  for (size_t i = 1; i < kTraits.size(); ++i) {
    if (kTraits[i - 1].type >= kTraits[i].type) return false;
  }
  return true;
}
static_assert(TableIsSorted(), "kTraits must be in GGUF number order, without duplicates");

}  // namespace

const TypeTraits* FindTypeTraits(uint32_t raw_type) {
  if (raw_type >= kMaxRaw || kIndex[raw_type] < 0) return nullptr;
  return &kTraits[kIndex[raw_type]];
}

const TypeTraits& GetTypeTraits(GgmlType type) {
  return *FindTypeTraits(static_cast<uint32_t>(type));
}

std::span<const TypeTraits> AllTypeTraits() { return kTraits; }

}  // namespace hearth::engine
