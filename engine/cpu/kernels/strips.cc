// Repacking GGUF Q4_0 / Q4_1 / Q8_0 / Q4_K / Q5_K / Q6_K rows into strips (layout: strips.h).
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

// One strip's blocks into `out` (zeroed by the caller: rows past the last stay zero).
// `row(i)` is the GGUF row i of the strip (bytes) or null past the last row.
template <class Block, class RowFn>
void PackOne(GgmlType type, int64_t nb, RowFn row, uint8_t* out) {
  const int64_t qbytes = StripQuantBytes(type);
  uint16_t* d = reinterpret_cast<uint16_t*>(out + nb * qbytes);
  uint16_t* m = d + nb * kStripRows;
  for (int r = 0; r < kStripRows; ++r) {
    const Block* blocks = reinterpret_cast<const Block*>(row(r));
    if (blocks == nullptr) continue;
    for (int64_t b = 0; b < nb; ++b) {
      const Block* blk = &blocks[b];
      uint8_t* q = out + b * qbytes;
      d[b * kStripRows + r] = blk->d;
      if constexpr (std::is_same_v<Block, BlockQ4_1>) m[b * kStripRows + r] = blk->m;
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

// The unsigned quants (0..31 or 0..63) of one K-quant super-block in element order, its
// per-sub-block scales and mins, for the packer.
struct KUnpacked {
  uint8_t q[kQKK];
  uint8_t sc[16];  // Q6_K: int8 bits
  uint8_t m[8];
};

void UnpackK(GgmlType type, const uint8_t* blk_bytes, KUnpacked* u) {
  if (type == GgmlType::kQ6_K) {
    const auto* blk = reinterpret_cast<const BlockQ6_K*>(blk_bytes);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk->ql + 64 * h;
      const uint8_t* qh = blk->qh + 32 * h;
      uint8_t* out = u->q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        out[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
        out[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        out[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        out[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      }
    }
    for (int s = 0; s < 16; ++s) u->sc[s] = static_cast<uint8_t>(blk->scales[s]);
    return;
  }
  // Q4_K and Q5_K share the header and the nibble order.
  const auto* blk = reinterpret_cast<const BlockQ4_K*>(blk_bytes);
  const uint8_t* qs = blk->qs;
  const uint8_t* qh = nullptr;
  if (type == GgmlType::kQ5_K) {
    const auto* b5 = reinterpret_cast<const BlockQ5_K*>(blk_bytes);
    qs = b5->qs;
    qh = b5->qh;
  }
  for (int j = 0; j < 8; ++j) {
    ScaleMinK4(j, blk->scales, &u->sc[j], &u->m[j]);
    for (int l = 0; l < 32; ++l) {
      const uint8_t byte = qs[32 * (j / 2) + l];
      uint8_t q = (j % 2 == 0) ? (byte & 0xF) : (byte >> 4);
      if (qh != nullptr) q |= ((qh[l] >> j) & 1) << 4;
      u->q[32 * j + l] = q;
    }
  }
}

// One strip of a K-quant. `row(i)` is the GGUF row i of the strip or null past the last row.
template <class RowFn>
void PackOneK(GgmlType type, int64_t nb, int64_t block_bytes, RowFn row, uint8_t* out) {
  const KStripLayout& lay = KStripLayoutFor(type);
  const bool q6 = type == GgmlType::kQ6_K;
  KUnpacked u;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* rec = out + b * lay.bytes;
    for (int r = 0; r < kStripRows; ++r) {
      const uint8_t* rp = row(r);
      if (rp == nullptr) continue;  // zero row: all zero bytes (memset by the caller)
      const uint8_t* blk = rp + b * block_bytes;
      UnpackK(type, blk, &u);
      // Low 4 bits: group g chunk c = vectors c (low nibble) and c + 4 (high nibble).
      for (int g = 0; g < 8; ++g) {
        for (int c = 0; c < 4; ++c) {
          for (int t = 0; t < 4; ++t) {
            const uint8_t lo = u.q[32 * g + 4 * c + t] & 0xF;
            const uint8_t hi = u.q[32 * g + 4 * (c + 4) + t] & 0xF;
            rec[256 * g + 64 * c + 4 * r + t] = static_cast<uint8_t>(lo | (hi << 4));
          }
        }
      }
      if (type == GgmlType::kQ5_K) {
        for (int j = 0; j < 8; ++j) {
          for (int t = 0; t < 4; ++t) {
            uint8_t bits = 0;
            for (int v = 0; v < 8; ++v) bits |= ((u.q[32 * j + 4 * v + t] >> 4) & 1) << v;
            rec[lay.hbits + 64 * j + 4 * r + t] = bits;
          }
        }
      }
      if (q6) {
        for (int s = 0; s < 16; ++s) {
          for (int t = 0; t < 4; ++t) {
            uint8_t bits = 0;
            for (int k = 0; k < 4; ++k) bits |= ((u.q[16 * s + 4 * k + t] >> 4) & 3) << (2 * k);
            rec[lay.hbits + 64 * s + 4 * r + t] = bits;
          }
        }
      }
      const int nsub = q6 ? 16 : 8;
      for (int s = 0; s < nsub; ++s) rec[lay.scales + 16 * s + r] = u.sc[s];
      uint16_t d, dmin = 0;
      if (q6) {
        d = reinterpret_cast<const BlockQ6_K*>(blk)->d;
      } else {
        for (int j = 0; j < 8; ++j) rec[lay.mins + 32 * (j / 2) + 2 * r + (j % 2)] = u.m[j];
        d = reinterpret_cast<const BlockQ4_K*>(blk)->d;
        dmin = reinterpret_cast<const BlockQ4_K*>(blk)->dmin;
      }
      std::memcpy(rec + lay.d + 2 * r, &d, 2);
      if (lay.dmin >= 0) std::memcpy(rec + lay.dmin + 2 * r, &dmin, 2);
    }
  }
}

}  // namespace

bool IsStripType(GgmlType type) {
  return type == GgmlType::kQ4_0 || type == GgmlType::kQ4_1 || type == GgmlType::kQ8_0 ||
         IsKStripType(type);
}

bool IsKStripType(GgmlType type) {
  return type == GgmlType::kQ4_K || type == GgmlType::kQ5_K || type == GgmlType::kQ6_K;
}

const KStripLayout& KStripLayoutFor(GgmlType type) {
  if (type == GgmlType::kQ6_K) return kQ6KStrip;
  if (type == GgmlType::kQ5_K) return kQ5KStrip;
  return kQ4KStrip;
}

int64_t StripQuantBytes(GgmlType type) { return type == GgmlType::kQ8_0 ? 512 : 256; }

int64_t StripBytes(GgmlType type, int64_t cols) {
  if (IsKStripType(type)) return cols / kQKK * KStripLayoutFor(type).bytes;
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
        PackOne<BlockQ4_0>(type, nb, row_ptr, dst);
        break;
      case GgmlType::kQ4_1:
        PackOne<BlockQ4_1>(type, nb, row_ptr, dst);
        break;
      case GgmlType::kQ8_0:
        PackOne<BlockQ8_0>(type, nb, row_ptr, dst);
        break;
      case GgmlType::kQ4_K:
      case GgmlType::kQ5_K:
      case GgmlType::kQ6_K:
        PackOneK(type, cols / kQKK, GetTypeTraits(type).type_size, row_ptr, dst);
        break;
      default:
        break;
    }
  }
}

}  // namespace hearth::engine::cpu::kern
