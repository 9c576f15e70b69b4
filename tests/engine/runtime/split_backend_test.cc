// The split backend on a tiny random model: any split of the layers into CPU stages gives the
// unsplit run's logits bit for bit (mixed prefill chunks and decodes, both precisions and K/V
// types), copies and swaps move every stage's blocks, and bad splits are clear errors.
#include "engine/runtime/split_backend.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/testing/cpu_backend.h"
#include "engine/testing/sequence_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/model/tiny_model.h"

namespace hearth::engine {
namespace {

using ::testing::HasSubstr;

constexpr int32_t kBlockSize = 4;

std::unique_ptr<LoadedModel> TinyModel(int layers) {
  testing::TinyModelSpec spec;
  spec.layers = layers;
  spec.vocab = 97;
  auto model = LoadedModel::FromFile(*GgufFile::FromBytes(testing::BuildTinyModel(spec)));
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

std::vector<int32_t> RandomTokens(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % 97);
  return t;
}

// Every logit row of a workload: 12 sequences of 1-30 tokens prefilled together in chunks of
// up to 5 (each step's batch mixes chunks of different sequences and lengths), then 4 decode
// steps of all of them with fixed tokens.
std::vector<float> RunWorkload(const LoadedModel& model, const CpuBackendOptions& options) {
  auto backend = MakeCpuBackend(model, 2, options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  SequenceRunner runner(backend->get(), kBlockSize);
  EXPECT_TRUE(runner.Init(/*max_seqs=*/12, /*max_len=*/40).ok());
  for (int i = 0; i < 12; ++i) runner.Add(RandomTokens(1 + (i * 7) % 30, 10 + i));
  std::vector<float> all, logits;
  auto run = [&](const std::vector<std::pair<int32_t, int32_t>>& work) {
    Batch batch = *runner.MakeBatch(work);
    EXPECT_TRUE((*backend)->Forward(batch, &logits).ok());
    runner.Commit(batch);
    all.insert(all.end(), logits.begin(), logits.end());
  };
  for (;;) {
    std::vector<std::pair<int32_t, int32_t>> work;
    for (int32_t id = 0; id < runner.num_sequences(); ++id) {
      const int32_t left = static_cast<int32_t>(runner.tokens(id).size()) - runner.cached(id);
      if (left > 0) work.push_back({id, std::min(left, 1 + id % 5)});
    }
    if (work.empty()) break;
    run(work);
  }
  for (int step = 0; step < 4; ++step) {
    std::vector<std::pair<int32_t, int32_t>> work;
    for (int32_t id = 0; id < runner.num_sequences(); ++id) {
      runner.Append(id, (id * 13 + step) % 97);
      work.push_back({id, 1});
    }
    run(work);
  }
  return all;
}

TEST(SplitBackendTest, AnySplitGivesTheUnsplitLogitsBitForBit) {
  auto model = TinyModel(/*layers=*/5);
  for (cpu::ActPrecision precision : {cpu::ActPrecision::kQ8, cpu::ActPrecision::kF32}) {
    for (KvDtype dtype : {KvDtype::kF16, KvDtype::kF32}) {
      SCOPED_TRACE(::testing::Message() << "precision " << cpu::ActPrecisionName(precision)
                                        << ", K/V " << KvDtypeName(dtype));
      const std::vector<float> whole = RunWorkload(*model, {precision, dtype, ""});
      ASSERT_FALSE(whole.empty());
      for (const std::string devices :
           {"cpu:0-1,cpu:2-4", "cpu:0-0:threads=1,cpu:1-3,cpu:4-4:threads=1", "cpu,cpu,cpu,cpu,cpu",
            "cpu:0-3,cpu:4-4"}) {
        SCOPED_TRACE(devices);
        const std::vector<float> split = RunWorkload(*model, {precision, dtype, devices});
        ASSERT_EQ(split.size(), whole.size());
        EXPECT_EQ(std::memcmp(split.data(), whole.data(), whole.size() * sizeof(float)), 0);
      }
    }
  }
}

TEST(SplitBackendTest, StagesAreBuiltAsAsked) {
  auto model = TinyModel(5);
  auto backend = *MakeCpuBackend(*model, 1, {.devices = "cpu:0-0:threads=1,cpu:1-3,cpu:4-4"});
  ASSERT_EQ(backend->num_stages(), 3);
  EXPECT_EQ(backend->Describe(), "cpu[0-0] + cpu[1-3] + cpu[4-4]");
  const std::vector<StageMemoryInfo> stages = backend->StageMemory(kBlockSize);
  ASSERT_EQ(stages.size(), 3u);
  const int64_t per_layer = stages[0].kv_bytes_per_block;
  EXPECT_EQ(stages[1].kv_bytes_per_block, 3 * per_layer);
  EXPECT_EQ(stages[2].kv_bytes_per_block, per_layer);
  EXPECT_EQ(backend->KvBytesPerBlock(kBlockSize), 5 * per_layer);
  EXPECT_EQ(stages[1].first_layer, 1);
  EXPECT_EQ(stages[1].end_layer, 4);
  EXPECT_TRUE(stages[0].host_memory);
  // The even split when no ranges are given: 5 layers over 2 stages.
  auto even = *MakeCpuBackend(*model, 1, {.devices = "cpu,cpu"});
  EXPECT_EQ(even->Describe(), "cpu[0-2] + cpu[3-4]");
}

// Copy-on-write and swap go to every stage: a forked sequence and a swapped-in one decode
// exactly as the original would.
TEST(SplitBackendTest, CopyAndSwapMoveEveryStagesBlocks) {
  auto model = TinyModel(5);
  const int32_t vocab = model->config().vocab_size;
  auto backend = *MakeCpuBackend(*model, 1, {.devices = "cpu:0-1,cpu:2-2,cpu:3-4"});
  ASSERT_TRUE(backend->InitKvCache(/*num_blocks=*/12, /*num_host_blocks=*/4, kBlockSize).ok());
  const std::vector<int32_t> prompt = RandomTokens(10, 8);
  auto make = [&](const std::vector<int32_t>& tokens, int32_t cached,
                  const std::vector<int32_t>& table) {
    Batch b;
    const int32_t n = static_cast<int32_t>(tokens.size()) - cached;
    for (int32_t i = cached; i < static_cast<int32_t>(tokens.size()); ++i) {
      b.tokens.push_back(tokens[i]);
      b.positions.push_back(i);
    }
    b.sequences.push_back({0, n, static_cast<int32_t>(tokens.size()), table, true});
    return b;
  };
  std::vector<float> logits, expected;
  std::vector<int32_t> full = prompt;
  full.push_back(42);
  ASSERT_TRUE(backend->Forward(make(prompt, 0, {0, 1, 2, 3}), &logits).ok());
  ASSERT_TRUE(backend->Forward(make(full, 10, {0, 1, 2, 3}), &expected).ok());
  ASSERT_EQ(expected.size(), static_cast<size_t>(vocab));

  ASSERT_TRUE(backend->CopyBlocks({{0, 4}, {1, 5}, {2, 6}}).ok());
  ASSERT_TRUE(backend->Forward(make(full, 10, {4, 5, 6, 7}), &logits).ok());
  EXPECT_EQ(logits, expected);

  ASSERT_TRUE(backend->SwapOut({{4, 3}, {5, 2}, {6, 1}}).ok());
  ASSERT_TRUE(backend->Forward(make(RandomTokens(12, 99), 0, {4, 5, 6}), &logits).ok());
  ASSERT_TRUE(backend->SwapIn({{3, 9}, {2, 10}, {1, 8}}).ok());
  ASSERT_TRUE(backend->Forward(make(full, 10, {9, 10, 8, 11}), &logits).ok());
  EXPECT_EQ(logits, expected);
  EXPECT_EQ(backend->SwapIn({{4, 0}}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SplitBackendTest, BadSplitsAreErrorsNamingTheKey) {
  auto model = TinyModel(5);
  struct Case {
    std::string devices;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"cpu:0-1,cpu:3-4", "starts at layer 3, expected 2"},
      {"cpu:0-1,cpu:1-4", "starts at layer 1, expected 2"},
      {"cpu:0-5", "past the model's last layer 4"},
      {"cpu:0-2", "every layer needs a stage"},
      {"cpu:0-2,cpu", "give a layer range for every stage or for none"},
      {"cuda:0:0-4", "cuda:0, which this host does not have (available: cpu)"},
      {"cpu:0-1,cpu:2-4:threads=0", "threads must be an integer in [1, 1024]"},
      {"cpu:0-4:memory=lots", "memory must be a size such as 2GiB"},
      {"cpu:0-4:speed=9", "unknown option 'speed'"},
      {"tpu:0-4", "unknown device 'tpu'"},
      {"cpu,cpu,cpu,cpu,cpu,cpu", "6 stages for a model of 5 layers"},
      {"cpu:0-0:memory=1KiB,cpu:1-4", "its weights take"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.devices);
    auto backend = MakeCpuBackend(*model, 1, {.devices = c.devices});
    ASSERT_FALSE(backend.ok());
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument) << backend.status();
    EXPECT_THAT(std::string(backend.status().message()), HasSubstr(c.message));
    EXPECT_THAT(std::string(backend.status().message()), HasSubstr("devices"));
  }
}

}  // namespace
}  // namespace hearth::engine
