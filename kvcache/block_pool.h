// BlockPool: a fixed set of device KV blocks, each holding `block_size` tokens, identified by
// id in [0, num_blocks). Blocks are ref-counted (a block shared by a prefix-cache hit or by a
// fork has ref > 1). Every block is in exactly one of three states:
//
//   used       ref > 0                  owned by one or more sequences
//   free       ref == 0, no hash        on the free list, content meaningless
//   evictable  ref == 0, has hash       content still valid for prefix caching; kept in LRU
//                                       order and reused (hash dropped) only when the free list
//                                       is empty
//
//   Allocate():  free list ──▶ used   (else evict LRU evictable ──▶ used, else empty)
//   Release():   used ──(ref 0)──▶ evictable (if hashed, as most recently used) or free
//   Acquire():   evictable ──▶ used   (a prefix-cache hit revives the block)
//
// Knows block ids and token ids only. Thread-safety: not thread-safe (one engine thread).
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "kvcache/block_hash.h"

namespace hearth::kvcache {

using BlockId = int32_t;

struct BlockPoolUsage {
  int32_t num_blocks = 0;
  int32_t num_used = 0;       // ref > 0
  int32_t num_free = 0;       // ref == 0, not hashed
  int32_t num_evictable = 0;  // ref == 0, hashed (cached prefix blocks nobody holds)
  int64_t num_evictions = 0;  // cached blocks whose hash was dropped to reuse them
};

class BlockPool {
 public:
  // REQUIRES: num_blocks >= 0, block_size > 0.
  BlockPool(int32_t num_blocks, int32_t block_size);

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t block_size() const { return block_size_; }

  // Blocks Allocate() can hand out right now: free + evictable.
  int32_t NumAvailable() const { return static_cast<int32_t>(free_.size() + evictable_.size()); }
  BlockPoolUsage Usage() const;

  // A block with ref 1 from the free list, or, when that is empty, the least recently used
  // evictable block (its hash is dropped). Empty when every block is used.
  std::optional<BlockId> Allocate();

  // ref += 1. REQUIRES: the block is used or evictable (not free).
  void Acquire(BlockId id);
  // ref -= 1. REQUIRES: ref > 0.
  void Release(BlockId id);
  int32_t RefCount(BlockId id) const { return blocks_.at(id).ref_count; }
  bool IsEvictable(BlockId id) const;

  // Prefix cache. Lookup returns the block registered under `hash` whose parent hash and
  // token ids also match (a hash collision is a miss), used or evictable.
  std::optional<BlockId> Lookup(const BlockHash& hash, const BlockHash& parent,
                                absl::Span<const int32_t> tokens) const;
  // Gives a used, full, unhashed block its identity. Returns false (and changes nothing) when
  // another block already holds `hash`: the content is cached once. REQUIRES: ref > 0.
  bool Register(BlockId id, const BlockHash& hash, const BlockHash& parent,
                absl::Span<const int32_t> tokens);
  bool IsRegistered(BlockId id) const { return blocks_.at(id).hashed; }

 private:
  struct Block {
    int32_t ref_count = 0;
    bool hashed = false;
    BlockHash hash;
    BlockHash parent;
    std::vector<int32_t> tokens;           // the block's token ids when hashed
    std::list<BlockId>::iterator lru_pos;  // valid while evictable
  };

  void DropHash(Block& block);

  int32_t block_size_;
  std::vector<Block> blocks_;
  std::vector<BlockId> free_;                       // stack; back is handed out next
  std::list<BlockId> evictable_;                    // front = least recently used
  absl::flat_hash_map<BlockHash, BlockId> cached_;  // hash -> block (used or evictable)
  int64_t num_evictions_ = 0;
};

}  // namespace hearth::kvcache
