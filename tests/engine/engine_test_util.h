// Shared helpers for the engine tests: the default model, opened once, and request builders.
#pragma once

#include <cstdint>
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

}  // namespace hearth::engine::testing
