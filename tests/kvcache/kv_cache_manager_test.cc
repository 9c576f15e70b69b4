#include "kvcache/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <vector>

namespace hearth::kvcache {
namespace {

std::vector<int32_t> Iota(int32_t n, int32_t start) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Leak check: nothing held on device or host, every block back in the pool.
void ExpectNoLeaks(const KvCacheManager& m) {
  const KvCacheUsage u = m.Usage();
  EXPECT_EQ(m.NumSequences(), 0);
  EXPECT_EQ(u.device.num_used, 0);
  EXPECT_EQ(u.device.num_free + u.device.num_evictable, u.device.num_blocks);
  EXPECT_EQ(m.NumAvailableBlocks(), u.device.num_blocks);
  EXPECT_EQ(u.num_host_used, 0);
  EXPECT_EQ(m.NumFreeHostBlocks(), u.num_host_blocks);
}

KvCacheConfig Config(int32_t blocks, int32_t host_blocks = 0, bool prefix = true) {
  return KvCacheConfig{blocks, host_blocks, 16, prefix};
}

TEST(KvCacheManager, NumBlocksForBudget) {
  struct Case {
    int64_t bytes, per_block;
    int32_t expect;
  };
  const Case table[] = {{0, 100, 0},
                        {99, 100, 0},
                        {100, 100, 1},
                        {1050, 100, 10},
                        {100, 0, 0},
                        {-5, 100, 0},
                        {int64_t{1} << 50, 1, 2147483647}};
  for (const Case& c : table) {
    EXPECT_EQ(KvCacheManager::NumBlocksForBudget(c.bytes, c.per_block), c.expect)
        << c.bytes << " / " << c.per_block;
  }
}

TEST(KvCacheManager, AllocateGrowsTablesBlockByBlock) {
  KvCacheManager m(Config(6, 0, /*prefix=*/false));
  // Per step: grow sequence `seq` by `n` tokens; expected table size and blocks left.
  struct Step {
    SeqId seq;
    int32_t n;
    bool expect_fits;
    int32_t expect_table, expect_available;
  };
  ASSERT_TRUE(m.Admit(1, Iota(20, 0), 20).has_value());  // 2 blocks
  ASSERT_TRUE(m.Admit(2, Iota(5, 0), 5).has_value());    // 1 block
  EXPECT_EQ(m.NumAvailableBlocks(), 3);
  const Step table[] = {
      {1, 12, true, 2, 3},   // 32 tokens: fills block 2 exactly
      {1, 1, true, 3, 2},    // token 33 opens block 3
      {2, 11, true, 1, 2},   // 16 tokens: still one block
      {2, 17, true, 3, 0},   // 33 tokens: 3 blocks
      {1, 16, false, 3, 0},  // needs a 4th block: does not fit, nothing changes
      {1, 15, true, 3, 0},   // 48 tokens fit in 3 blocks
  };
  for (const Step& s : table) {
    std::optional<Allocation> a = m.Allocate(s.seq, s.n);
    EXPECT_EQ(a.has_value(), s.expect_fits) << "seq " << s.seq << " +" << s.n;
    if (a) {
      EXPECT_TRUE(a->copies.empty());
    }
    EXPECT_EQ(static_cast<int32_t>(m.BlockTable(s.seq).size()), s.expect_table);
    EXPECT_EQ(m.NumAvailableBlocks(), s.expect_available);
  }
  EXPECT_EQ(m.NumTokens(1), 48);
  EXPECT_EQ(m.NumTokens(2), 33);
  const KvCacheUsage u = m.Usage();
  EXPECT_EQ(u.allocated_slots, 6 * 16);
  EXPECT_EQ(u.filled_slots, 81);
  EXPECT_DOUBLE_EQ(u.SlotWaste(), 15.0 / 96.0);
  EXPECT_DOUBLE_EQ(u.UsageFraction(), 1.0);
  // Admission that does not fit is all or nothing.
  EXPECT_FALSE(m.Admit(3, Iota(4, 0), 4).has_value());
  EXPECT_FALSE(m.Contains(3));
  EXPECT_TRUE(m.Free(1));
  EXPECT_FALSE(m.Free(1));  // twice: harmless
  EXPECT_TRUE(m.Free(2));
  ExpectNoLeaks(m);
}

TEST(KvCacheManager, ForkSharesBlocksAndCopiesOnWrite) {
  KvCacheManager m(Config(8));
  ASSERT_TRUE(m.Admit(1, Iota(40, 0), 40).has_value());  // blocks: full, full, 8/16
  const std::vector<BlockId> parent = m.BlockTable(1);
  ASSERT_EQ(parent.size(), 3u);
  ASSERT_TRUE(m.Fork(1, 2).ok());
  EXPECT_EQ(m.BlockTable(2), parent);
  for (BlockId b : parent) EXPECT_EQ(m.pool().RefCount(b), 2);
  EXPECT_EQ(m.Fork(9, 3).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.Fork(1, 2).code(), absl::StatusCode::kAlreadyExists);

  // The child writes first: it gets a private copy of the partly filled last block.
  std::optional<Allocation> a = m.Allocate(2, 1);
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->copies.size(), 1u);
  const BlockId copy = a->copies[0].second;
  EXPECT_EQ(a->copies[0].first, parent[2]);
  EXPECT_EQ(m.BlockTable(2), (std::vector<BlockId>{parent[0], parent[1], copy}));
  EXPECT_EQ(m.pool().RefCount(parent[2]), 1);
  EXPECT_EQ(m.pool().RefCount(copy), 1);
  EXPECT_EQ(m.pool().RefCount(parent[0]), 2);
  // The parent is now the last block's only owner: it writes in place.
  a = m.Allocate(1, 1);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->copies.empty());
  EXPECT_EQ(m.BlockTable(1), parent);

