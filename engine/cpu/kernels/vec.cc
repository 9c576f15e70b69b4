#include "engine/cpu/kernels/vec.h"

#include "engine/cpu/kernels/matmul.h"

namespace hearth::engine::cpu {
namespace internal {

float DotF32Scalar(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void AxpyScalar(int64_t n, float alpha, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

#if !defined(__x86_64__)
float DotF32Avx2(const float* a, const float* b, int64_t n) { return DotF32Scalar(a, b, n); }
void AxpyAvx2(int64_t n, float alpha, const float* x, float* y) { AxpyScalar(n, alpha, x, y); }
#endif

}  // namespace internal

namespace {
bool UseAvx2() {
  static const bool use = ActiveCpuKernelPath() != CpuKernelPath::kScalar;
  return use;
}
}  // namespace

float DotF32(const float* a, const float* b, int64_t n) {
  return UseAvx2() ? internal::DotF32Avx2(a, b, n) : internal::DotF32Scalar(a, b, n);
}

void Axpy(int64_t n, float alpha, const float* x, float* y) {
  if (UseAvx2()) {
    internal::AxpyAvx2(n, alpha, x, y);
  } else {
    internal::AxpyScalar(n, alpha, x, y);
  }
}

}  // namespace hearth::engine::cpu
