#include "tests/engine/cpu/kernels/test_weights.h"

#include <cstring>

#include "engine/quant/ggml_type.h"

namespace hearth::engine::cpu::testing {
namespace {

// A random finite fp16 with magnitude in [2^lo, 2^hi) and random sign (if `signed_`).
uint16_t RandomHalf(std::mt19937& rng, int lo, int hi, bool signed_) {
  std::uniform_int_distribution<int> exp(lo + 15, hi + 15 - 1);
  std::uniform_int_distribution<int> mant(0, 1023);
  uint16_t h = static_cast<uint16_t>((exp(rng) << 10) | mant(rng));
  if (signed_ && (rng() & 1)) h |= 0x8000;
  return h;
}

void PutHalf(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

}  // namespace

std::vector<float> TestWeights::Dequantized() const {
  const TypeTraits& traits = GetTypeTraits(w.type);
  std::vector<float> out(w.rows * w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    traits.dequantize(bytes.data() + r * w.row_bytes, out.data() + r * w.cols, w.cols);
  }
  return out;
}

TestWeights RandomWeights(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const TypeTraits& traits = GetTypeTraits(type);
  TestWeights t;
  t.w.type = type;
  t.w.rows = rows;
  t.w.cols = cols;
  t.w.row_bytes = traits.RowBytes(cols);
  t.bytes.resize(rows * t.w.row_bytes);
  for (uint8_t& b : t.bytes) b = static_cast<uint8_t>(rng());
  const int64_t blocks = rows * cols / traits.block_size;
  uint8_t* p = t.bytes.data();
  switch (type) {
    case GgmlType::kF32: {
      std::normal_distribution<float> nd(0.0f, 1.0f);
      for (int64_t i = 0; i < rows * cols; ++i) {
        const float v = nd(rng);
        std::memcpy(p + 4 * i, &v, 4);
      }
      break;
    }
    case GgmlType::kF16:
      for (int64_t i = 0; i < rows * cols; ++i) PutHalf(p + 2 * i, RandomHalf(rng, -6, 2, true));
      break;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < rows * cols; ++i) {
        // bf16: sign, 8-bit exponent in [2^-6, 2^2), 7-bit mantissa.
        const uint16_t e = static_cast<uint16_t>(127 - 6 + rng() % 8);
        uint16_t h = static_cast<uint16_t>((e << 7) | (rng() & 0x7F));
        if (rng() & 1) h |= 0x8000;
        PutHalf(p + 2 * i, h);
      }
      break;
    case GgmlType::kQ4_0:
    case GgmlType::kQ8_0:
      for (int64_t b = 0; b < blocks; ++b)
        PutHalf(p + b * traits.type_size, RandomHalf(rng, -8, -3, true));
      break;
    case GgmlType::kQ4_1:
      for (int64_t b = 0; b < blocks; ++b) {
        PutHalf(p + b * traits.type_size, RandomHalf(rng, -8, -3, false));
        PutHalf(p + b * traits.type_size + 2, RandomHalf(rng, -6, -1, true));
      }
      break;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
      for (int64_t b = 0; b < blocks; ++b) {
        PutHalf(p + b * traits.type_size, RandomHalf(rng, -10, -6, false));      // d
        PutHalf(p + b * traits.type_size + 2, RandomHalf(rng, -11, -7, false));  // dmin
      }
      break;
    case GgmlType::kQ6_K:
      for (int64_t b = 0; b < blocks; ++b) {
        PutHalf(p + b * traits.type_size + traits.type_size - 2, RandomHalf(rng, -12, -8, true));
      }
      break;
    default:
      break;
  }
  t.w.data = t.bytes.data();
  return t;
}

std::vector<float> RandomActivations(int64_t n, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(n * cols);
  for (float& v : x) v = nd(rng);
  return x;
}

bool IsK(GgmlType t) {
  return t == GgmlType::kQ4_K || t == GgmlType::kQ5_K || t == GgmlType::kQ6_K;
}

bool IsFloat(GgmlType t) {
  return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16;
}

std::string Name(GgmlType t) { return std::string(GetTypeTraits(t).name); }

std::vector<CpuKernelPath> SupportedPaths() {
  std::vector<CpuKernelPath> paths;
  for (CpuKernelPath p : {CpuKernelPath::kScalar, CpuKernelPath::kAvx2, CpuKernelPath::kAvxVnni,
                          CpuKernelPath::kAvx512}) {
    if (CpuKernelPathSupported(p)) paths.push_back(p);
  }
  return paths;
}

}  // namespace hearth::engine::cpu::testing
