#include "kvcache/block_hash.h"

namespace hearth::kvcache {
namespace {

// splitmix64's finalizer: a bijective 64-bit mixer with full avalanche.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockHash HashBlock(const BlockHash& parent, absl::Span<const int32_t> tokens) {
  // Two lanes with different constants and different injection so that they are independent.
  uint64_t a = Mix(parent.hi ^ 0x9e3779b97f4a7c15ULL) ^ parent.lo;
  uint64_t b = Mix(parent.lo + 0xc2b2ae3d27d4eb4fULL) ^ Mix(parent.hi);
  for (int32_t t : tokens) {
    const uint64_t u = static_cast<uint32_t>(t);
    a = Mix(a ^ (u * 0xff51afd7ed558ccdULL + 0x165667b19e3779f9ULL));
    b = Mix((b + u) * 0xc4ceb9fe1a85ec53ULL ^ 0x27d4eb2f165667c5ULL);
  }
  a = Mix(a ^ tokens.size());
  b = Mix(b + tokens.size());
  return BlockHash{a, b};
}

}  // namespace hearth::kvcache
