// Owned, 64-byte aligned byte buffers for the CPU backend's large arrays (packed weights, the
// paged K/V cache). Buffers of 2 MiB or more are mapped with transparent huge pages requested
// (madvise): attention reads K/V blocks scattered over gigabytes, and with 4 KiB pages every
// block costs TLB misses. Pages are committed on first touch.
#pragma once

#include <cstdint>
#include <memory>

namespace hearth::engine::cpu {

struct BufferFree {
  int64_t mapped_bytes = 0;  // > 0: munmap; else free
  void operator()(uint8_t* p) const;
};
using AlignedBytes = std::unique_ptr<uint8_t[], BufferFree>;

// Null when the memory cannot be had (or bytes <= 0).
AlignedBytes TryAllocateAligned(int64_t bytes);
// As TryAllocateAligned; throws std::bad_alloc on failure.
AlignedBytes AllocateAligned(int64_t bytes);

}  // namespace hearth::engine::cpu
