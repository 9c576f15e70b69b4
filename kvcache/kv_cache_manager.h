// KvCacheManager: per-sequence block tables over a BlockPool (device) plus a host swap pool.
//
// A sequence's table covers the token slots allocated to it, block by block:
//
//   num_tokens = 37, block_size = 16                          (slots allocated, KV written
//   table: [ b7 | b2 | b9 ]                                    or about to be this step)
//            0..15 16..31 32..36 (+11 free slots in b9)
//   slot of position p = table[p / 16] * 16 + p % 16
//
// Invariant: table.size() == ceil(num_tokens / block_size) while on device.
//
// Full blocks whose KV is computed get a content hash (see block_hash.h) through
// CacheFullBlocks(); a later sequence with the same leading tokens maps those blocks instead of
// recomputing them (Admit). Fork() shares every block; the first writer into a shared, partly
// filled last block gets a fresh copy (Allocate reports the (src, dst) copy to execute).
//
// Answers are values: std::nullopt means "does not fit now" (the scheduler preempts or waits)
// and nothing changed. Thread-safety: not thread-safe; one engine thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "kvcache/block_hash.h"
#include "kvcache/block_pool.h"

namespace hearth::kvcache {

using SeqId = int64_t;
using HostBlockId = int32_t;
// (source block, destination block), for Backend::CopyBlocks / SwapOut / SwapIn.
using BlockPair = std::pair<int32_t, int32_t>;

struct KvCacheConfig {
  int32_t num_blocks = 0;       // device blocks
  int32_t num_host_blocks = 0;  // swap space; 0 disables swapping
  int32_t block_size = 16;      // tokens per block
  bool enable_prefix_caching = true;
};

struct KvCacheUsage {
  BlockPoolUsage device;
  int32_t num_host_blocks = 0;
  int32_t num_host_used = 0;
  int64_t prefix_query_tokens = 0;  // prompt tokens of admitted sequences
  int64_t prefix_hit_tokens = 0;    // of those, tokens served from cached blocks
  int64_t allocated_slots = 0;      // sum over device sequences of table.size() * block_size
  int64_t filled_slots = 0;         // sum over device sequences of num_tokens

  // Fraction of device blocks held by sequences (evictable cached blocks count as free).
  double UsageFraction() const {
    return device.num_blocks == 0 ? 0.0 : double(device.num_used) / device.num_blocks;
  }
  // Allocated token slots not holding a token / allocated token slots.
  double SlotWaste() const {
    return allocated_slots == 0 ? 0.0 : double(allocated_slots - filled_slots) / allocated_slots;
  }
};

// Result of admitting a sequence: its first `num_cached_tokens` tokens are served from the
// prefix cache, and slots for the next `num_new_tokens` are allocated.
struct Admission {
  int32_t num_cached_tokens = 0;
  int32_t num_new_tokens = 0;
};

// Result of growing a table: copies to execute (Backend::CopyBlocks) before anything writes
// into the destination blocks. At most one, from copy-on-write of a shared last block.
struct Allocation {
  std::vector<BlockPair> copies;
};

class KvCacheManager {
 public:
  // REQUIRES: config sizes >= 0, block_size > 0.
  explicit KvCacheManager(const KvCacheConfig& config);

  KvCacheManager(const KvCacheManager&) = delete;
  KvCacheManager& operator=(const KvCacheManager&) = delete;

  // Blocks a memory budget holds: floor(budget_bytes / bytes_per_block), 0 when either is
  // not positive, capped at INT32_MAX.
  static int32_t NumBlocksForBudget(int64_t budget_bytes, int64_t bytes_per_block);

  const KvCacheConfig& config() const { return config_; }
  int32_t block_size() const { return config_.block_size; }
  // Device blocks an allocation can use now (free + evictable).
  int32_t NumAvailableBlocks() const { return pool_.NumAvailable(); }
  int32_t NumFreeHostBlocks() const { return static_cast<int32_t>(host_free_.size()); }
  int32_t BlocksFor(int32_t num_tokens) const {
    return (num_tokens + config_.block_size - 1) / config_.block_size;
  }

