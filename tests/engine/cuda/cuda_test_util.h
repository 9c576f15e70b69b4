// Random GGUF blocks and float64 references for the CUDA kernel tests and the bench.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/quant/ggml_type.h"

namespace hearth::engine::cuda_test {

// rows x cols elements of `type` as packed GGUF blocks: random quant bits, and every fp16
// scale/min (or F16/BF16 element) a random finite value: sign random, magnitude
// 2^U(min_exp, max_exp) * U[1, 2), so subnormal scales appear when min_exp < -14.
// REQUIRES: cols % block_size == 0.
std::vector<uint8_t> RandomBlocks(GgmlType type, int64_t rows, int64_t cols, std::mt19937* rng,
                                  int min_exp = -16, int max_exp = -2);

// The CPU dequantizer's output (engine/quant, bit-exact with gguf-py): [rows * cols] floats.
std::vector<float> CpuDequantize(GgmlType type, const std::vector<uint8_t>& blocks, int64_t n);

// n x cols floats, uniform in [-1, 1).
std::vector<float> RandomActivations(int64_t n, int64_t cols, std::mt19937* rng);

// ref[t * rows + r] = sum_c double(w[r * cols + c]) * x[t * cols + c];
// mag[t * rows + r] = sum_c |w * x| (the scale the error bounds are relative to).
void ReferenceMatMul(const std::vector<float>& w, const std::vector<float>& x, int64_t rows,
                     int64_t cols, int64_t n, std::vector<double>* ref, std::vector<double>* mag);

}  // namespace hearth::engine::cuda_test
