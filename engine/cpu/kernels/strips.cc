// Repacking GGUF Q4_0 / Q4_1 / Q8_0 rows into strips (layout: strips.h).
#include "engine/cpu/kernels/strips.h"

#include <cstring>
#include <type_traits>

#include "engine/cpu/kernels/blocks.h"

namespace hearth::engine::cpu::kern {
namespace {

constexpr int64_t kScaleBytes = kStripRows * sizeof(uint16_t);  // fp16 per row of a strip

bool HasMin(GgmlType type) { return type == GgmlType::kQ4_1; }

// Element e (0..31) of a 4-bit block: low nibbles hold 0..15, high nibbles 16..31.
inline uint8_t Nibble(const uint8_t* qs, int e) {
  return e < 16 ? (qs[e] & 0x0F) : (qs[e - 16] >> 4);
}

// One strip's blocks. `row(i)` is the GGUF row i of the strip or null past the last row.
template <class Block, class RowFn>
void PackOne(GgmlType type, int64_t nb, RowFn row, uint8_t* out) {
  const int64_t qbytes = StripQuantBytes(type);
  uint8_t* quants = out;
  uint16_t* d = reinterpret_cast<uint16_t*>(out + nb * qbytes);
  uint16_t* m = d + nb * kStripRows;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* q = quants + b * qbytes;
    std::memset(q, 0, qbytes);
    for (int r = 0; r < kStripRows; ++r) {
      const Block* blk = row(r) ? &row(r)[b] : nullptr;
      d[b * kStripRows + r] = blk ? blk->d : 0;
      if constexpr (std::is_same_v<Block, BlockQ4_1>) m[b * kStripRows + r] = blk ? blk->m : 0;
      if (blk == nullptr) continue;
      for (int t = 0; t < 4; ++t) {
        if constexpr (std::is_same_v<Block, BlockQ8_0>) {
          for (int v = 0; v < 8; ++v) {
            q[64 * v + 4 * r + t] = static_cast<uint8_t>(blk->qs[4 * v + t]);
          }
        } else {
          for (int c = 0; c < 4; ++c) {
            q[64 * c + 4 * r + t] = static_cast<uint8_t>(Nibble(blk->qs, 4 * c + t) |
                                                         (Nibble(blk->qs, 4 * (c + 4) + t) << 4));
          }
        }
      }
    }
  }
}

}  // namespace

bool IsStripType(GgmlType type) {
  return type == GgmlType::kQ4_0 || type == GgmlType::kQ4_1 || type == GgmlType::kQ8_0;
}

int64_t StripQuantBytes(GgmlType type) { return type == GgmlType::kQ8_0 ? 512 : 256; }

int64_t StripBytes(GgmlType type, int64_t cols) {
  const int64_t nb = cols / kQK;
  const int64_t bytes = nb * (StripQuantBytes(type) + (HasMin(type) ? 2 : 1) * kScaleBytes);
  return (bytes + 63) / 64 * 64;
}

int64_t StripCount(int64_t rows) { return (rows + kStripRows - 1) / kStripRows; }

void PackStrips(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t rows, int64_t cols,
                int64_t s0, int64_t s1, uint8_t* out) {
  const int64_t nb = cols / kQK;
  const int64_t strip_bytes = StripBytes(type, cols);
  for (int64_t s = s0; s < s1; ++s) {
    uint8_t* dst = out + s * strip_bytes;
    std::memset(dst, 0, strip_bytes);
    auto row_ptr = [&](int r) -> const uint8_t* {
      const int64_t i = s * kStripRows + r;
      return i < rows ? w + i * row_bytes : nullptr;
    };
    switch (type) {
      case GgmlType::kQ4_0:
        PackOne<BlockQ4_0>(
            type, nb, [&](int r) { return reinterpret_cast<const BlockQ4_0*>(row_ptr(r)); }, dst);
        break;
      case GgmlType::kQ4_1:
        PackOne<BlockQ4_1>(
            type, nb, [&](int r) { return reinterpret_cast<const BlockQ4_1*>(row_ptr(r)); }, dst);
        break;
      case GgmlType::kQ8_0:
        PackOne<BlockQ8_0>(
            type, nb, [&](int r) { return reinterpret_cast<const BlockQ8_0*>(row_ptr(r)); }, dst);
        break;
      default:
        break;
    }
  }
}

}  // namespace hearth::engine::cpu::kern
