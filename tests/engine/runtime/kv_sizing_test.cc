// PlanKvCache: the KV cache over stages with their own memory, as a table of cases.
#include "engine/runtime/kv_sizing.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::engine {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

StageMemoryInfo Stage(const std::string& device, int32_t first, int32_t end, int64_t bpb,
                      int64_t free, int64_t weights = 0, int64_t budget = 0) {
  StageMemoryInfo s;
  s.device = device;
  s.first_layer = first;
  s.end_layer = end;
  s.kv_bytes_per_block = bpb;
  s.memory.total_bytes = free + weights;
  s.memory.free_bytes = free;
  s.memory.weight_bytes = weights;
  s.budget_bytes = budget;
  s.host_memory = device == "cpu";
  return s;
}

KvCacheRequest Request(int64_t kv_bytes, int32_t max_model_len = 0, int32_t context = 8192) {
  KvCacheRequest r;
  r.kv_cache_bytes = kv_bytes;
  r.block_size = 16;
  r.max_model_len = max_model_len;
  r.model_context_length = context;
  r.max_num_seqs = 64;
  return r;
}

TEST(KvSizingTest, ExplicitBytesSplitOverStages) {
  // 30 layers at 12 KiB per layer-block, split 15 / 15.
  const int64_t half = 15 * 12 * 1024;
  auto plan =
      PlanKvCache({Stage("cpu", 0, 15, half, 20 * kGiB), Stage("cpu", 15, 30, half, 20 * kGiB)},
                  Request(360 * kMiB));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_device_blocks, 1024);
  EXPECT_EQ(plan->max_model_len, 8192);
  EXPECT_EQ(plan->kv_bytes, 1024 * 2 * half);
  EXPECT_EQ(plan->stages[0].kv_bytes, 1024 * half);
}

// A stage with a budget that fits only part of the cache sets the capacity (the minimum).
TEST(KvSizingTest, CapacityIsTheSmallestStage) {
  const int64_t bpb = 100 * 1024;
  auto plan = PlanKvCache({Stage("cpu", 0, 10, bpb, 20 * kGiB),
                           Stage("cuda:0", 10, 20, bpb, 20 * kGiB, /*weights=*/kGiB,
                                 /*budget=*/kGiB + 300 * bpb + 5)},
                          Request(1000 * 2 * bpb));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_device_blocks, 300);
  EXPECT_EQ(plan->limiting_stage, 1);
  EXPECT_EQ(plan->stages[0].blocks, 1000);
  EXPECT_EQ(plan->stages[1].blocks, 300);
  EXPECT_EQ(plan->max_model_len, 300 * 16);  // capped to what the cache holds
  EXPECT_THAT(plan->notes, ::testing::Contains(HasSubstr("max_model_len capped to 4800")));
}

TEST(KvSizingTest, AutomaticSizeSharesADeviceAndStopsAtWhatSequencesCanUse) {
  const int64_t bpb = 1 * kMiB;
  // Two CPU stages share the host's free memory: 0.2 * 10 GiB = 2 GiB in all, i.e. 1024
  // blocks of 1 + 1 MiB.
  KvCacheRequest r = Request(0);
  r.memory_fraction = 0.2;
  r.max_num_seqs = 1000;
  auto plan =
      PlanKvCache({Stage("cpu", 0, 15, bpb, 10 * kGiB), Stage("cpu", 15, 30, bpb, 10 * kGiB)}, r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_device_blocks, 1024);
  // At most max_num_seqs full-length sequences: 2 x 8192 tokens = 1024 blocks of 16.
  r.max_num_seqs = 2;
  r.memory_fraction = 0.9;
  plan = PlanKvCache({Stage("cpu", 0, 30, bpb, 10 * kGiB)}, r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_device_blocks, 1024);
  EXPECT_THAT(plan->notes, ::testing::Contains(HasSubstr("sized for max_num_seqs (2)")));
}

TEST(KvSizingTest, HostKvAndSwapBytes) {
  KvCacheRequest r = Request(100 * kMiB);
  r.swap_space_bytes = 50 * kMiB;
  auto plan = PlanKvCache({Stage("cpu", 0, 30, kMiB, 20 * kGiB, /*weights=*/7 * kMiB)}, r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_host_blocks, 50);
  EXPECT_EQ(plan->host_kv_bytes, 100 * kMiB);
  EXPECT_EQ(plan->swap_bytes, 50 * kMiB);
}

// The probe findings: huge sizes are errors, not truncated block counts or late OOM kills.
TEST(KvSizingTest, RequestsThatCannotBeMetAreErrorsNamingTheKey) {
  const int64_t bpb = 30 * 2 * 16 * 192 * 2;  // the default model's f16 block: 360 KiB
  const int64_t tib = int64_t{1} << 40;
  struct Case {
    std::string name;
    std::vector<StageMemoryInfo> stages;
    KvCacheRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"block count past int32",
                   {Stage("cpu", 0, 30, bpb, int64_t{1} << 62)},
                   Request(1000 * tib),
                   "kv_cache_bytes: makes"});
  cases.push_back({"more K/V than free memory",
                   {Stage("cpu", 0, 30, bpb, 24 * kGiB)},
                   Request(100 * kGiB),
                   "kv_cache_bytes: the KV cache needs 100.00 GiB on cpu, which has 24.00 GiB "
                   "free: 76.00 GiB missing"});
  {
    KvCacheRequest r = Request(kGiB);
    r.swap_space_bytes = 100 * kGiB;
    r.host_free_bytes = 24 * kGiB;
    cases.push_back({"swap past free memory",
                     {Stage("cuda:0", 0, 30, bpb, 80 * kGiB)},
                     r,
                     "swap_space: swap space"});
    r.swap_space_bytes = 4194304 * tib;
    cases.push_back({"swap block count past int32",
                     {Stage("cuda:0", 0, 30, bpb, 80 * kGiB)},
                     r,
                     "swap_space: makes"});
  }
  cases.push_back({"explicit max_model_len over the cache",
                   {Stage("cpu", 0, 30, bpb, 24 * kGiB)},
                   Request(100 * bpb, /*max_model_len=*/4096),
                   "max_model_len: 4096 tokens do not fit the KV cache, which holds 1600"});
  cases.push_back({"max_model_len over the model's",
                   {Stage("cpu", 0, 30, bpb, 24 * kGiB)},
                   Request(kGiB, /*max_model_len=*/9000),
                   "max_model_len: 9000 exceeds the model's context length 8192"});
  cases.push_back({"budget below the weights",
                   {Stage("cuda:0", 0, 30, bpb, 24 * kGiB, /*weights=*/2 * kGiB, /*budget=*/kGiB)},
                   Request(0),
                   "devices: stage 0 (cuda:0, layers 0-29): its weights take 2.00 GiB of its "
                   "memory budget of 1.00 GiB"});
  cases.push_back({"less than a block",
                   {Stage("cpu", 0, 30, bpb, 24 * kGiB)},
                   Request(1000),
                   "less than one block"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto plan = PlanKvCache(c.stages, c.request);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace hearth::engine