  // Forking at a block boundary needs no copy: new tokens open new blocks.
  ASSERT_TRUE(m.Allocate(1, 7).has_value());  // 48 tokens = 3 full blocks
  ASSERT_TRUE(m.Fork(1, 3).ok());
  a = m.Allocate(3, 1);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->copies.empty());
  EXPECT_EQ(m.BlockTable(3).size(), 4u);

  // Copy-on-write needs a block; without one the allocation does not fit.
  KvCacheManager tight(Config(3));
  ASSERT_TRUE(tight.Admit(1, Iota(40, 0), 40).has_value());
  ASSERT_TRUE(tight.Fork(1, 2).ok());
  EXPECT_FALSE(tight.Allocate(2, 1).has_value());
  EXPECT_EQ(tight.NumTokens(2), 40);
  for (SeqId s : {1, 2}) tight.Free(s);
  ExpectNoLeaks(tight);
  for (SeqId s : {1, 2, 3}) m.Free(s);
  ExpectNoLeaks(m);
}

TEST(KvCacheManager, SharedPrefixOf512TokensReuses32Blocks) {
  KvCacheManager m(Config(100));
  const std::vector<int32_t> prefix = Iota(512, 1000);
  const std::vector<int32_t> a = Concat(prefix, Iota(30, 1)), b = Concat(prefix, Iota(50, 7));
  EXPECT_EQ(m.CachedPrefixLength(a), 0);
  ASSERT_TRUE(m.Admit(1, a, 1000).has_value());
  m.CacheFullBlocks(1, a);  // prefill done: 33 full blocks get their identity

  EXPECT_EQ(m.CachedPrefixLength(b), 512);
  std::optional<Admission> adm = m.Admit(2, b, 1000);
  ASSERT_TRUE(adm.has_value());
  EXPECT_EQ(adm->num_cached_tokens, 512);
  EXPECT_EQ(adm->num_new_tokens, 50);  // tokens to compute
  for (int i = 0; i < 32; ++i) EXPECT_EQ(m.BlockTable(2)[i], m.BlockTable(1)[i]) << i;
  EXPECT_NE(m.BlockTable(2)[32], m.BlockTable(1)[32]);
  EXPECT_EQ(m.pool().RefCount(m.BlockTable(1)[0]), 2);
  // 34 + 4 blocks on device, 32 of them shared.
  EXPECT_EQ(m.Usage().device.num_used, 34 + 36 - 32);
  EXPECT_EQ(m.Usage().prefix_query_tokens, 542 + 562);
  EXPECT_EQ(m.Usage().prefix_hit_tokens, 512);

  // Freed blocks with a hash stay cached: a third sequence still hits after both are gone.
  m.Free(1);
  m.Free(2);
  EXPECT_EQ(m.Usage().device.num_evictable, 33);
  std::optional<Admission> again = m.Admit(3, a, 1000);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->num_cached_tokens, 528);  // a's 33 full blocks, last token recomputed
  EXPECT_EQ(again->num_new_tokens, 14);
  m.Free(3);
  ExpectNoLeaks(m);
}

TEST(KvCacheManager, CachedPrefixNeverCoversTheWholeSequence) {
  KvCacheManager m(Config(10));
  const std::vector<int32_t> tokens = Iota(64, 0);
  ASSERT_TRUE(m.Admit(1, tokens, 64).has_value());
  m.CacheFullBlocks(1, tokens);
  struct Case {
    int32_t len, expect;
  };
  const Case table[] = {{1, 0}, {16, 0}, {17, 16}, {32, 16}, {33, 32}, {64, 48}, {65, 64}};
  for (const Case& c : table) {
    std::vector<int32_t> t = Iota(c.len, 0);
    EXPECT_EQ(m.CachedPrefixLength(t), c.expect) << c.len;
  }
  std::vector<int32_t> diverge = Iota(64, 0);
  diverge[20] = -1;  // second block differs: only the first block hits
  EXPECT_EQ(m.CachedPrefixLength(diverge), 16);
  KvCacheManager off(Config(10, 0, /*prefix=*/false));
  ASSERT_TRUE(off.Admit(1, tokens, 64).has_value());
  off.CacheFullBlocks(1, tokens);
  EXPECT_EQ(off.CachedPrefixLength(tokens), 0);
  off.Free(1);
  ExpectNoLeaks(off);
  m.Free(1);
  ExpectNoLeaks(m);
}

