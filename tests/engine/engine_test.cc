// The engine loop on the default model: continuous batching must not change any output.
#include "engine/engine.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace hearth::engine {
namespace {

using testing::DefaultModel;
using testing::ExpectSeededSampleAloneEqualsUnderLoad;
using testing::Greedy;
using testing::RandomPrompt;
using testing::RunAlone;
using testing::TestConfig;

// 32 requests of mixed prompt lengths (1 to 1,500 tokens); some share a 256-token prefix so
// the prefix cache has something to hit.
std::vector<Request> MixedRequests() {
  std::vector<Request> requests;
  const std::vector<int32_t> shared = RandomPrompt(256, 7);
  for (int i = 0; i < 32; ++i) {
    int32_t len = 1 + 3 * i;                   // 1 .. 94
    if (i % 8 == 7) len = 300 + 50 * (i / 8);  // 300, 350, 400
    if (i == 31) len = 1500;
    std::vector<int32_t> prompt = RandomPrompt(len, 1000 + i);
    if (len > 256 && i % 2 == 1) std::copy(shared.begin(), shared.end(), prompt.begin());
    requests.push_back(Greedy(std::move(prompt), 6 + i % 5));
  }
  return requests;
}

// Prefix caching on/off x chunked prefill on/off. One test so the solo baseline (the slow
// part) runs once per process.
TEST(EngineConsistency, ConcurrentGreedyEqualsSoloInEveryBatchingMode) {
  const std::vector<Request> requests = MixedRequests();
  const std::vector<std::vector<int32_t>> alone = RunAlone(requests, TestConfig());
  for (bool prefix_caching : {true, false}) {
    for (bool chunked_prefill : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "prefix caching " << prefix_caching
                                        << ", chunked prefill " << chunked_prefill);
      EngineConfig config = TestConfig();
      config.scheduler.enable_prefix_caching = prefix_caching;
      config.scheduler.enable_chunked_prefill = chunked_prefill;
      config.scheduler.max_num_batched_tokens = chunked_prefill ? 512 : 2048;
      auto engine = Engine::Create(DefaultModel(), config);
      ASSERT_TRUE(engine.ok()) << engine.status();
      auto result = (*engine)->Generate(requests);
      ASSERT_TRUE(result.ok()) << result.status();
      for (size_t i = 0; i < requests.size(); ++i) {
        const SampleResult& r = (*result)[i][0];
        ASSERT_TRUE(r.status.ok()) << r.status;
        EXPECT_EQ(r.token_ids, alone[i])
            << "request " << i << " (prompt " << requests[i].prompt_tokens.size() << " tokens)";
      }
      const EngineStats stats = (*engine)->Stats();
      EXPECT_EQ(stats.scheduler.num_running + stats.scheduler.num_waiting, 0);
      if (prefix_caching) {
        EXPECT_GT(stats.scheduler.prefix_cache_hit_tokens, 0);
      } else {
        EXPECT_EQ(stats.scheduler.prefix_cache_hit_tokens, 0);
      }
    }
  }
}

// A seeded, sampled request returns bitwise the same tokens and logprobs alone or among 31
// other requests.
TEST(EngineBatchInvariance, SeededSampleAloneEqualsUnderLoad) {
  auto engine = Engine::Create(DefaultModel(), TestConfig());
  ASSERT_TRUE(engine.ok()) << engine.status();
  ExpectSeededSampleAloneEqualsUnderLoad(**engine, RandomPrompt, /*crowd_length_step=*/7);
}

// With the cache sized for about three sequences, 40 requests all finish with their solo
// outputs; both preemption paths run; every block returns to the pool.
TEST(EngineMemoryPressure, PreemptionKeepsOutputsAndFreesEverything) {
  std::vector<Request> requests;
  for (int i = 0; i < 40; ++i) {
    // Half long (swapped when preempted: >= swap_min_tokens computed), half short (recomputed).
    const int32_t len = i % 2 == 0 ? 90 + i : 20 + i;
    requests.push_back(Greedy(RandomPrompt(len, 3000 + i), 16));
  }
  EngineConfig config = TestConfig(/*kv_tokens=*/3 * 144, /*max_model_len=*/144);
  config.kv_cache.swap_space_bytes = config.kv_cache.bytes;  // room to swap all three out
  config.scheduler.swap_min_tokens = 64;
  config.scheduler.max_num_batched_tokens = 128;
  const auto alone = RunAlone(requests, config);

  auto engine = Engine::Create(DefaultModel(), config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto result = (*engine)->Generate(requests);
  ASSERT_TRUE(result.ok()) << result.status();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE((*result)[i][0].status.ok()) << (*result)[i][0].status;
    EXPECT_EQ((*result)[i][0].token_ids, alone[i]) << "request " << i;
  }
  const EngineStats stats = (*engine)->Stats();
  EXPECT_GT(stats.scheduler.num_preemptions_recompute, 0);
  EXPECT_GT(stats.scheduler.num_preemptions_swap, 0);
  EXPECT_EQ(stats.scheduler.num_free_device_blocks, stats.num_device_blocks);
  EXPECT_EQ(stats.scheduler.kv_usage, 0.0);
}

