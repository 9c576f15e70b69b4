#include "engine/cpu/kernels/memory.h"

#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace hearth::engine::cpu {
namespace {

constexpr int64_t kHugePage = int64_t{2} << 20;

}  // namespace

void BufferFree::operator()(uint8_t* p) const {
#if defined(__linux__)
  if (mapped_bytes > 0) {
    munmap(p, static_cast<size_t>(mapped_bytes));
    return;
  }
#endif
  std::free(p);
}

AlignedBytes TryAllocateAligned(int64_t bytes) {
  if (bytes <= 0) return AlignedBytes(nullptr, BufferFree{});
#if defined(__linux__)
  if (bytes >= kHugePage) {
    const int64_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return AlignedBytes(nullptr, BufferFree{});
    madvise(p, static_cast<size_t>(size), MADV_HUGEPAGE);  // a hint: fine if refused
    return AlignedBytes(static_cast<uint8_t*>(p), BufferFree{size});
  }
#endif
  const size_t size = static_cast<size_t>((bytes + 63) / 64 * 64);
  return AlignedBytes(static_cast<uint8_t*>(std::aligned_alloc(64, size)), BufferFree{});
}

AlignedBytes AllocateAligned(int64_t bytes) {
  AlignedBytes p = TryAllocateAligned(bytes < 1 ? 1 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace hearth::engine::cpu
