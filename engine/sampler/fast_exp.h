// exp over logit rows, written so the compiler vectorizes it for the baseline ISA (no libm call
// per element): range reduction to 2^n * e^r, |r| <= ln2/2, and Cephes' degree-6 polynomial.
// Relative error <= ~2 ulp on [-87, 0]; inputs below -87 (and -inf) give exactly 0. Plain
// C++ only, so every target gets the same results from the same source (the scalar form is
// ExpNonPositive, the twin the tests compare with std::exp).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace hearth::sampler {

// REQUIRES: x <= 0 (or -inf). Returns e^x, and 0 for x < -87.
inline float ExpNonPositive(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  // Branch-free (selects only) so that loops over it vectorize.
  const float keep = x >= -87.0f ? 1.0f : 0.0f;  // 0 for x < -87, -inf and NaN.
  const float xc = x >= -87.0f ? x : -87.0f;
  const float t = xc * kLog2e;
  const int32_t n = static_cast<int32_t>(t - 0.5f);  // Round to nearest: t <= 0.
  const float fn = static_cast<float>(n);
  const float r = (xc - fn * kLn2Hi) - fn * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((n + 127) << 23);
  return er * scale * keep;
}

// out[i] = e^((x[i] - shift) * scale) for i in [0, n); returns the sum in double.
// REQUIRES: x[i] <= shift, scale > 0. `out` may alias `x`.
double ExpShifted(const float* x, size_t n, float shift, float scale, float* out);

// Sum over i of e^(x[i] - shift), in double. REQUIRES: x[i] <= shift.
double SumExpShifted(const float* x, size_t n, float shift);

}  // namespace hearth::sampler
