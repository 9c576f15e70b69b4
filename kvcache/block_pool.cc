#include "kvcache/block_pool.h"

#include <algorithm>

#include "common/check.h"

namespace hearth::kvcache {

BlockPool::BlockPool(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size), blocks_(std::max(num_blocks, 0)) {
  HEARTH_CHECK(num_blocks >= 0 && block_size > 0);
  free_.reserve(blocks_.size());
  // Reversed so that block 0 is handed out first (readable tests and dumps).
  for (int32_t i = num_blocks - 1; i >= 0; --i) free_.push_back(i);
}

BlockPoolUsage BlockPool::Usage() const {
  BlockPoolUsage u;
  u.num_blocks = num_blocks();
  u.num_free = static_cast<int32_t>(free_.size());
  u.num_evictable = static_cast<int32_t>(evictable_.size());
  u.num_used = u.num_blocks - u.num_free - u.num_evictable;
  u.num_evictions = num_evictions_;
  return u;
}

std::optional<BlockId> BlockPool::Allocate() {
  BlockId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else if (!evictable_.empty()) {
    id = evictable_.front();
    evictable_.pop_front();
    DropHash(blocks_[id]);
    ++num_evictions_;
  } else {
    return std::nullopt;
  }
  Block& b = blocks_[id];
  HEARTH_CHECK(b.ref_count == 0 && !b.hashed);
  b.ref_count = 1;
  return id;
}

void BlockPool::Acquire(BlockId id) {
  Block& b = blocks_.at(id);
  if (b.ref_count == 0) {
    HEARTH_CHECK(b.hashed);  // a free block must come from Allocate()
    evictable_.erase(b.lru_pos);
  }
  ++b.ref_count;
}

void BlockPool::Release(BlockId id) {
  Block& b = blocks_.at(id);
  HEARTH_CHECK(b.ref_count > 0);
  if (--b.ref_count > 0) return;
  if (b.hashed) {
    b.lru_pos = evictable_.insert(evictable_.end(), id);
  } else {
    free_.push_back(id);
  }
}

bool BlockPool::IsEvictable(BlockId id) const {
  const Block& b = blocks_.at(id);
  return b.ref_count == 0 && b.hashed;
}

std::optional<BlockId> BlockPool::Lookup(const BlockHash& hash, const BlockHash& parent,
                                         absl::Span<const int32_t> tokens) const {
  auto it = cached_.find(hash);
  if (it == cached_.end()) return std::nullopt;
  const Block& b = blocks_[it->second];
  if (b.parent != parent ||
      !std::equal(b.tokens.begin(), b.tokens.end(), tokens.begin(), tokens.end())) {
    return std::nullopt;  // a 128-bit collision: treat as a miss
  }
  return it->second;
}

bool BlockPool::Register(BlockId id, const BlockHash& hash, const BlockHash& parent,
                         absl::Span<const int32_t> tokens) {
  Block& b = blocks_.at(id);
  HEARTH_CHECK(b.ref_count > 0 && !b.hashed);
  HEARTH_CHECK(static_cast<int32_t>(tokens.size()) == block_size_);
  if (!cached_.emplace(hash, id).second) return false;
  b.hashed = true;
  b.hash = hash;
  b.parent = parent;
  b.tokens.assign(tokens.begin(), tokens.end());
  return true;
}

void BlockPool::DropHash(Block& b) {
  cached_.erase(b.hash);
  b.hashed = false;
  b.tokens.clear();
  b.tokens.shrink_to_fit();
}

}  // namespace hearth::kvcache