TEST(KvCacheManager, EvictsCachedBlocksLeastRecentlyUsedAndTailFirst) {
  KvCacheManager m(Config(6));
  const std::vector<int32_t> a = Iota(33, 0), b = Iota(33, 500);
  ASSERT_TRUE(m.Admit(1, a, 33).has_value());
  ASSERT_TRUE(m.Admit(2, b, 33).has_value());
  m.CacheFullBlocks(1, a);
  m.CacheFullBlocks(2, b);
  const std::vector<BlockId> ta = m.BlockTable(1), tb = m.BlockTable(2);
  m.Free(1);  // a's blocks become evictable first (older)
  m.Free(2);
  EXPECT_EQ(m.Usage().device.num_evictable, 4);
  EXPECT_EQ(m.Usage().device.num_free, 2);
  // 5 new blocks: 2 free ones, then a's tail, a's head, b's tail (LRU order).
  ASSERT_TRUE(m.Admit(3, Iota(80, 9000), 80).has_value());
  EXPECT_EQ(m.Usage().device.num_evictions, 3);
  EXPECT_EQ(m.CachedPrefixLength(a), 0);
  EXPECT_EQ(m.CachedPrefixLength(b), 16);  // b's first block survived
  const std::set<BlockId> used(m.BlockTable(3).begin(), m.BlockTable(3).end());
  EXPECT_TRUE(used.contains(ta[0]) && used.contains(ta[1]) && used.contains(tb[1]));
  EXPECT_FALSE(used.contains(tb[0]));
  m.Free(3);
  ExpectNoLeaks(m);
}

TEST(KvCacheManager, SwapOutAndInMapsBlocks) {
  KvCacheManager m(Config(4, 3));
  ASSERT_TRUE(m.Admit(1, Iota(40, 0), 40).has_value());  // 3 blocks
  const std::vector<BlockId> before = m.BlockTable(1);
  std::optional<std::vector<BlockPair>> out = m.SwapOut(1);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 3u);
  std::vector<int32_t> host;
  for (size_t i = 0; i < out->size(); ++i) {
    EXPECT_EQ((*out)[i].first, before[i]);
    host.push_back((*out)[i].second);
  }
  EXPECT_EQ(std::set<int32_t>(host.begin(), host.end()).size(), 3u);
  EXPECT_TRUE(m.IsSwapped(1));
  EXPECT_EQ(m.NumFreeHostBlocks(), 0);
  EXPECT_EQ(m.NumAvailableBlocks(), 4);
  EXPECT_EQ(m.Usage().num_host_used, 3);

  // Device blocks are taken meanwhile: swap-in must wait.
  ASSERT_TRUE(m.Admit(2, Iota(20, 0), 20).has_value());  // 2 blocks
  EXPECT_FALSE(m.CanSwapIn(1, 1));
  EXPECT_FALSE(m.SwapIn(1).has_value());
  // No host space for another sequence.
  EXPECT_FALSE(m.SwapOut(2).has_value());
  m.Free(2);
  EXPECT_TRUE(m.CanSwapIn(1, 8));   // 48 tokens: 3 blocks
  EXPECT_TRUE(m.CanSwapIn(1, 24));  // 64 tokens: 4 blocks
  EXPECT_FALSE(m.CanSwapIn(1, 25));
  std::optional<std::vector<BlockPair>> in = m.SwapIn(1);
  ASSERT_TRUE(in.has_value());
  ASSERT_EQ(in->size(), 3u);
  for (size_t i = 0; i < in->size(); ++i) {
    EXPECT_EQ((*in)[i].first, host[i]);
    EXPECT_EQ((*in)[i].second, m.BlockTable(1)[i]);
  }
  EXPECT_EQ(m.NumTokens(1), 40);
  EXPECT_EQ(m.NumFreeHostBlocks(), 3);
  ASSERT_TRUE(m.Allocate(1, 8).has_value());
  // A swapped sequence can be freed directly (abort while swapped).
  ASSERT_TRUE(m.SwapOut(1).has_value());
  EXPECT_TRUE(m.Free(1));
  ExpectNoLeaks(m);

  KvCacheManager no_host(Config(4, 0));
  ASSERT_TRUE(no_host.Admit(1, Iota(5, 0), 5).has_value());
  EXPECT_FALSE(no_host.SwapOut(1).has_value());
  EXPECT_FALSE(no_host.IsSwapped(1));
  no_host.Free(1);
  ExpectNoLeaks(no_host);
}

}  // namespace
}  // namespace hearth::kvcache
