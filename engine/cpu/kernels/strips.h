// The "strip" layout of Q4_0, Q4_1 and Q8_0 weights, repacked once at load for the SIMD int8
// kernels (kernels_x86_strip.h).
//
// Rows are taken 16 at a time (a strip; the last one padded with zero rows). Within a strip,
// block b (32 columns) of all 16 rows is stored lane-interleaved: int32 lane r of vector v holds
// the quants of row r, elements 4v..4v+3. One dot-product instruction then multiplies 4 weights
// of each of 16 rows with the same 4 activations (broadcast from memory), so a vector of 16
// outputs is accumulated with no horizontal reductions, and each output's float operations are
// the same whatever the vector width (8 or 16 lanes), batch size or tile:
//
//   p   = exact int32 dot of block b (weight offset included: q - 8 for Q4_0)
//   acc = fma(float(p), d_w * d_x, acc)
//   acc = fma(m_w, s_x, acc)                      (Q4_1 only)
//
// A strip is [quants of blocks 0..nb) [fp16 d of blocks 0..nb) [fp16 m of blocks 0..nb)
// (m for Q4_1 only), each block's quants 64-byte aligned:
//   Q4_0, Q4_1: 4 chunks of 64 bytes; chunk c byte 4r + t = element 4c + t of row r (low
//               nibble) | element 4(c + 4) + t (high nibble), i.e. vectors c and c + 4.
//   Q8_0:       8 chunks of 64 bytes; chunk v byte 4r + t = element 4v + t of row r (int8).
// Rows 0..7 of a strip are the low 32 bytes of each chunk (and d[0..7]): 8-lane code reads
// half-strips.
#pragma once

#include <cstdint>

#include "engine/quant/ggml_type.h"

namespace hearth::engine::cpu::kern {

constexpr int kStripRows = 16;

// Whether `type` runs from the strip layout on the SIMD paths.
bool IsStripType(GgmlType type);

// Bytes of one block's quants in a strip (256 or 512), of one strip, and of a whole matrix.
// REQUIRES: IsStripType(type), cols % 32 == 0.
int64_t StripQuantBytes(GgmlType type);
int64_t StripBytes(GgmlType type, int64_t cols);
int64_t StripCount(int64_t rows);

// Repacks strips [s0, s1) of the GGUF rows `w` (rows x cols, row_bytes each) into `out`
// (StripCount(rows) * StripBytes bytes). Strips are independent, so callers may split them.
void PackStrips(GgmlType type, const uint8_t* w, int64_t row_bytes, int64_t rows, int64_t cols,
                int64_t s0, int64_t s1, uint8_t* out);

}  // namespace hearth::engine::cpu::kern
