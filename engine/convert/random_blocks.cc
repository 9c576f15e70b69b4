#include "engine/convert/random_blocks.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/quant/blocks.h"
#include "engine/quant/fp16.h"
#include "engine/quant/quantize.h"

namespace hearth::engine::convert {
namespace {

// splitmix64: a counter-based generator; Mix of distinct inputs gives independent words.
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class BlockRng {
 public:
  BlockRng(uint64_t seed, int64_t block) : state_(Mix(seed ^ Mix(static_cast<uint64_t>(block)))) {}
  uint64_t Next() { return Mix(state_ += 0x9E3779B97F4A7C15ull); }
  void Fill(void* dst, size_t n) {
    auto* p = static_cast<uint8_t*>(dst);
    while (n >= 8) {
      const uint64_t v = Next();
      std::memcpy(p, &v, 8);
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      const uint64_t v = Next();
      std::memcpy(p, &v, n);
    }
  }
  // Uniform in [lo, hi].
  int Int(int lo, int hi) {
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  // Uniform in [-1, 1).
  float Signed() { return static_cast<float>(Next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }

 private:
  uint64_t state_;
};

constexpr float kStd4 = 4.6098f;   // sqrt((16^2 - 1) / 12)
constexpr float kStd5 = 9.2331f;   // sqrt((32^2 - 1) / 12)
constexpr float kStd6 = 18.4684f;  // sqrt((64^2 - 1) / 12)
constexpr float kStdInt8 = 73.9f;  // sqrt((256^2 - 1) / 12)
// Root mean square of a scale uniform in [32, 63] and in [32, 127].
const float kRms6BitScale = std::sqrt(47.5f * 47.5f + (32.0f * 32.0f - 1) / 12);
const float kRms8BitScale = std::sqrt(79.5f * 79.5f + (96.0f * 96.0f - 1) / 12);

template <typename Block>
void Store(void* dst, int64_t i, const Block& b) {
  std::memcpy(static_cast<uint8_t*>(dst) + i * sizeof(Block), &b, sizeof(Block));
}

// Q4_K / Q5_K: equal random 6-bit scale and min per sub-block, dmin = d * centre.
template <typename Block>
void FillK4(float sigma, float q_std, float centre, uint64_t seed, int64_t first, int64_t n,
            void* dst) {
  const float d = sigma / (kRms6BitScale * q_std);
  for (int64_t i = 0; i < n; ++i) {
    BlockRng rng(seed, first + i);
    Block b;
    rng.Fill(&b, sizeof(b));
    b.d = FloatToHalf(d);
    b.dmin = FloatToHalf(d * centre);
    std::memset(b.scales, 0, sizeof(b.scales));
    for (int j = 0; j < 8; ++j) {
      const auto s = static_cast<uint8_t>(rng.Int(32, 63));
      if (j < 4) {
        b.scales[j] = s;
        b.scales[j + 4] = s;
      } else {
        b.scales[j + 4] = static_cast<uint8_t>((s & 0xF) | ((s & 0xF) << 4));
        b.scales[j - 4] |= static_cast<uint8_t>((s >> 4) << 6);
        b.scales[j] |= static_cast<uint8_t>((s >> 4) << 6);
      }
    }
    Store(dst, i, b);
  }
}

}  // namespace

absl::Status FillRandomBlocks(GgmlType type, float sigma, uint64_t seed, int64_t first_block,
                              int64_t n_blocks, void* dst) {
  const float amplitude = sigma * std::sqrt(3.0f);
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16: {
      // 4096 elements per generator so the per-"block" seeding stays cheap.
      constexpr int64_t kRun = 4096;
      float run[kRun];
      const QuantizeRowFn convert = FindQuantizer(type);
      const int64_t elem = GetTypeTraits(type).type_size;
      for (int64_t e = 0; e < n_blocks;) {
        const int64_t global = first_block + e;
        BlockRng rng(seed, global / kRun);
        for (int64_t skip = global % kRun; skip > 0; --skip) rng.Next();
        const int64_t count = std::min(kRun - global % kRun, n_blocks - e);
        for (int64_t k = 0; k < count; ++k) run[k] = amplitude * rng.Signed();
        convert(run, static_cast<uint8_t*>(dst) + e * elem, count);
        e += count;
      }
      return absl::OkStatus();
    }
    case GgmlType::kQ8_0:
      for (int64_t i = 0; i < n_blocks; ++i) {
        BlockRng rng(seed, first_block + i);
        BlockQ8_0 b;
        rng.Fill(&b, sizeof(b));
        b.d = FloatToHalf(sigma / kStdInt8);
        Store(dst, i, b);
      }
      return absl::OkStatus();
    case GgmlType::kQ4_0:
      for (int64_t i = 0; i < n_blocks; ++i) {
        BlockRng rng(seed, first_block + i);
        BlockQ4_0 b;
        rng.Fill(&b, sizeof(b));
        // q - 8 is in [-8, 7]: a random sign per block cancels the -0.5 d offset.
        b.d = FloatToHalf((rng.Next() & 1 ? 1.0f : -1.0f) * sigma / kStd4);
        Store(dst, i, b);
      }
      return absl::OkStatus();
    case GgmlType::kQ4_1:
      for (int64_t i = 0; i < n_blocks; ++i) {
        BlockRng rng(seed, first_block + i);
        BlockQ4_1 b;
        rng.Fill(&b, sizeof(b));
        b.d = FloatToHalf(sigma / kStd4);
        b.m = FloatToHalf(-7.5f * sigma / kStd4);
        Store(dst, i, b);
      }
      return absl::OkStatus();
    case GgmlType::kQ4_K:
      FillK4<BlockQ4_K>(sigma, kStd4, 7.5f, seed, first_block, n_blocks, dst);
      return absl::OkStatus();
    case GgmlType::kQ5_K:
      FillK4<BlockQ5_K>(sigma, kStd5, 15.5f, seed, first_block, n_blocks, dst);
      return absl::OkStatus();
    case GgmlType::kQ6_K:
      for (int64_t i = 0; i < n_blocks; ++i) {
        BlockRng rng(seed, first_block + i);
        BlockQ6_K b;
        rng.Fill(&b, sizeof(b));
        // q - 32 is in [-32, 31]: random signs on the scales cancel the -0.5 offset.
        for (int8_t& s : b.scales) {
          s = static_cast<int8_t>(rng.Int(32, 127) * (rng.Next() & 1 ? 1 : -1));
        }
        b.d = FloatToHalf(sigma / (kRms8BitScale * kStd6));
        Store(dst, i, b);
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("no random generator for ", std::string(GetTypeTraits(type).name)));
  }
}

}  // namespace hearth::engine::convert
