// The "strip" layout of Q4_0, Q4_1, Q8_0, Q4_K, Q5_K and Q6_K weights, repacked once at load
// for the SIMD int8 kernels (kernels_x86_strip.h, kernels_x86_kstrip.h).
//
// Rows are taken 16 at a time (a strip; the last one padded with zero rows). Within a strip,
// the quants of all 16 rows are stored lane-interleaved: int32 lane r of a 64-byte vector holds
// 4 quants of row r. One dot-product instruction then multiplies 4 weights of each of 16 rows
// with the same 4 activations (broadcast from memory), so a vector of 16 outputs is accumulated
// with no horizontal reductions, and each output's float operations are the same whatever the
// vector width (8 or 16 lanes), batch size or tile. Rows 0..7 of a strip are the low half of
// every per-row array (chunks, scale bytes, fp16 scales): 8-lane code reads half-strips.
//
// 32-element types, per block b (d_x, s_x: the ActQ8 block's scale and scaled sum):
//   p   = exact int32 dot of block b (weight offset included: q - 8 for Q4_0)
//   acc = fma(float(p), d_w * d_x, acc)
//   acc = fma(m_w, s_x, acc)                      (Q4_1 only)
// A strip is [quants of blocks 0..nb) [fp16 d of blocks 0..nb) [fp16 m of blocks 0..nb)
// (m for Q4_1 only), each block's quants 64-byte aligned:
//   Q4_0, Q4_1: 4 chunks of 64 bytes; chunk c byte 4r + t = element 4c + t of row r (low
//               nibble) | element 4(c + 4) + t (high nibble), i.e. vectors c and c + 4.
//   Q8_0:       8 chunks of 64 bytes; chunk v byte 4r + t = element 4v + t of row r (int8).
//
// K-quants, per super-block b (256 columns; d_x and bsums from the ActQ8K block):
//   isum = sum_j sc_j * dot_j       (exact int32; dot_j = the int dot of sub-block j, for
//                                    Q6_K with the -32 offset: dot(q, x) - 32 bsum_j)
//   imin = sum_j m_j * bsum_j       (Q4_K, Q5_K: bsum_j = sum of x over sub-block j)
//   acc  = fma(float(isum), d_w * d_x, acc)
//   acc  = fma(float(imin), -(dmin_w * d_x), acc)   (Q4_K, Q5_K)
// A strip is nb super-block records of KStripLayout::bytes (64-byte aligned) each:
//   quants  8 groups of 32 elements, 256 bytes each, nibbles as Q4_1 (chunk c: vectors c
//           and c + 4 of the group; Q4_K/Q5_K: group = sub-block; Q6_K: vectors 0..3 are
//           sub-block 2g, 4..7 sub-block 2g + 1), low 4 bits of each quant.
//   hbits   Q5_K: 64 bytes per sub-block j: byte 4r + t bit v = bit 4 of element 4v + t.
//           Q6_K: 64 bytes per sub-block s (16 elements): byte 4r + t bits 2k..2k+1 =
//           bits 4..5 of element 4k + t.
//   scales  16 bytes per sub-block: byte r = scale of row r (Q6_K: int8).
//   mins    Q4_K/Q5_K: 32 bytes per sub-block pair k: bytes 2r, 2r + 1 = m_2k, m_2k+1 of
//           row r (widened to int16 pairs against x's (bsum_2k, bsum_2k+1)).
//   d       16 fp16; dmin 16 fp16 (Q4_K/Q5_K).
// Sizes per 16 rows x 256 columns: Q4_K 2368 (GGUF 2304), Q5_K 2880 (2816), Q6_K 3392 (3360).
#pragma once

#include <cstdint>

#include "engine/quant/ggml_type.h"

namespace hearth::engine::cpu::kern {

constexpr int kStripRows = 16;

// Byte offsets inside one K-quant super-block record (-1: absent).
struct KStripLayout {
  int bytes, hbits, scales, mins, d, dmin;
};
constexpr KStripLayout kQ4KStrip{2368, -1, 2048, 2176, 2304, 2336};
constexpr KStripLayout kQ5KStrip{2880, 2048, 2560, 2688, 2816, 2848};
constexpr KStripLayout kQ6KStrip{3392, 2048, 3072, -1, 3328, -1};

// Whether `type` runs from the strip layout on the SIMD paths.
bool IsStripType(GgmlType type);
bool IsKStripType(GgmlType type);  // Q4_K, Q5_K, Q6_K

// Bytes of one block's quants in a strip (256 or 512; 32-element types only), of one strip,
// and of a whole matrix. REQUIRES: IsStripType(type), cols % 32 (K-quants: 256) == 0.
int64_t StripQuantBytes(GgmlType type);
int64_t StripBytes(GgmlType type, int64_t cols);
int64_t StripCount(int64_t rows);
// REQUIRES: IsKStripType(type).
const KStripLayout& KStripLayoutFor(GgmlType type);

// Repacks strips [s0, s1) of the GGUF rows `w` (rows x cols, row_bytes each) into `out`
// (StripCount(rows) * StripBytes bytes). Strips are independent, so callers may split them.
void PackStrips(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t rows, int64_t cols,
                int64_t s0, int64_t s1, uint8_t* out);

}  // namespace hearth::engine::cpu::kern
