// Small float vector helpers for the forward pass, on the active CPU kernel path
// (see ActiveCpuKernelPath in matmul.h). Deterministic: a given path always sums in the same
// order, whatever the alignment of the inputs.
#pragma once

#include <cstdint>

namespace hearth::engine::cpu {

// sum_i a[i] * b[i].  REQUIRES: n >= 0.
float DotF32(const float* a, const float* b, int64_t n);

// y[i] += alpha * x[i].  REQUIRES: n >= 0; x and y do not overlap partially.
void Axpy(int64_t n, float alpha, const float* x, float* y);

namespace internal {
float DotF32Scalar(const float* a, const float* b, int64_t n);
void AxpyScalar(int64_t n, float alpha, const float* x, float* y);
float DotF32Avx2(const float* a, const float* b, int64_t n);
void AxpyAvx2(int64_t n, float alpha, const float* x, float* y);
}  // namespace internal

}  // namespace hearth::engine::cpu
