// The CPU backend (CPU ops under the llama graph, one stage) on a tiny random model (Q8_0 matrices,
// so the 8-bit activation path runs): batch invariance, chunked prefill, block-table indirection,
// copy/swap round trips, errors.

#include "engine/testing/cpu_backend.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/testing/forward_all.h"
#include "engine/testing/sequence_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/model/tiny_model.h"

namespace hearth::engine::cpu {
namespace {

using ::testing::HasSubstr;

constexpr int32_t kBlockSize = 4;  // small, so sequences span many blocks

std::unique_ptr<LoadedModel> TinyModel(const std::string& arch = "llama") {
  testing::TinyModelSpec spec;
  spec.arch = arch;
  spec.vocab = 97;
  auto file = GgufFile::FromBytes(testing::BuildTinyModel(spec));
  EXPECT_TRUE(file.ok()) << file.status();
  auto model = LoadedModel::FromFile(*std::move(file));
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

std::vector<int32_t> RandomTokens(int n, uint32_t seed, int vocab = 97) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

bool BitwiseEqual(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

// Sampled logits of each step for one sequence run alone: prefill `prompt` in chunks of
// `chunk`, then decode `decode` (fixed tokens, not sampled, so runs are comparable).
std::vector<std::vector<float>> RunAlone(const LoadedModel& model, int threads,
                                         const std::vector<int32_t>& prompt,
                                         const std::vector<int32_t>& decode, int chunk,
                                         std::vector<int32_t> block_table = {},
                                         int32_t block_size = kBlockSize) {
  auto backend = *MakeCpuBackend(model, threads);
  SequenceRunner runner(backend.get(), block_size);
  EXPECT_TRUE(runner.Init(/*max_seqs=*/8, /*max_len=*/64).ok());
  const int32_t id = runner.Add(prompt, block_table);
  std::vector<std::vector<float>> out;
  std::vector<float> logits;
  auto step = [&](int32_t n) {
    Batch batch = *runner.MakeBatch({{id, n}});
    EXPECT_TRUE(backend->Forward(batch, &logits).ok());
    runner.Commit(batch);
    if (batch.sequences[0].sample) out.push_back(logits);
  };
  while (runner.cached(id) < static_cast<int32_t>(prompt.size())) {
    step(std::min<int32_t>(chunk, prompt.size() - runner.cached(id)));
  }
  for (int32_t t : decode) {
    runner.Append(id, t);
    step(1);
  }
  return out;
}

TEST(CpuBackendTest, BatchInvariance) {
  auto model = TinyModel();
  const int32_t vocab = model->config().vocab_size;
  const std::vector<int32_t> prompt = RandomTokens(11, 1);
  const std::vector<int32_t> decode = RandomTokens(3, 2);
  const auto alone = RunAlone(*model, /*threads=*/1, prompt, decode, /*chunk=*/64);
  ASSERT_EQ(alone.size(), 4u);
  ASSERT_FALSE(BitwiseEqual(alone[0].data(), alone[1].data(), vocab));  // steps differ

  // The same sequence among 31 others: prefill chunks of several lengths and decodes, with
  // the target sequence in the middle of the flat batch.
  auto backend = *MakeCpuBackend(*model, /*threads=*/2);
  SequenceRunner runner(backend.get(), kBlockSize);
  ASSERT_TRUE(runner.Init(32, 64).ok());
  std::vector<int32_t> others;
  for (int i = 0; i < 31; ++i) {
    if (i == 15) runner.Add(prompt);
    others.push_back(runner.Add(RandomTokens(3 + i % 9, 100 + i)));
  }
  const int32_t target = 15;
  // Warm the others up so some decode while the target prefills.
  for (int i = 0; i < 31; i += 2) {
    Batch warm = *runner.MakeBatch({{others[i], 2}});
    std::vector<float> unused;
    ASSERT_TRUE(backend->Forward(warm, &unused).ok());
    runner.Commit(warm);
  }
  std::vector<float> logits;
  for (int step = 0; step < 4; ++step) {
    if (step > 0) runner.Append(target, decode[step - 1]);
    std::vector<std::pair<int32_t, int32_t>> work;
    for (int32_t id = 0; id < runner.num_sequences(); ++id) {
      int32_t left = static_cast<int32_t>(runner.tokens(id).size()) - runner.cached(id);
      if (id != target && left == 0) {
        runner.Append(id, (id * 7 + step) % vocab);  // keep the others decoding
        left = 1;
      }
      if (left > 0) work.push_back({id, std::min(left, id == target ? 64 : 1 + id % 5)});
    }
    Batch batch = *runner.MakeBatch(work);
    ASSERT_GT(batch.num_tokens(), 31);
    ASSERT_TRUE(backend->Forward(batch, &logits).ok());
    runner.Commit(batch);
    // Find the target's row among the sampled ones.
    int32_t row = 0;
    for (size_t s = 0; s < work.size(); ++s) {
      if (work[s].first == target) break;
      row += batch.sequences[s].sample ? 1 : 0;
    }
    EXPECT_TRUE(BitwiseEqual(&logits[int64_t{row} * vocab], alone[step].data(), vocab))
        << "step " << step;
  }
}

TEST(CpuBackendTest, ChunkedPrefillIsBitwiseEqual) {
  for (const std::string arch : {"llama", "qwen2"}) {
    SCOPED_TRACE(arch);
    auto model = TinyModel(arch);
    const std::vector<int32_t> prompt = RandomTokens(17, 3);
    const std::vector<int32_t> decode = RandomTokens(4, 4);
    const auto whole = RunAlone(*model, 2, prompt, decode, /*chunk=*/64);
    for (int chunk : {1, 3, 5, 16}) {
      const auto chunked = RunAlone(*model, 2, prompt, decode, chunk);
      ASSERT_EQ(chunked.size(), whole.size());
      for (size_t i = 0; i < whole.size(); ++i) {
        EXPECT_TRUE(BitwiseEqual(chunked[i].data(), whole[i].data(), whole[i].size()))
            << "chunk " << chunk << " step " << i;
      }
    }
  }
}

// Block size 16 (the engine's; full-vector attention kernels) and a prompt of three attention
// tiles: chunking and the thread count never change a bit.
TEST(CpuBackendTest, ChunkedPrefillIsBitwiseEqualWithBlock16) {
  auto model = TinyModel();
  const std::vector<int32_t> prompt = RandomTokens(41, 8);
  const std::vector<int32_t> decode = RandomTokens(5, 9);
  const auto whole = RunAlone(*model, 1, prompt, decode, /*chunk=*/64, {}, /*block_size=*/16);
  for (int chunk : {1, 7, 16, 33}) {
    for (int threads : {2, 3}) {
      const auto chunked = RunAlone(*model, threads, prompt, decode, chunk, {}, 16);
      ASSERT_EQ(chunked.size(), whole.size());
      for (size_t i = 0; i < whole.size(); ++i) {
        EXPECT_TRUE(BitwiseEqual(chunked[i].data(), whole[i].data(), whole[i].size()))
            << "chunk " << chunk << " threads " << threads << " step " << i;
      }
    }
  }
}

TEST(CpuBackendTest, ForwardAllTokensMatchesEachPrefix) {
  auto model = TinyModel();
  const int32_t vocab = model->config().vocab_size;
  const std::vector<int32_t> prompt = RandomTokens(9, 5);
  std::vector<std::vector<float>> by_prefix;  // last logits of each prefix, run alone
  for (int p = 1; p <= 9; ++p) {
    const std::vector<int32_t> prefix(prompt.begin(), prompt.begin() + p);
    by_prefix.push_back(RunAlone(*model, 1, prefix, {}, /*chunk=*/1).back());
  }
  auto backend = *MakeCpuBackend(*model, 2);
  SequenceRunner runner(backend.get(), kBlockSize);
  ASSERT_TRUE(runner.Init(1, 16).ok());
  runner.Add(prompt);
  Batch batch = *runner.MakeBatch({{0, 9}});
  std::vector<float> all;
  ASSERT_TRUE(ForwardAllTokens(*backend, batch, &all).ok());
  ASSERT_EQ(all.size(), size_t{9} * vocab);
  for (int p = 0; p < 9; ++p) {
    EXPECT_TRUE(BitwiseEqual(&all[int64_t{p} * vocab], by_prefix[p].data(), vocab)) << p;
  }
}

TEST(CpuBackendTest, ShuffledBlockTableGivesSameLogits) {
  auto model = TinyModel();
  const std::vector<int32_t> prompt = RandomTokens(21, 6);
  const std::vector<int32_t> decode = RandomTokens(5, 7);
  const auto contiguous = RunAlone(*model, 2, prompt, decode, 7);
  // 26 tokens / 4 per block = 7 blocks, scattered over the 8 * 16 = 128 blocks of the pool.
  std::vector<int32_t> table = {97, 3, 64, 12, 127, 40, 5, 88, 20, 31, 77, 1, 50, 60, 70, 80};
  const auto shuffled = RunAlone(*model, 2, prompt, decode, 7, table);
  ASSERT_EQ(contiguous.size(), shuffled.size());
  for (size_t i = 0; i < contiguous.size(); ++i) {
    EXPECT_TRUE(BitwiseEqual(contiguous[i].data(), shuffled[i].data(), contiguous[i].size()));
  }
}

TEST(CpuBackendTest, CopyAndSwapRoundTrip) {
  auto model = TinyModel();
  const int32_t vocab = model->config().vocab_size;
  const std::vector<int32_t> prompt = RandomTokens(10, 8);  // blocks 0..2 (3 blocks of 4)
  const int32_t next = 42;
  const auto expected = RunAlone(*model, 1, prompt, {next}, 64, {0, 1, 2, 3});

  auto backend = *MakeCpuBackend(*model, 1);
  ASSERT_TRUE(backend->InitKvCache(/*num_blocks=*/12, /*num_host_blocks=*/4, kBlockSize).ok());
  EXPECT_EQ(CpuKvDtype(*backend), KvDtype::kF16);  // the default for q8 precision
  EXPECT_EQ(backend->KvBytesPerBlock(kBlockSize),
            int64_t{2} * 2 * kBlockSize * model->config().kv_dim() * 2);
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
  std::vector<float> logits;
  ASSERT_TRUE(backend->Forward(make(prompt, 0, {0, 1, 2, 3}), &logits).ok());
  ASSERT_TRUE(BitwiseEqual(logits.data(), expected[0].data(), vocab));
  std::vector<int32_t> full = prompt;
  full.push_back(next);

  // Copy-on-write: a fork decodes from copies of the blocks.
  ASSERT_TRUE(backend->CopyBlocks({{0, 4}, {1, 5}, {2, 6}}).ok());
  ASSERT_TRUE(backend->Forward(make(full, 10, {4, 5, 6, 7}), &logits).ok());
  EXPECT_TRUE(BitwiseEqual(logits.data(), expected[1].data(), vocab));

  // Swap out, clobber the device blocks with another sequence, swap in elsewhere.
  ASSERT_TRUE(backend->SwapOut({{0, 3}, {1, 2}, {2, 1}}).ok());
  ASSERT_TRUE(backend->Forward(make(RandomTokens(12, 99), 0, {0, 1, 2}), &logits).ok());
  ASSERT_TRUE(backend->SwapIn({{3, 9}, {2, 10}, {1, 8}}).ok());
  ASSERT_TRUE(backend->Forward(make(full, 10, {9, 10, 8, 11}), &logits).ok());
  EXPECT_TRUE(BitwiseEqual(logits.data(), expected[1].data(), vocab));
}

// The K/V element type: f16 by default, f32 with f32 precision (the exact mode) or on request;
// f32 K/V takes twice the bytes per block.
TEST(CpuBackendTest, KvDtypeFollowsOptions) {
  auto model = TinyModel();
  const int64_t f16_bytes = int64_t{2} * 2 * kBlockSize * model->config().kv_dim() * 2;
  auto q8 = *MakeCpuBackend(*model, 1);
  EXPECT_EQ(CpuKvDtype(*q8), KvDtype::kF16);
  EXPECT_EQ(q8->KvBytesPerBlock(kBlockSize), f16_bytes);
  auto f32 = *MakeCpuBackend(*model, 1, {.precision = ActPrecision::kF32});
  EXPECT_EQ(CpuKvDtype(*f32), KvDtype::kF32);
  EXPECT_EQ(f32->KvBytesPerBlock(kBlockSize), 2 * f16_bytes);
  auto q8_f32 = *MakeCpuBackend(*model, 1, {.kv_dtype = KvDtype::kF32});
  EXPECT_EQ(CpuKvDtype(*q8_f32), KvDtype::kF32);
  auto f32_f16 =
      *MakeCpuBackend(*model, 1, {.precision = ActPrecision::kF32, .kv_dtype = KvDtype::kF16});
  EXPECT_EQ(CpuKvDtype(*f32_f16), KvDtype::kF16);
}

TEST(CpuBackendTest, ErrorsAreStatuses) {
  auto model = TinyModel();
  auto backend = *MakeCpuBackend(*model, 1);
  std::vector<float> logits;
  Batch ok;
  ok.tokens = {1, 2};
  ok.positions = {0, 1};
  ok.sequences.push_back({0, 2, 2, {0}, true});
  EXPECT_EQ(backend->Forward(ok, &logits).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(backend->InitKvCache(4, 1, kBlockSize).ok());
  ASSERT_TRUE(backend->Forward(ok, &logits).ok());
  EXPECT_EQ(logits.size(), size_t{97});
  ASSERT_TRUE(backend->Forward(Batch{}, &logits).ok());  // an empty step is fine
  EXPECT_TRUE(logits.empty());

  struct Case {
    std::string name;
    Batch batch;
    std::string message;
  };
  std::vector<Case> cases;
  {
    Batch b = ok;
    b.tokens[1] = 97;
    cases.push_back({"token outside vocab", b, "outside the vocabulary"});
  }
  {
    Batch b = ok;
    b.sequences[0].block_table = {4};
    cases.push_back({"block out of range", b, "block id 4 out of range"});
  }
  {
    Batch b = ok;
    b.positions = {3, 4};
    cases.push_back({"wrong positions", b, "position 3"});
  }
  {
    Batch b = ok;
    b.sequences[0].context_len = 5;
    b.positions = {3, 4};
    cases.push_back({"short block table", b, "block table has 1 blocks"});
  }
  {
    Batch b = ok;
    b.sequences[0].num_tokens = 1;
    b.sequences[0].context_len = 1;
    cases.push_back({"uncovered tokens", b, "cover 1 of the batch's 2 tokens"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status s = backend->Forward(c.batch, &logits);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
  }
  EXPECT_EQ(backend->SwapIn({{1, 0}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend->SwapOut({{0, 1}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend->CopyBlocks({{0, 4}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend->InitKvCache(1 << 30, 0, 1 << 10).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(MakeCpuBackend(*model, 0).ok());
}

}  // namespace
}  // namespace hearth::engine::cpu