// A second request sharing a 512-token prefix computes only its suffix.
TEST(EnginePrefixCache, SharedPrefixComputesOnlySuffix) {
  auto engine = Engine::Create(DefaultModel(), TestConfig());
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<int32_t> prefix = RandomPrompt(512, 11);
  std::vector<int32_t> a = prefix, b = prefix;
  for (int32_t t : RandomPrompt(40, 12)) a.push_back(t);
  for (int32_t t : RandomPrompt(24, 13)) b.push_back(t);

  auto first = (*engine)->Generate({Greedy(a, 4)});
  ASSERT_TRUE(first.ok());
  const EngineStats before = (*engine)->Stats();
  auto second = (*engine)->Generate({Greedy(b, 4)});
  ASSERT_TRUE(second.ok());
  const EngineStats after = (*engine)->Stats();

  EXPECT_EQ((*second)[0][0].usage.cached_prompt_tokens, 512);
  // Prompt tokens computed: the 24-token suffix (the decode steps are not prompt tokens).
  EXPECT_EQ(after.prompt_tokens_computed - before.prompt_tokens_computed, 24);
  EXPECT_EQ(after.scheduler.prefix_cache_hit_tokens - before.scheduler.prefix_cache_hit_tokens,
            512);
}

// While 8 streams decode, a 4,000-token prompt is admitted in chunks and every step still
// carries all 8 decodes.
TEST(EngineChunkedPrefill, LongPromptNeverStallsDecodes) {
  std::vector<std::vector<int32_t>> step_shapes;  // per step: tokens per sequence
  EngineHooks hooks;
  hooks.on_step = [&](const scheduler::SchedulerStep& step) {
    std::vector<int32_t> shape;
    for (const auto& s : step.sequences) shape.push_back(s.num_tokens());
    step_shapes.push_back(std::move(shape));
  };
  EngineConfig config = TestConfig(/*kv_tokens=*/16384, /*max_model_len=*/4200);
  config.scheduler.max_num_batched_tokens = 256;
  auto engine = Engine::Create(DefaultModel(), config, hooks);
  ASSERT_TRUE(engine.ok()) << engine.status();

  std::vector<std::unique_ptr<RequestStream>> decoders;
  for (int i = 0; i < 8; ++i) {
    auto s = (*engine)->Submit(Greedy(RandomPrompt(8, 40 + i), 64));
    ASSERT_TRUE(s.ok());
    decoders.push_back(*std::move(s));
  }
  // Wait until all 8 have produced a token (they are decoding).
  for (auto& d : decoders) {
    RequestOutput out;
    ASSERT_TRUE(d->Next(&out));
  }
  auto long_stream = (*engine)->Submit(Greedy(RandomPrompt(4000, 77), 2));
  ASSERT_TRUE(long_stream.ok());
  RequestOutput out;
  while ((*long_stream)->Next(&out)) {
  }
  for (auto& d : decoders) {
    while (d->Next(&out)) {
    }
  }
  // Steps that computed part of the long prompt: a sequence with > 1 token.
  int chunk_steps = 0;
  for (const auto& shape : step_shapes) {
    int32_t big = 0, decodes = 0;
    for (int32_t n : shape) {
      if (n == 1) {
        ++decodes;
      } else if (n > 8) {  // a chunk of the long prompt (the 8 streams' prompts are 8 tokens)
        big += n;
      }
    }
    if (big == 0) continue;
    ++chunk_steps;
    EXPECT_LE(big, 256 - 8);
    // All 8 streams still decoding while the prompt is prefilled (each runs 64 tokens, far
    // longer than the 16 chunk steps).
    EXPECT_EQ(decodes, 8) << "step with a prompt chunk of " << big;
  }
  EXPECT_GE(chunk_steps, 4000 / 256);
}

