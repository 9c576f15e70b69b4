#include "kvcache/kv_cache_manager.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace hearth::kvcache {

KvCacheManager::KvCacheManager(const KvCacheConfig& config)
    : config_(config), pool_(config.num_blocks, config.block_size) {
  HEARTH_CHECK(config.num_host_blocks >= 0);
  host_free_.reserve(config.num_host_blocks);
  for (int32_t i = config.num_host_blocks - 1; i >= 0; --i) host_free_.push_back(i);
}

int32_t KvCacheManager::NumBlocksForBudget(int64_t budget_bytes, int64_t bytes_per_block) {
  if (budget_bytes <= 0 || bytes_per_block <= 0) return 0;
  return static_cast<int32_t>(
      std::min<int64_t>(budget_bytes / bytes_per_block, std::numeric_limits<int32_t>::max()));
}

KvCacheManager::SeqBlocks& KvCacheManager::Get(SeqId seq) {
  auto it = seqs_.find(seq);
  HEARTH_CHECK(it != seqs_.end());
  return it->second;
}

const KvCacheManager::SeqBlocks& KvCacheManager::Get(SeqId seq) const {
  auto it = seqs_.find(seq);
  HEARTH_CHECK(it != seqs_.end());
  return it->second;
}

void KvCacheManager::FindCachedPrefix(absl::Span<const int32_t> tokens,
                                      std::vector<BlockId>* blocks,
                                      std::vector<BlockHash>* hashes) const {
  if (!config_.enable_prefix_caching || tokens.empty()) return;
  const int32_t bs = config_.block_size;
  // Never the whole sequence: at least its last token is computed.
  const int32_t max_blocks = (static_cast<int32_t>(tokens.size()) - 1) / bs;
  BlockHash parent = kRootBlockHash;
  for (int32_t i = 0; i < max_blocks; ++i) {
    absl::Span<const int32_t> block_tokens = tokens.subspan(i * bs, bs);
    const BlockHash hash = HashBlock(parent, block_tokens);
    std::optional<BlockId> id = pool_.Lookup(hash, parent, block_tokens);
    if (!id) break;
    blocks->push_back(*id);
    hashes->push_back(hash);
    parent = hash;
  }
}

int32_t KvCacheManager::CachedPrefixLength(absl::Span<const int32_t> tokens) const {
  std::vector<BlockId> blocks;
  std::vector<BlockHash> hashes;
  FindCachedPrefix(tokens, &blocks, &hashes);
  return static_cast<int32_t>(blocks.size()) * config_.block_size;
}

std::optional<Admission> KvCacheManager::Admit(SeqId seq, absl::Span<const int32_t> tokens,
                                               int32_t max_new_tokens) {
  HEARTH_CHECK(!seqs_.contains(seq) && !tokens.empty() && max_new_tokens > 0);
  std::vector<BlockId> hit_blocks;
  std::vector<BlockHash> hit_hashes;
  FindCachedPrefix(tokens, &hit_blocks, &hit_hashes);
  const int32_t num_cached = static_cast<int32_t>(hit_blocks.size()) * config_.block_size;
  const int32_t num_new =
      std::min(static_cast<int32_t>(tokens.size()) - num_cached, max_new_tokens);
  const int32_t num_fresh =
      BlocksFor(num_cached + num_new) - static_cast<int32_t>(hit_blocks.size());
  // Reviving an evictable hit takes it out of the available set too.
  const int32_t num_revived = static_cast<int32_t>(std::count_if(
      hit_blocks.begin(), hit_blocks.end(), [&](BlockId b) { return pool_.IsEvictable(b); }));
  if (num_fresh + num_revived > pool_.NumAvailable()) return std::nullopt;

  SeqBlocks s;
  for (BlockId b : hit_blocks) {
    pool_.Acquire(b);
    s.blocks.push_back(b);
  }
  for (int32_t i = 0; i < num_fresh; ++i) s.blocks.push_back(*pool_.Allocate());
  s.num_tokens = num_cached + num_new;
  s.hashes = std::move(hit_hashes);
  seqs_.emplace(seq, std::move(s));
  prefix_query_tokens_ += static_cast<int64_t>(tokens.size());
  prefix_hit_tokens_ += num_cached;
  return Admission{num_cached, num_new};
}

std::optional<Allocation> KvCacheManager::Allocate(SeqId seq, int32_t num_new_tokens) {
  SeqBlocks& s = Get(seq);
  HEARTH_CHECK(!s.swapped && num_new_tokens >= 0);
  Allocation result;
  if (num_new_tokens == 0) return result;
  const int32_t bs = config_.block_size;
  const int32_t num_fresh =
      BlocksFor(s.num_tokens + num_new_tokens) - static_cast<int32_t>(s.blocks.size());
  // The new tokens land in the partly filled last block first; if others share it, copy it.
  const bool cow = s.num_tokens % bs != 0 && pool_.RefCount(s.blocks.back()) > 1;
  if (num_fresh + (cow ? 1 : 0) > pool_.NumAvailable()) return std::nullopt;
  if (cow) {
    const BlockId src = s.blocks.back();
    const BlockId dst = *pool_.Allocate();
    pool_.Release(src);
    s.blocks.back() = dst;
    result.copies.emplace_back(src, dst);
  }
  for (int32_t i = 0; i < num_fresh; ++i) s.blocks.push_back(*pool_.Allocate());
  s.num_tokens += num_new_tokens;
  return result;
}

