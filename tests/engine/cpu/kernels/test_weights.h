// Random weight matrices in every MatMul type, for the kernel tests and benches.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/kernels/matmul.h"

namespace hearth::engine::cpu::testing {

// Every weight type MatMul supports.
inline constexpr GgmlType kAllTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                                         GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0,
                                         GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

bool IsK(GgmlType t);      // 256-element K-quant blocks
bool IsFloat(GgmlType t);  // F32, F16, BF16
std::string Name(GgmlType t);
// The kernel paths this CPU can run (scalar always).
std::vector<CpuKernelPath> SupportedPaths();

// A weight matrix with owned storage: random quant bytes, finite scales of moderate size.
struct TestWeights {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
  // W dequantized through engine/quant (the independent path): [rows, cols].
  std::vector<float> Dequantized() const;
};

// REQUIRES: cols is a multiple of the type's block size.
TestWeights RandomWeights(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng);

// Gaussian activations [n, cols].
std::vector<float> RandomActivations(int64_t n, int64_t cols, std::mt19937& rng);

}  // namespace hearth::engine::cpu::testing
