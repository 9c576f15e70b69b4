// Shared helpers for the engine tests: the default model, opened once, and request builders.
#pragma once

#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "engine/engine.h"
#include "engine/model/model.h"
#include "gtest/gtest.h"

namespace hearth::engine::testing {

// The default model, opened once per test binary (the mapping is shared and read-only).
inline const LoadedModel& DefaultModel() {
  static const LoadedModel* model = [] {
    auto m = LoadedModel::Open(HEARTH_DEFAULT_MODEL);
    if (!m.ok()) {
      ADD_FAILURE() << m.status();
      std::abort();
    }
    return m->release();
  }();
  return *model;
}

// A deterministic prompt of `n` ordinary (non-special) token ids.
inline std::vector<int32_t> RandomPrompt(int32_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(100, 49000);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = dist(rng);
  return out;
}

inline Request Greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  Request r;
  r.prompt_tokens = std::move(prompt);
  r.params.temperature = 0;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;  // fixed lengths make outputs comparable
  return r;
}

// A config for tests: small cache unless asked, two threads.
inline EngineConfig TestConfig(int64_t kv_tokens = 16384, int32_t max_model_len = 4096) {
  EngineConfig c;
  c.device.threads = 2;
  const ModelConfig& mc = DefaultModel().config();
  const int64_t bytes_per_token = 2ll * mc.num_layers * mc.kv_dim() *
                                  KvDtypeBytes(c.kv_cache.ResolvedDtype(c.device.cpu_precision));
  c.kv_cache.bytes = kv_tokens * bytes_per_token;
  c.kv_cache.swap_space_bytes = 0;
  c.scheduler.max_model_len = max_model_len;
  c.scheduler.max_num_seqs = 64;
  c.scheduler.max_num_batched_tokens = 512;
  return c;
}

// Runs each request alone, one after another, on a fresh engine: the reference outputs.
inline std::vector<std::vector<int32_t>> RunAlone(const std::vector<Request>& requests,
                                                  EngineConfig config) {
  config.scheduler.enable_prefix_caching = false;
  auto engine = Engine::Create(DefaultModel(), config);
  EXPECT_TRUE(engine.ok()) << engine.status();
  std::vector<std::vector<int32_t>> out;
  for (const Request& r : requests) {
    auto result = (*engine)->Generate({r});
    EXPECT_TRUE(result.ok()) << result.status();
    out.push_back((*result)[0][0].token_ids);
  }
  return out;
}

// The batch-invariance check for seeded sampling: a sampled request (temperature 0.9, top_p,
// seed, 5 top logprobs) returns bitwise the same tokens and logprobs alone on `engine` and as
// the 14th of 32 requests (greedy and sampled ones of different lengths). `prompt(n, seed)`
// makes the model's prompts.
inline void ExpectSeededSampleAloneEqualsUnderLoad(
    Engine& engine, const std::function<std::vector<int32_t>(int32_t, uint32_t)>& prompt,
    int32_t crowd_length_step) {
  Request probe;
  probe.prompt_tokens = prompt(40, 99);
  probe.params.temperature = 0.9f;
  probe.params.top_p = 0.95f;
  probe.params.seed = 1234;
  probe.params.max_tokens = 24;
  probe.params.logprobs = 5;
  probe.params.ignore_eos = true;
  auto alone = engine.Generate({probe});
  ASSERT_TRUE(alone.ok()) << alone.status();

  std::vector<Request> crowd;
  for (int i = 0; i < 31; ++i) {
    Request r = Greedy(prompt(5 + crowd_length_step * i, 500 + i), 20);
    if (i % 2 == 1) {
      r.params.temperature = 1.0f;
      r.params.seed = i;
    }
    crowd.push_back(std::move(r));
  }
  crowd.insert(crowd.begin() + 13, probe);
  auto loaded = engine.Generate(crowd);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  const SampleResult& a = (*alone)[0][0];
  const SampleResult& b = (*loaded)[13][0];
  ASSERT_EQ(a.token_ids, b.token_ids);
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
  for (size_t i = 0; i < a.logprobs.size(); ++i) {
    EXPECT_EQ(a.logprobs[i].id, b.logprobs[i].id);
    // Bitwise: compare the float representations.
    EXPECT_EQ(std::bit_cast<uint32_t>(a.logprobs[i].logprob),
              std::bit_cast<uint32_t>(b.logprobs[i].logprob));
    ASSERT_EQ(a.logprobs[i].top_logprobs.size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(a.logprobs[i].top_logprobs[k], b.logprobs[i].top_logprobs[k]);
    }
  }
}

}  // namespace hearth::engine::testing
