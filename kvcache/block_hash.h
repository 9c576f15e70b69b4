// Content identity of a FULL KV block, for automatic prefix caching.
//
// A full block's hash chains its parent's hash with its own token ids:
//
//   tokens:  [ t0 .. t15 | t16 .. t31 | t32 .. t47 | t48 t49 ]   (block_size 16)
//   hashes:    h0 = H(kRoot, t0..t15)
//                          h1 = H(h0, t16..t31)
//                                       h2 = H(h1, t32..t47)     (last block is partial: none)
//
// so equal hashes mean "same tokens at the same positions with the same whole prefix". The
// hash is 128 bits (two independent 64-bit lanes) and deterministic across runs; the pool also
// compares token ids and parent hash on lookup, so a collision can only cost a miss.
#pragma once

#include <cstdint>
#include <utility>

#include "absl/types/span.h"

namespace hearth::kvcache {

struct BlockHash {
  uint64_t hi = 0;
  uint64_t lo = 0;

  friend bool operator==(const BlockHash& a, const BlockHash& b) {
    return a.hi == b.hi && a.lo == b.lo;
  }
  friend bool operator!=(const BlockHash& a, const BlockHash& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const BlockHash& b) {
    return H::combine(std::move(h), b.hi, b.lo);
  }
};

// The parent hash of a sequence's first block.
inline constexpr BlockHash kRootBlockHash{0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL};

// Hash of one full block given its parent's hash. `tokens` holds exactly block_size ids.
BlockHash HashBlock(const BlockHash& parent, absl::Span<const int32_t> tokens);

}  // namespace hearth::kvcache