// Abort mid-stream frees the blocks at once; unknown and finished ids are harmless.
TEST(EngineAbort, MidStreamFreesBlocks) {
  auto engine = Engine::Create(DefaultModel(), TestConfig());
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto stream = (*engine)->Submit(Greedy(RandomPrompt(300, 5), 2000));
  ASSERT_TRUE(stream.ok());
  RequestOutput out;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*stream)->Next(&out));
  EXPECT_GT((*engine)->Stats().scheduler.kv_usage, 0.0);
  (*engine)->Abort((*stream)->request_id());
  while ((*stream)->Next(&out)) {
  }
  ASSERT_TRUE(out.finish.has_value());
  EXPECT_EQ(out.finish->reason(), sampler::FinishReason::kAbort);
  const EngineStats stats = (*engine)->Stats();
  EXPECT_EQ(stats.scheduler.kv_usage, 0.0);
  EXPECT_EQ(stats.scheduler.num_free_device_blocks, stats.num_device_blocks);

  (*engine)->Abort((*stream)->request_id());  // finished
  (*engine)->Abort(987654321);                // unknown
  auto again = (*engine)->Generate({Greedy(RandomPrompt(10, 6), 3)});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0][0].token_ids.size(), 3u);
}

TEST(EngineAdmission, RejectsWhatCanNeverRun) {
  auto engine = Engine::Create(DefaultModel(), TestConfig(16384, 1024));
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto expect_invalid = [&](Request r, const std::string& hint) {
    auto s = (*engine)->Submit(std::move(r));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(hint), std::string::npos) << s.status();
  };
  expect_invalid(Greedy({}, 4), "empty");
  expect_invalid(Greedy(RandomPrompt(1000, 1), 100), "context length");
  expect_invalid(Greedy({1, 2, 999999}, 4), "vocabulary");
  Request bad = Greedy({1, 2, 3}, 4);
  bad.params.temperature = -1;
  expect_invalid(bad, "temperature");
}

// Probe finding 2: a burst on an idle engine fills every running slot plus the waiting queue
// (max_num_seqs + max_waiting_requests samples in flight), not only the waiting queue.
TEST(EngineAdmission, BurstOnIdleEngineFillsRunningSlotsAndQueue) {
  EngineConfig config = TestConfig();
  config.scheduler.max_num_seqs = 6;
  config.scheduler.max_waiting_requests = 3;
  auto engine = Engine::Create(DefaultModel(), config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<std::unique_ptr<RequestStream>> accepted;
  int rejected = 0;
  for (int i = 0; i < 20; ++i) {
    auto s = (*engine)->Submit(Greedy(RandomPrompt(8, 100 + i), 2000));
    if (s.ok()) {
      accepted.push_back(*std::move(s));
    } else {
      EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
      ++rejected;
    }
  }
  EXPECT_EQ(accepted.size(), 9u);
  EXPECT_EQ(rejected, 11);
  // Every accepted request runs (none fails in the scheduler's own queue bound).
  RequestOutput out;
  for (auto& s : accepted) {
    ASSERT_TRUE(s->Next(&out));
    EXPECT_TRUE(out.status.ok()) << out.status;
    (*engine)->Abort(s->request_id());
  }
  for (auto& s : accepted) {
    while (s->Next(&out)) {
    }
    EXPECT_TRUE(out.status.ok()) << out.status;
  }
}

// kv_cache_dtype: auto is f16 except with f32 precision; f16 holds twice the blocks of f32 in
// the same bytes.
TEST(EngineKvCacheDtype, ResolvesAndSizesTheCache) {
  EngineConfig config = TestConfig(/*kv_tokens=*/4096, /*max_model_len=*/1024);
  EXPECT_EQ(config.kv_cache.ResolvedDtype(config.device.cpu_precision), KvDtype::kF16);
  config.device.cpu_precision = cpu::ActPrecision::kF32;
  EXPECT_EQ(config.kv_cache.ResolvedDtype(config.device.cpu_precision), KvDtype::kF32);
  config.device.cpu_precision = cpu::ActPrecision::kQ8;
  auto f16 = Engine::Create(DefaultModel(), config);
  ASSERT_TRUE(f16.ok()) << f16.status();
  EXPECT_EQ((*f16)->Stats().kv_capacity_tokens(), 4096);
  config.kv_cache.dtype = KvDtype::kF32;
  auto f32 = Engine::Create(DefaultModel(), config);
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_EQ((*f32)->Stats().kv_capacity_tokens(), 2048);
}

}  // namespace
}  // namespace hearth::engine