  // Tokens of `tokens` that full cached blocks would serve: a multiple of block_size, and
  // always < tokens.size() (the last token is computed to produce logits). 0 when prefix
  // caching is off. Pure query; counts nothing.
  int32_t CachedPrefixLength(absl::Span<const int32_t> tokens) const;

  // Creates `seq`'s table: maps the cached prefix of `tokens` (all of the sequence's tokens),
  // then allocates slots for min(tokens.size() - cached, max_new_tokens) more. All or nothing;
  // counts prefix-cache query/hit tokens only on success.
  // REQUIRES: seq unknown, tokens non-empty, max_new_tokens > 0.
  std::optional<Admission> Admit(SeqId seq, absl::Span<const int32_t> tokens,
                                 int32_t max_new_tokens);

  // Grows `seq`'s table by `num_new_tokens` slots (copy-on-write of a shared, partly filled
  // last block included). All or nothing. REQUIRES: seq on device.
  std::optional<Allocation> Allocate(SeqId seq, int32_t num_new_tokens);

  // Gives every full block of `seq` covered by `computed_tokens` (the sequence's tokens whose
  // KV is now written, from position 0) its content hash, so later sequences can share it.
  // No-op when prefix caching is off. REQUIRES: seq on device.
  void CacheFullBlocks(SeqId seq, absl::Span<const int32_t> computed_tokens);

  // `child` gets `parent`'s table (every block shared, ref + 1). NotFound: unknown parent;
  // AlreadyExists: child known; FailedPrecondition: parent swapped out.
  absl::Status Fork(SeqId parent, SeqId child);

  // Releases all of `seq`'s blocks (device or host). False when seq is unknown.
  bool Free(SeqId seq);

  // Moves `seq` to host blocks: returns the (device, host) pairs to copy before the device
  // blocks are reused; empty when the host pool lacks space. REQUIRES: seq on device.
  std::optional<std::vector<BlockPair>> SwapOut(SeqId seq);
  // Moves `seq` back: returns the (host, device) pairs; empty when device blocks lack.
  // REQUIRES: seq swapped out.
  std::optional<std::vector<BlockPair>> SwapIn(SeqId seq);
  // Whether SwapIn(seq) followed by Allocate(seq, num_new_tokens) would both succeed.
  bool CanSwapIn(SeqId seq, int32_t num_new_tokens) const;

  bool Contains(SeqId seq) const { return seqs_.contains(seq); }
  bool IsSwapped(SeqId seq) const;
  int32_t NumTokens(SeqId seq) const;  // slots allocated; REQUIRES: seq known
  // REQUIRES: seq on device. Valid until the next call that changes seq's table.
  const std::vector<BlockId>& BlockTable(SeqId seq) const;
  int32_t NumSequences() const { return static_cast<int32_t>(seqs_.size()); }

  KvCacheUsage Usage() const;
  const BlockPool& pool() const { return pool_; }

 private:
  struct SeqBlocks {
    std::vector<BlockId> blocks;           // device table (empty while swapped)
    std::vector<HostBlockId> host_blocks;  // host table (only while swapped)
    int32_t num_tokens = 0;                // token slots allocated
    std::vector<BlockHash> hashes;         // hash chain of blocks [0, hashes.size())
    bool swapped = false;
  };

  // Longest run of cached full blocks at the start of `tokens`, capped below tokens.size().
  void FindCachedPrefix(absl::Span<const int32_t> tokens, std::vector<BlockId>* blocks,
                        std::vector<BlockHash>* hashes) const;
  SeqBlocks& Get(SeqId seq);
  const SeqBlocks& Get(SeqId seq) const;

  KvCacheConfig config_;
  BlockPool pool_;
  std::vector<HostBlockId> host_free_;  // stack
  absl::flat_hash_map<SeqId, SeqBlocks> seqs_;
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
};

}  // namespace hearth::kvcache
