// Activation quantization (one code path for every kernel set) and the kernel-table lookups.
#include <cmath>

#include "engine/cpu/kernels/kernels.h"

namespace hearth::engine::cpu::kern {
namespace {

// d = amax / 127, q = round-half-even(x * (127 / amax)). Returns d. A block with
// amax < kMinAmax (where 127 / amax could overflow) quantizes to zero. NaNs are skipped by the
// max and clamp to -127 (the AVX2 code orders its min/max operands to do the same).
float QuantizeBlock(const float* x, int len, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < len; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  if (!(amax >= kMinAmax)) {
    for (int i = 0; i < len; ++i) q[i] = 0;
    return 0.0f;
  }
  const float d = amax / 127.0f;
  const float id = 127.0f / amax;
  for (int i = 0; i < len; ++i) {
    float v = std::nearbyint(x[i] * id);
    v = std::fmin(127.0f, std::fmax(-127.0f, v));
    q[i] = static_cast<int8_t>(v);
  }
  return d;
}

}  // namespace

#if !defined(__x86_64__)
namespace internal {
void QuantizeRowQ8Avx2(const float* x, int64_t cols, ActQ8* out) {
  QuantizeRowQ8Scalar(x, cols, out);
}
void QuantizeRowQ8KAvx2(const float* x, int64_t cols, ActQ8K* out) {
  QuantizeRowQ8KScalar(x, cols, out);
}
}  // namespace internal
#endif

namespace {
// The AVX2 versions give the same bytes (tested); they only need the instructions.
bool HasAvx2() {
#if defined(__x86_64__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}
}  // namespace

void QuantizeRowQ8(const float* x, int64_t cols, ActQ8* out) {
  if (HasAvx2()) return internal::QuantizeRowQ8Avx2(x, cols, out);
  internal::QuantizeRowQ8Scalar(x, cols, out);
}

void QuantizeRowQ8K(const float* x, int64_t cols, ActQ8K* out) {
  if (HasAvx2()) return internal::QuantizeRowQ8KAvx2(x, cols, out);
  internal::QuantizeRowQ8KScalar(x, cols, out);
}

void internal::QuantizeRowQ8Scalar(const float* x, int64_t cols, ActQ8* out) {
  for (int64_t b = 0; b < cols / kQK; ++b) {
    ActQ8& blk = out[b];
    blk.d = QuantizeBlock(x + b * kQK, kQK, blk.q);
    int32_t sum = 0;
    for (int i = 0; i < kQK; ++i) sum += blk.q[i];
    blk.s = blk.d * static_cast<float>(sum);
    blk.neg8_sum = -8 * sum;
    blk.neg128_sum = -128 * sum;
  }
}

void internal::QuantizeRowQ8KScalar(const float* x, int64_t cols, ActQ8K* out) {
  for (int64_t b = 0; b < cols / kQKK; ++b) {
    ActQ8K& blk = out[b];
    blk.d = QuantizeBlock(x + b * kQKK, kQKK, blk.q);
    for (int j = 0; j < kQKK / 16; ++j) {
      int32_t sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk.q[16 * j + i];
      blk.bsums[j] = static_cast<int16_t>(sum);
    }
  }
}

RangeFn LookupKernel(const KernelTable& table, GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return table.f32;
    case GgmlType::kF16:
      return table.f16;
    case GgmlType::kBF16:
      return table.bf16;
    case GgmlType::kQ4_0:
      return table.q4_0;
    case GgmlType::kQ4_1:
      return table.q4_1;
    case GgmlType::kQ8_0:
      return table.q8_0;
    case GgmlType::kQ4_K:
      return table.q4_k;
    case GgmlType::kQ5_K:
      return table.q5_k;
    case GgmlType::kQ6_K:
      return table.q6_k;
    default:
      return nullptr;
  }
}

ActFormat ActFormatFor(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ8_0:
      return ActFormat::kQ8;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return ActFormat::kQ8K;
    default:
      return ActFormat::kFloat;
  }
}

int64_t ActRowBytes(ActFormat format, int64_t cols) {
  switch (format) {
    case ActFormat::kQ8:
      return cols / kQK * static_cast<int64_t>(sizeof(ActQ8));
    case ActFormat::kQ8K:
      return cols / kQKK * static_cast<int64_t>(sizeof(ActQ8K));
    case ActFormat::kFloat:
      break;
  }
  return cols * static_cast<int64_t>(sizeof(float));
}

}  // namespace hearth::engine::cpu::kern
