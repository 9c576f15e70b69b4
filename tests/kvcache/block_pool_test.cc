#include "kvcache/block_pool.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "kvcache/block_hash.h"

namespace hearth::kvcache {
namespace {

std::vector<int32_t> Iota(int32_t n, int32_t start) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

void ExpectPoolEmpty(const BlockPool& pool) {
  const BlockPoolUsage u = pool.Usage();
  EXPECT_EQ(u.num_used, 0);
  EXPECT_EQ(u.num_free + u.num_evictable, pool.num_blocks());
  EXPECT_EQ(pool.NumAvailable(), pool.num_blocks());
}

TEST(BlockHash, DependsOnTokensAndParent) {
  const std::vector<int32_t> a = Iota(16, 0), b = Iota(16, 1);
  const BlockHash ha = HashBlock(kRootBlockHash, a);
  EXPECT_EQ(ha, HashBlock(kRootBlockHash, a));  // deterministic
  EXPECT_NE(ha, HashBlock(kRootBlockHash, b));
  EXPECT_NE(ha, HashBlock(ha, a));  // same tokens, other prefix
  std::vector<int32_t> c = a;
  std::swap(c[3], c[4]);  // order matters
  EXPECT_NE(ha, HashBlock(kRootBlockHash, c));
  EXPECT_NE(ha.hi, ha.lo);
}

TEST(BlockPool, AllocateReleaseRefCounts) {
  BlockPool pool(4, 16);
  std::vector<BlockId> got;
  for (int i = 0; i < 4; ++i) got.push_back(*pool.Allocate());
  EXPECT_EQ(got, (std::vector<BlockId>{0, 1, 2, 3}));
  EXPECT_FALSE(pool.Allocate().has_value());  // exhausted: a value, not a crash
  EXPECT_EQ(pool.Usage().num_used, 4);

  pool.Acquire(2);
  EXPECT_EQ(pool.RefCount(2), 2);
  pool.Release(2);
  EXPECT_EQ(pool.RefCount(2), 1);
  EXPECT_EQ(pool.NumAvailable(), 0);
  pool.Release(2);
  EXPECT_EQ(pool.RefCount(2), 0);
  EXPECT_EQ(pool.NumAvailable(), 1);
  EXPECT_EQ(*pool.Allocate(), 2);  // the free list hands it back
  for (BlockId b : got) pool.Release(b);
  ExpectPoolEmpty(pool);
}

TEST(BlockPool, RegisteredBlocksStayCachedAndEvictLeastRecentlyUsed) {
  BlockPool pool(3, 4);
  struct Cached {
    BlockId id;
    BlockHash hash;
    std::vector<int32_t> tokens;
  };
  std::vector<Cached> cached;
  for (int i = 0; i < 3; ++i) {
    Cached c{*pool.Allocate(), {}, Iota(4, 10 * i)};
    c.hash = HashBlock(kRootBlockHash, c.tokens);
    ASSERT_TRUE(pool.Register(c.id, c.hash, kRootBlockHash, c.tokens));
    cached.push_back(c);
  }
  // Release in the order 1, 0, 2: LRU order is 1, 0, 2.
  for (int i : {1, 0, 2}) pool.Release(cached[i].id);
  EXPECT_EQ(pool.Usage().num_evictable, 3);
  EXPECT_EQ(pool.Usage().num_free, 0);
  // A hit revives block 1 (no longer evictable) and makes it most recent once released.
  ASSERT_EQ(pool.Lookup(cached[1].hash, kRootBlockHash, cached[1].tokens), cached[1].id);
  pool.Acquire(cached[1].id);
  EXPECT_EQ(pool.Usage().num_evictable, 2);
  pool.Release(cached[1].id);  // LRU order now 0, 2, 1

  struct Step {
    BlockId expect_allocated;
    int expect_evictions;
  };
  const Step table[] = {{cached[0].id, 1}, {cached[2].id, 2}, {cached[1].id, 3}};
  std::vector<BlockId> held;
  for (const Step& s : table) {
    std::optional<BlockId> b = pool.Allocate();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(*b, s.expect_allocated);
    EXPECT_EQ(pool.Usage().num_evictions, s.expect_evictions);
    held.push_back(*b);
  }
  // Evicted blocks lost their identity.
  for (const Cached& c : cached) {
    EXPECT_FALSE(pool.Lookup(c.hash, kRootBlockHash, c.tokens).has_value());
  }
  for (BlockId b : held) pool.Release(b);
  EXPECT_EQ(pool.Usage().num_free, 3);
  ExpectPoolEmpty(pool);
}

TEST(BlockPool, HashCollisionIsAMissAndContentIsCachedOnce) {
  BlockPool pool(2, 4);
  const std::vector<int32_t> t1 = {1, 2, 3, 4}, t2 = {5, 6, 7, 8};
  const BlockHash h = HashBlock(kRootBlockHash, t1);
  const BlockId a = *pool.Allocate(), b = *pool.Allocate();
  ASSERT_TRUE(pool.Register(a, h, kRootBlockHash, t1));
  // Same hash, other tokens (a forced collision): lookups compare the token ids.
  EXPECT_FALSE(pool.Lookup(h, kRootBlockHash, t2).has_value());
  EXPECT_FALSE(pool.Lookup(h, HashBlock(kRootBlockHash, t2), t1).has_value());  // other parent
  EXPECT_EQ(pool.Lookup(h, kRootBlockHash, t1), a);
  // A second block with the same identity is not registered.
  EXPECT_FALSE(pool.Register(b, h, kRootBlockHash, t1));
  EXPECT_FALSE(pool.IsRegistered(b));
  pool.Release(a);
  pool.Release(b);
  EXPECT_EQ(pool.Usage().num_evictable, 1);
  EXPECT_EQ(pool.Usage().num_free, 1);
  ExpectPoolEmpty(pool);
}

}  // namespace
}  // namespace hearth::kvcache
