// Random weights written directly in a GGUF block type, with no float source: the bytes of
// the blocks are random and only the scale fields are set, chosen so the decoded values are
// zero-centred with a given standard deviation. What `hearth synth-model` fills tensors with;
// fast enough for 8B-sized models (a few GB/s per thread).
//
// Per type, with q the random integer field and the scales set as below:
//   F32/F16/BF16  uniform in [-sqrt(3) sigma, sqrt(3) sigma]
//   Q8_0          d * q, q uniform int8                         d = sigma / 73.9
//   Q4_0          d * (q - 8), q in [0, 15]                     d = +-sigma / 4.61 (random sign)
//   Q4_1          d * q + m with m = -7.5 d                      (centred)
//   Q4_K / Q5_K   sub-block scale = min = s in [32, 63] (random), dmin = d * 7.5 (15.5 for Q5_K),
//                 so x = d * s * (q - 7.5); d from E[s^2] and q's spread
//   Q6_K          int8 sub-block scales +-[32, 127], x = d * scale * (q - 32)
// (4.61 and 9.23 and 18.5 are the standard deviations of uniform 4-, 5- and 6-bit integers.)
//
// Deterministic: the bytes depend only on (seed, first_block, the count), so a tensor split
// into chunks across threads fills the same bytes as in one call.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine::convert {

// Fills blocks [first_block, first_block + n_blocks) of a tensor of `type` (for plain float
// types a "block" is one element) at `dst` (which points at block first_block).
// InvalidArgument for a type without a random generator (the types FindQuantizer supports
// have one).
absl::Status FillRandomBlocks(GgmlType type, float sigma, uint64_t seed, int64_t first_block,
                              int64_t n_blocks, void* dst);

}  // namespace hearth::engine::convert
