// Scalar float-activation kernels: the twins of kernels_f32act_avx2.cc, bit for bit (the
// dequantization is engine/quant's own; the dot uses the 8-lane fma order of kernels.h).
#include <cmath>

#include "engine/cpu/kernels/kernels_f32act.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine::cpu::kern {
namespace {

template <GgmlType kType>
void DeqRow(const uint8_t* w, int64_t cols, float* out) {
  GetTypeTraits(kType).dequantize(w, out, cols);
}

struct ScalarDot {
  static void Run(const float* tile, int nr, const MatArgs& a, int64_t r, int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float* x = reinterpret_cast<const float*>(a.x + c * a.x_row_bytes);
      float* y = a.y + c * a.y_stride + r;
      for (int i = 0; i < nr; ++i) {
        const float* w = tile + i * a.cols;
        float acc[8] = {};
        for (int64_t k = 0; k < a.cols; k += 8) {
          for (int l = 0; l < 8; ++l) acc[l] = std::fma(w[k + l], x[k + l], acc[l]);
        }
        y[i] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
      }
    }
  }
};

template <GgmlType kType>
constexpr RangeFn kRange = RangeF32Act<DeqRow<kType>, ScalarDot>;

}  // namespace

const KernelTable& ScalarF32ActKernels() {
  static const KernelTable table = {
      .q4_0 = kRange<GgmlType::kQ4_0>,
      .q4_1 = kRange<GgmlType::kQ4_1>,
      .q8_0 = kRange<GgmlType::kQ8_0>,
      .q4_k = kRange<GgmlType::kQ4_K>,
      .q5_k = kRange<GgmlType::kQ5_K>,
      .q6_k = kRange<GgmlType::kQ6_K>,
  };
  return table;
}

}  // namespace hearth::engine::cpu::kern