void KvCacheManager::CacheFullBlocks(SeqId seq, absl::Span<const int32_t> computed_tokens) {
  if (!config_.enable_prefix_caching) return;
  SeqBlocks& s = Get(seq);
  HEARTH_CHECK(!s.swapped);
  const int32_t bs = config_.block_size;
  const int32_t num_full =
      std::min(static_cast<int32_t>(computed_tokens.size()), s.num_tokens) / bs;
  for (int32_t i = static_cast<int32_t>(s.hashes.size()); i < num_full; ++i) {
    const BlockHash parent = i == 0 ? kRootBlockHash : s.hashes[i - 1];
    absl::Span<const int32_t> block_tokens = computed_tokens.subspan(i * bs, bs);
    const BlockHash hash = HashBlock(parent, block_tokens);
    if (!pool_.IsRegistered(s.blocks[i])) {
      // False when another block already caches this content; this one stays private.
      pool_.Register(s.blocks[i], hash, parent, block_tokens);
    }
    s.hashes.push_back(hash);
  }
}

absl::Status KvCacheManager::Fork(SeqId parent, SeqId child) {
  auto it = seqs_.find(parent);
  if (it == seqs_.end()) return absl::NotFoundError(absl::StrCat("unknown sequence ", parent));
  if (seqs_.contains(child)) {
    return absl::AlreadyExistsError(absl::StrCat("sequence ", child, " already has blocks"));
  }
  if (it->second.swapped) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence ", parent, " is swapped out; fork needs it on device"));
  }
  SeqBlocks copy = it->second;  // copy before emplace: it may rehash
  for (BlockId b : copy.blocks) pool_.Acquire(b);
  seqs_.emplace(child, std::move(copy));
  return absl::OkStatus();
}

bool KvCacheManager::Free(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return false;
  SeqBlocks& s = it->second;
  // Tail first, so a sequence's later blocks are evicted before its prefix blocks.
  for (auto b = s.blocks.rbegin(); b != s.blocks.rend(); ++b) pool_.Release(*b);
  for (HostBlockId h : s.host_blocks) host_free_.push_back(h);
  seqs_.erase(it);
  return true;
}

std::optional<std::vector<BlockPair>> KvCacheManager::SwapOut(SeqId seq) {
  SeqBlocks& s = Get(seq);
  HEARTH_CHECK(!s.swapped);
  if (s.blocks.size() > host_free_.size()) return std::nullopt;
  std::vector<BlockPair> pairs;
  pairs.reserve(s.blocks.size());
  for (BlockId b : s.blocks) {
    const HostBlockId h = host_free_.back();
    host_free_.pop_back();
    pairs.emplace_back(b, h);
    s.host_blocks.push_back(h);
  }
  for (auto b = s.blocks.rbegin(); b != s.blocks.rend(); ++b) pool_.Release(*b);
  s.blocks.clear();
  s.hashes.clear();  // re-derived by CacheFullBlocks after swap-in
  s.swapped = true;
  return pairs;
}

std::optional<std::vector<BlockPair>> KvCacheManager::SwapIn(SeqId seq) {
  SeqBlocks& s = Get(seq);
  HEARTH_CHECK(s.swapped);
  if (static_cast<int32_t>(s.host_blocks.size()) > pool_.NumAvailable()) return std::nullopt;
  std::vector<BlockPair> pairs;
  pairs.reserve(s.host_blocks.size());
  for (HostBlockId h : s.host_blocks) {
    const BlockId b = *pool_.Allocate();
    pairs.emplace_back(h, b);
    s.blocks.push_back(b);
    host_free_.push_back(h);
  }
  s.host_blocks.clear();
  s.swapped = false;
  return pairs;
}

bool KvCacheManager::CanSwapIn(SeqId seq, int32_t num_new_tokens) const {
  const SeqBlocks& s = Get(seq);
  return s.swapped && BlocksFor(s.num_tokens + num_new_tokens) <= pool_.NumAvailable();
}

bool KvCacheManager::IsSwapped(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it != seqs_.end() && it->second.swapped;
}

int32_t KvCacheManager::NumTokens(SeqId seq) const { return Get(seq).num_tokens; }

const std::vector<BlockId>& KvCacheManager::BlockTable(SeqId seq) const {
  const SeqBlocks& s = Get(seq);
  HEARTH_CHECK(!s.swapped);
  return s.blocks;
}

KvCacheUsage KvCacheManager::Usage() const {
  KvCacheUsage u;
  u.device = pool_.Usage();
  u.num_host_blocks = config_.num_host_blocks;
  u.num_host_used = config_.num_host_blocks - static_cast<int32_t>(host_free_.size());
  u.prefix_query_tokens = prefix_query_tokens_;
  u.prefix_hit_tokens = prefix_hit_tokens_;
  for (const auto& [id, s] : seqs_) {
    if (s.swapped) continue;
    u.allocated_slots += static_cast<int64_t>(s.blocks.size()) * config_.block_size;
    u.filled_slots += s.num_tokens;
  }
  return u;
}

}  // namespace hearth::kvcache
