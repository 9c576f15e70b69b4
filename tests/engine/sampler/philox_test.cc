#include "engine/sampler/philox.h"

#include <set>

#include "gtest/gtest.h"

namespace hearth::sampler {
namespace {

// Known answers from an independent implementation: NumPy 2.4's Philox (4x64-10) bit generator,
// `np.random.Philox(counter=c - 1, key=k).random_raw(4)` with uint64 arrays (NumPy increments
// before each block). Rows 1 and 3 are also Random123's published kat_vectors for philox4x64_10.
struct Kat {
  PhiloxCounter counter;
  PhiloxKey key;
  PhiloxCounter expected;
};

TEST(PhiloxTest, MatchesNumPyKnownAnswers) {
  constexpr uint64_t kM = ~0ull;
  const Kat kats[] = {
      {{0, 0, 0, 0},
       {0, 0},
       {0x16554d9eca36314cull, 0xdb20fe9d672d0fdcull, 0xd7e772cee186176bull,
        0x7e68b68aec7ba23bull}},
      {{kM, kM, kM, kM},
       {kM, kM},
       {0x87b092c3013fe90bull, 0x438c3c67be8d0224ull, 0x9cc7d7c69cd777b6ull,
        0xa09caebf594f0ba0ull}},
      {{0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull, 0x082efa98ec4e6c89ull},
       {0x452821e638d01377ull, 0xbe5466cf34e90c6cull},
       {0xa528f45403e61d95ull, 0x38c72dbd566e9788ull, 0xa5a1610e72fd18b5ull,
        0x57bd43b5e52b7fe6ull}},
      {{7, 3, 0, 0},
       {12345, 0x5eed},
       {0xe7834962769b7e31ull, 0x7515091e01790f5cull, 0xa02db521bc720e81ull,
        0xdbf589802b52fa42ull}},
  };
  for (const Kat& k : kats) EXPECT_EQ(Philox4x64(k.counter, k.key), k.expected);
}

TEST(PhiloxTest, UniformDrawIsInUnitIntervalAndKeyedBySeedIndexStep) {
  std::set<double> seen;
  for (uint64_t seed : {0ull, 1ull, 42ull}) {
    for (uint64_t index : {0ull, 1ull}) {
      for (uint64_t step = 0; step < 100; ++step) {
        const double u = UniformDraw(seed, index, step);
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        EXPECT_EQ(u, UniformDraw(seed, index, step));  // A pure function.
        seen.insert(u);
      }
    }
  }
  EXPECT_EQ(seen.size(), 600u);  // No two (seed, index, step) collide here.
}

TEST(PhiloxTest, GlobalSeedsDiffer) {
  std::set<uint64_t> seeds;
  for (int i = 0; i < 1000; ++i) seeds.insert(DrawGlobalSeed());
  EXPECT_EQ(seeds.size(), 1000u);
}

}  // namespace
}  // namespace hearth::sampler
