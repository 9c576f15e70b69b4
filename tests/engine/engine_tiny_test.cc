// The engine loop on a tiny synthetic model with an injected backend: no real model needed.
// Concurrent greedy and seeded outputs equal solo runs whatever the split of the layers.
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/testing/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/engine/model/tiny_model.h"

namespace hearth::engine {
namespace {

std::unique_ptr<LoadedModel> TinyModelWithTokenizer() {
  testing::TinyModelSpec spec;
  spec.layers = 4;
  spec.vocab = 300;
  spec.tokenizer = true;
  auto model = LoadedModel::FromFile(*GgufFile::FromBytes(testing::BuildTinyModel(spec)));
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

EngineConfig TinyConfig() {
  EngineConfig c;
  c.kv_cache.bytes = 0;  // sized from the injected backend's memory
  c.kv_cache.memory_fraction = 0.01;
  c.kv_cache.swap_space_bytes = 0;
  c.scheduler.block_size = 4;
  c.scheduler.max_model_len = 256;
  c.scheduler.max_num_seqs = 16;
  c.scheduler.max_num_batched_tokens = 64;
  return c;
}

std::vector<Request> Requests() {
  std::vector<Request> requests;
  for (int i = 0; i < 24; ++i) {
    Request r;
    for (int j = 0; j < 3 + (i * 11) % 40; ++j)
      r.prompt_tokens.push_back(3 + (i * 31 + j * 7) % 290);
    r.params.max_tokens = 5 + i % 6;
    r.params.ignore_eos = true;
    if (i % 3 == 0) {
      r.params.temperature = 0;  // greedy
    } else {
      r.params.temperature = 0.9f;
      r.params.seed = 100 + i;
    }
    requests.push_back(std::move(r));
  }
  return requests;
}

std::vector<std::vector<int32_t>> Outputs(const LoadedModel& model, const std::string& devices,
                                          bool one_at_a_time) {
  auto backend = MakeCpuBackend(model, 2, {.devices = devices});
  EXPECT_TRUE(backend.ok()) << backend.status();
  auto engine = Engine::Create(model, TinyConfig(), {}, *std::move(backend));
  EXPECT_TRUE(engine.ok()) << engine.status();
  std::vector<std::vector<int32_t>> out;
  const std::vector<Request> requests = Requests();
  if (one_at_a_time) {
    for (const Request& r : requests) out.push_back((*(*engine)->Generate({r}))[0][0].token_ids);
  } else {
    auto all = (*engine)->Generate(requests);
    EXPECT_TRUE(all.ok()) << all.status();
    for (const auto& samples : *all) {
      EXPECT_TRUE(samples[0].status.ok()) << samples[0].status;
      out.push_back(samples[0].token_ids);
    }
  }
  const EngineStats stats = (*engine)->Stats();
  EXPECT_EQ(stats.scheduler.num_free_device_blocks, stats.num_device_blocks);  // none leaked
  return out;
}

TEST(EngineTinyModel, InjectedBackendsGiveSoloOutputsUnderBatchingAndSplits) {
  auto model = TinyModelWithTokenizer();
  const auto alone = Outputs(*model, "", /*one_at_a_time=*/true);
  ASSERT_EQ(alone.size(), 24u);
  for (const std::string devices : {"", "cpu:0-1,cpu:2-3", "cpu:0-0:threads=1,cpu:1-2,cpu:3-3"}) {
    SCOPED_TRACE(devices);
    EXPECT_EQ(Outputs(*model, devices, /*one_at_a_time=*/false), alone);
  }
}

TEST(EngineTinyModel, KvCacheIsSizedFromTheInjectedBackendsStages) {
  auto model = TinyModelWithTokenizer();
  auto backend = *MakeCpuBackend(*model, 1, {.devices = "cpu:0-1,cpu:2-3"});
  const int64_t bpb = backend->KvBytesPerBlock(4);
  EngineConfig config = TinyConfig();
  config.kv_cache.bytes = 100 * bpb;
  auto engine = Engine::Create(*model, config, {}, std::move(backend));
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->Stats().num_device_blocks, 100);
  EXPECT_EQ((*engine)->backend_description(), "cpu[0-1] + cpu[2-3]");
  ASSERT_EQ((*engine)->kv_plan().stages.size(), 2u);
  EXPECT_EQ((*engine)->kv_plan().stages[0].kv_bytes, 100 * bpb / 2);
}

}  // namespace
}  // namespace hearth::engine
