// The engine on the default model split over CPU stages: the same greedy and seeded outputs as
// unsplit solo runs under batching (32+ streams), prefix caching, chunked prefill and preemption
// by swap (every stage swaps its own layers' blocks); the KV capacity is the smallest stage's.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/testing/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace hearth::engine {
namespace {

using testing::DefaultModel;
using testing::Greedy;
using testing::RandomPrompt;
using testing::RunAlone;
using testing::TestConfig;

const char* const kSplits[] = {"cpu:0-14,cpu:15-29",
                               "cpu:0-3:threads=1,cpu:4-20,cpu:21-29:threads=1"};

// 40 requests: greedy ones of 1-300 tokens (half sharing a 128-token prefix) and seeded sampled
// ones with logprobs.
std::vector<Request> Workload() {
  std::vector<Request> requests;
  const std::vector<int32_t> shared = RandomPrompt(128, 5);
  for (int i = 0; i < 40; ++i) {
    const int32_t len = 1 + (i * 37) % 300;
    std::vector<int32_t> prompt = RandomPrompt(len, 700 + i);
    if (len > 128 && i % 2 == 0) std::copy(shared.begin(), shared.end(), prompt.begin());
    Request r = Greedy(std::move(prompt), 6 + i % 7);
    if (i % 4 == 1) {
      r.params.temperature = 0.8f;
      r.params.top_p = 0.95f;
      r.params.seed = 9000 + i;
    }
    requests.push_back(std::move(r));
  }
  return requests;
}

TEST(EngineSplit, SplitsGiveTheUnsplitSoloOutputsUnderLoad) {
  const std::vector<Request> requests = Workload();
  const auto alone = RunAlone(requests, TestConfig());
  for (const char* devices : kSplits) {
    SCOPED_TRACE(devices);
    EngineConfig config = TestConfig();
    config.device.devices = *ParseStageSpecs(devices);
    config.scheduler.max_num_batched_tokens = 256;  // prompts arrive in chunks
    auto engine = Engine::Create(DefaultModel(), config);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ((*engine)->kv_plan().stages.size(),
              std::string(devices).find("21-29") != std::string::npos ? 3u : 2u);
    auto result = (*engine)->Generate(requests);
    ASSERT_TRUE(result.ok()) << result.status();
    for (size_t i = 0; i < requests.size(); ++i) {
      ASSERT_TRUE((*result)[i][0].status.ok()) << (*result)[i][0].status;
      EXPECT_EQ((*result)[i][0].token_ids, alone[i]) << "request " << i;
    }
    const EngineStats stats = (*engine)->Stats();
    EXPECT_GT(stats.scheduler.prefix_cache_hit_tokens, 0);
    EXPECT_EQ(stats.scheduler.num_free_device_blocks, stats.num_device_blocks);
  }
}

// With the cache sized for about three sequences, preemption swaps and recomputes; every stage
// swaps its own layers' blocks, and the outputs stay the unsplit solo ones.
TEST(EngineSplit, PreemptionBySwapAcrossStages) {
  std::vector<Request> requests;
  for (int i = 0; i < 24; ++i) {
    const int32_t len = i % 2 == 0 ? 90 + i : 20 + i;
    requests.push_back(Greedy(RandomPrompt(len, 3000 + i), 16));
  }
  EngineConfig config = TestConfig(/*kv_tokens=*/3 * 144, /*max_model_len=*/144);
  config.kv_cache.swap_space_bytes = config.kv_cache.bytes;
  config.scheduler.swap_min_tokens = 64;
  config.scheduler.max_num_batched_tokens = 128;
  const auto alone = RunAlone(requests, config);
  config.device.devices = *ParseStageSpecs(kSplits[1]);
  auto engine = Engine::Create(DefaultModel(), config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto result = (*engine)->Generate(requests);
  ASSERT_TRUE(result.ok()) << result.status();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE((*result)[i][0].status.ok()) << (*result)[i][0].status;
    EXPECT_EQ((*result)[i][0].token_ids, alone[i]) << "request " << i;
  }
  const EngineStats stats = (*engine)->Stats();
  EXPECT_GT(stats.scheduler.num_preemptions_swap, 0);
  EXPECT_GT(stats.scheduler.num_preemptions_recompute, 0);
  EXPECT_EQ(stats.scheduler.num_free_device_blocks, stats.num_device_blocks);
}

// A memory budget on one stage that fits only part of the cache: the capacity is that stage's.
TEST(EngineSplit, CapacityIsTheSmallestStage) {
  auto probe = MakeCpuBackend(DefaultModel(), 1, {.devices = "cpu:0-9,cpu:10-29"});
  ASSERT_TRUE(probe.ok()) << probe.status();
  const std::vector<StageMemoryInfo> stages = (*probe)->StageMemory(16);
  const int64_t budget = stages[0].memory.weight_bytes + 200 * stages[0].kv_bytes_per_block + 100;
  probe->reset();
  EngineConfig config = TestConfig(/*kv_tokens=*/16384, /*max_model_len=*/0);
  config.device.devices = *ParseStageSpecs(absl::StrCat("cpu:0-9:memory=", budget, ",cpu:10-29"));
  auto engine = Engine::Create(DefaultModel(), config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->Stats().num_device_blocks, 200);
  EXPECT_EQ((*engine)->Stats().kv_capacity_tokens(), 3200);
  EXPECT_EQ((*engine)->kv_plan().limiting_stage, 0);
  EXPECT_EQ((*engine)->max_model_len(), 3200);  // the model's 8192 capped to the cache
  auto out = (*engine)->Generate({Greedy(RandomPrompt(50, 1), 8)});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0][0].token_ids.size(), 8u);
}

}  // namespace
}  // namespace hearth::engine
