// Random weight matrices in every MatMul type, for the kernel tests and benches.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/cpu/kernels/matmul.h"

namespace hearth::engine::cpu::testing {

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
