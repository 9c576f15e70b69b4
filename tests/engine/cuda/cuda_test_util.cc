#include "tests/engine/cuda/cuda_test_util.h"

#include <cmath>
#include <cstddef>
#include <cstring>

#include "engine/quant/blocks.h"
#include "engine/quant/fp16.h"

namespace hearth::engine::cuda_test {
namespace {

float RandomScale(std::mt19937* rng, int min_exp, int max_exp) {
  std::uniform_int_distribution<int> e(min_exp, max_exp);
  std::uniform_real_distribution<float> m(1.0f, 2.0f);
  const float v = std::ldexp(m(*rng), e(*rng));
  return ((*rng)() & 1) ? -v : v;
}

void PutHalf(uint8_t* p, float v) {
  const uint16_t h = FloatToHalf(v);
  std::memcpy(p, &h, 2);
}

}  // namespace

std::vector<uint8_t> RandomBlocks(GgmlType type, int64_t rows, int64_t cols, std::mt19937* rng,
                                  int min_exp, int max_exp) {
  const TypeTraits& tt = GetTypeTraits(type);
  const int64_t n_blocks = rows * cols / tt.block_size;
  std::vector<uint8_t> out(static_cast<size_t>(n_blocks * tt.type_size));
  for (auto& b : out) b = static_cast<uint8_t>((*rng)() & 0xFF);
  // Offsets of the fp16 fields that must be finite, per block.
  std::vector<size_t> halves;
  switch (type) {
    case GgmlType::kF16:
      halves = {0};
      break;
    case GgmlType::kF32: {
      for (int64_t i = 0; i < n_blocks; ++i) {
        const float v = RandomScale(rng, min_exp + 8, max_exp + 2);
        std::memcpy(out.data() + 4 * i, &v, 4);
      }
      return out;
    }
    case GgmlType::kBF16: {
      for (int64_t i = 0; i < n_blocks; ++i) {
        const float v = RandomScale(rng, min_exp + 8, max_exp + 2);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        const uint16_t top = static_cast<uint16_t>(bits >> 16);
        std::memcpy(out.data() + 2 * i, &top, 2);
      }
      return out;
    }
    case GgmlType::kQ4_0:
      halves = {offsetof(BlockQ4_0, d)};
      break;
    case GgmlType::kQ4_1:
      halves = {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
      break;
    case GgmlType::kQ8_0:
      halves = {offsetof(BlockQ8_0, d)};
      break;
    case GgmlType::kQ4_K:
      halves = {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
      break;
    case GgmlType::kQ5_K:
      halves = {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
      break;
    case GgmlType::kQ6_K:
      halves = {offsetof(BlockQ6_K, d)};
      break;
    default:
      break;
  }
  // F16 elements span a wider range than scales (they are the weights themselves).
  const int lo = type == GgmlType::kF16 ? min_exp + 8 : min_exp;
  const int hi = type == GgmlType::kF16 ? max_exp + 2 : max_exp;
  for (int64_t i = 0; i < n_blocks; ++i) {
    for (size_t off : halves)
      PutHalf(out.data() + i * tt.type_size + off, RandomScale(rng, lo, hi));
  }
  return out;
}

std::vector<float> CpuDequantize(GgmlType type, const std::vector<uint8_t>& blocks, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  GetTypeTraits(type).dequantize(blocks.data(), out.data(), n);
  return out;
}

std::vector<float> RandomActivations(int64_t n, int64_t cols, std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n * cols));
  for (auto& v : x) v = u(*rng);
  return x;
}

void ReferenceMatMul(const std::vector<float>& w, const std::vector<float>& x, int64_t rows,
                     int64_t cols, int64_t n, std::vector<double>* ref, std::vector<double>* mag) {
  ref->assign(static_cast<size_t>(n * rows), 0.0);
  mag->assign(static_cast<size_t>(n * rows), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0, a = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double p = static_cast<double>(w[r * cols + c]) * x[t * cols + c];
        s += p;
        a += std::fabs(p);
      }
      (*ref)[t * rows + r] = s;
      (*mag)[t * rows + r] = a;
    }
  }
}

}  // namespace hearth::engine::cuda_test
