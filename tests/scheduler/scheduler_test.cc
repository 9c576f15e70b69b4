// Scheduler: admission, budgets, step composition, priorities, aborts. Driven by the fake
// runner (fake_runner.h); no model.
#include "scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/scheduler/fake_runner.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace hearth::scheduler {
namespace {

using ::hearth::scheduler::testing::Entry;
using ::hearth::scheduler::testing::ExpectNoLeaks;
using ::hearth::scheduler::testing::FakeRunner;
using ::hearth::scheduler::testing::RunAlone;
using ::hearth::scheduler::testing::RunUntilIdle;
using ::hearth::scheduler::testing::Tokens;
using ::hearth::scheduler::testing::View;
using ::testing::HasSubstr;

SchedulerConfig SmallConfig() {
  SchedulerConfig c;
  c.max_num_seqs = 8;
  c.max_num_batched_tokens = 64;
  c.block_size = 4;
  c.num_device_blocks = 64;
  c.max_model_len = 128;
  c.max_waiting_requests = 16;
  return c;
}

std::unique_ptr<Scheduler> Make(const SchedulerConfig& c) {
  absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Create(c);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

TEST(SchedulerConfig, ValidateNamesTheBadField) {
  struct Case {
    void (*tweak)(SchedulerConfig&);
    std::string field;
  };
  const Case table[] = {
      {[](SchedulerConfig& c) { c.max_num_seqs = 0; }, "max_num_seqs"},
      {[](SchedulerConfig& c) { c.max_num_batched_tokens = -1; }, "max_num_batched_tokens"},
      {[](SchedulerConfig& c) { c.block_size = 0; }, "block_size"},
      {[](SchedulerConfig& c) { c.num_device_blocks = 0; }, "num_device_blocks"},
      {[](SchedulerConfig& c) { c.num_host_blocks = -1; }, "num_host_blocks"},
      {[](SchedulerConfig& c) { c.long_prefill_token_threshold = -3; },
       "long_prefill_token_threshold"},
  };
  EXPECT_TRUE(SmallConfig().Validate().ok());
  for (const Case& c : table) {
    SchedulerConfig cfg = SmallConfig();
    c.tweak(cfg);
    absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Create(cfg);
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.field));
  }
}

TEST(Scheduler, AdmissionErrorsSayWhy) {
  struct Case {
    std::string name;
    int32_t prompt_len;
    int32_t max_tokens;
    bool chunked;
    absl::StatusCode code;
    std::string message;
  };
  // SmallConfig: max_model_len 128, 64 blocks of 4 = 256 slots, budget 64.
  const Case table[] = {
      {"fits", 100, 28, true, absl::StatusCode::kOk, ""},
      {"empty", 0, 4, true, absl::StatusCode::kInvalidArgument, "empty"},
      {"max_tokens", 10, 0, true, absl::StatusCode::kInvalidArgument, "max_tokens = 0"},
      {"context", 100, 29, true, absl::StatusCode::kInvalidArgument,
       "prompt (100 tokens) + max_tokens (29) = 129 exceeds the context length"},
      {"no chunking", 65, 4, false, absl::StatusCode::kInvalidArgument,
       "exceeds max_num_batched_tokens = 64 and chunked prefill is disabled"},
      {"no chunking fits", 64, 4, false, absl::StatusCode::kOk, ""},
  };
  for (const Case& c : table) {
    SchedulerConfig cfg = SmallConfig();
    cfg.enable_chunked_prefill = c.chunked;
    auto s = Make(cfg);
    absl::Status st = s->Add(Sequence::FromPrompt(1, Tokens(c.prompt_len, 1), c.max_tokens));
    EXPECT_EQ(st.code(), c.code) << c.name << ": " << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.message)) << c.name;
  }
  // Could never fit in the whole cache: 20 blocks of 4 hold 80 slots.
  SchedulerConfig cfg = SmallConfig();
  cfg.num_device_blocks = 20;
  auto s = Make(cfg);
  EXPECT_TRUE(s->Add(Sequence::FromPrompt(1, Tokens(60, 1), 21)).ok());  // 80 slots
  absl::Status st = s->Add(Sequence::FromPrompt(2, Tokens(60, 1), 22));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("needs 21 KV blocks (81 tokens of 4) but the whole cache has 20"));
  st = s->Add(Sequence::FromPrompt(1, Tokens(5, 1), 2));
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
}

TEST(Scheduler, WaitingQueueIsBounded) {
  SchedulerConfig cfg = SmallConfig();
  cfg.max_waiting_requests = 3;
  auto s = Make(cfg);
  for (SeqId id = 1; id <= 3; ++id)
    ASSERT_TRUE(s->Add(Sequence::FromPrompt(id, Tokens(8, id), 2)).ok());
  absl::Status full = s->Add(Sequence::FromPrompt(4, Tokens(8, 4), 2));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), HasSubstr("waiting queue is full (3 requests)"));
  EXPECT_EQ(s->Find(4), nullptr);
  FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  testing::Step(*s, runner, &done);  // admits all three
  EXPECT_EQ(s->Stats().num_waiting, 0);
  EXPECT_TRUE(s->Add(Sequence::FromPrompt(4, Tokens(8, 4), 2)).ok());
  RunUntilIdle(*s, runner, &done);
  EXPECT_EQ(done.size(), 4u);
  ExpectNoLeaks(*s);
}

// Per-step composition under max_num_seqs = 3 and max_num_batched_tokens = 8: decodes
// first, then continuing prefill chunks, then admissions in arrival order.
TEST(Scheduler, BudgetsAndDecodeFirstOrdering) {
  SchedulerConfig cfg = SmallConfig();
  cfg.max_num_seqs = 3;
  cfg.max_num_batched_tokens = 8;
  auto s = Make(cfg);
  const int32_t prompts[] = {5, 6, 3, 2};  // ids 1..4, 3 tokens each
  for (SeqId id = 1; id <= 4; ++id) {
    ASSERT_TRUE(s->Add(Sequence::FromPrompt(id, Tokens(prompts[id - 1], id), 3)).ok());
  }
  const std::vector<std::vector<Entry>> expected = {
      {{1, 0, 5, true}, {2, 0, 3, false}},                  // budget 8 used up
      {{1, 5, 1, true}, {2, 3, 3, true}, {3, 0, 3, true}},  // decode, chunk, admit; 3 seqs
      {{1, 6, 1, true}, {2, 6, 1, true}, {3, 3, 1, true}},  // max_num_seqs: 4 waits; 1 done
      {{2, 7, 1, true}, {3, 4, 1, true}, {4, 0, 2, true}},  // 2 and 3 done
      {{4, 2, 1, true}},
      {{4, 3, 1, true}},
  };
  FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  for (size_t i = 0; i < expected.size(); ++i) {
    SchedulerStep step = testing::Step(*s, runner, &done);
    EXPECT_EQ(View(step), expected[i]) << "step " << i;
    EXPECT_LE(step.num_batched_tokens, cfg.max_num_batched_tokens);
  }
  ASSERT_EQ(done.size(), 4u);
  for (SeqId id = 1; id <= 4; ++id) {
    EXPECT_EQ(done[id].reason, FinishReason::kLength);
    EXPECT_EQ(done[id].output_token_ids, RunAlone(id, Tokens(prompts[id - 1], id), 3)) << id;
  }
  ExpectNoLeaks(*s);
}

// 8 decoding sequences and a 4,000-token prompt: every step carries all 8 decodes and a
// chunk of the prompt, until the prompt's last chunk samples.
TEST(Scheduler, ChunkedPrefillKeepsDecodesPaced) {
  struct Case {
    int32_t threshold;  // long_prefill_token_threshold
    int32_t chunk;      // expected chunk size
  };
  for (const Case& c : {Case{0, 504}, Case{256, 256}}) {
    SchedulerConfig cfg = SmallConfig();
    cfg.block_size = 16;
    cfg.max_num_seqs = 16;
    cfg.max_num_batched_tokens = 512;
    cfg.num_device_blocks = 400;
    cfg.max_model_len = 8192;
    cfg.long_prefill_token_threshold = c.threshold;
    auto s = Make(cfg);
    FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
    std::map<SeqId, FinishedSequence> done;
    for (SeqId id = 1; id <= 8; ++id) {
      ASSERT_TRUE(s->Add(Sequence::FromPrompt(id, Tokens(10, id), 100)).ok());
    }
    testing::Step(*s, runner, &done);  // 8 prefills of 10 tokens
    ASSERT_TRUE(s->Add(Sequence::FromPrompt(99, Tokens(4000, 99), 5)).ok());
    int32_t prefilled = 0;
    int steps = 0;
    while (prefilled < 4000) {
      SchedulerStep step = testing::Step(*s, runner, &done);
      ++steps;
      const int32_t n = std::min(c.chunk, 4000 - prefilled);
      std::vector<Entry> want;
      for (SeqId id = 1; id <= 8; ++id) want.push_back({id, 10 + steps - 1, 1, true});
      want.push_back({99, prefilled, n, prefilled + n == 4000});
      ASSERT_EQ(View(step), want) << "threshold " << c.threshold << " step " << steps;
      prefilled += n;
    }
    EXPECT_EQ(steps, (4000 + c.chunk - 1) / c.chunk);
    RunUntilIdle(*s, runner, &done);
    EXPECT_EQ(done[99].output_token_ids, RunAlone(99, Tokens(4000, 99), 5));
    EXPECT_EQ(done[3].output_token_ids, RunAlone(3, Tokens(10, 3), 100));
    ExpectNoLeaks(*s);
  }
}

TEST(Scheduler, LowerPriorityValueRunsFirstFcfsWithin) {
  SchedulerConfig cfg = SmallConfig();
  cfg.max_num_seqs = 1;
  auto s = Make(cfg);
  struct Req {
    SeqId id;
    int32_t priority;
  };
  const Req reqs[] = {{1, 2}, {2, 0}, {3, 1}, {4, 0}, {5, 2}, {6, 1}};
  for (const Req& r : reqs) {
    ASSERT_TRUE(s->Add(Sequence::FromPrompt(r.id, Tokens(6, r.id), 2, r.priority)).ok());
  }
  FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  std::vector<SeqId> first_scheduled;
  while (s->HasUnfinished()) {
    SchedulerStep step = testing::Step(*s, runner, &done);
    ASSERT_EQ(step.sequences.size(), 1u);
    if (step.sequences[0].start_position == 0) first_scheduled.push_back(step.sequences[0].id);
  }
  EXPECT_EQ(first_scheduled, (std::vector<SeqId>{2, 4, 3, 6, 1, 5}));
  ExpectNoLeaks(*s);
}

TEST(Scheduler, StopTokenFinishesAndFinishFromEngine) {
  auto s = Make(SmallConfig());
  const std::vector<int32_t> alone = RunAlone(1, Tokens(7, 1), 10);
  Sequence seq = Sequence::FromPrompt(1, Tokens(7, 1), 10);
  seq.stop_token_ids = {alone[2]};
  ASSERT_TRUE(s->Add(std::move(seq)).ok());
  ASSERT_TRUE(s->Add(Sequence::FromPrompt(2, Tokens(7, 2), 10)).ok());
  FakeRunner runner(64, 0, 4);
  std::map<SeqId, FinishedSequence> done;
  for (int i = 0; i < 3; ++i) testing::Step(*s, runner, &done);
  ASSERT_TRUE(done.contains(1));
  EXPECT_EQ(done[1].reason, FinishReason::kStop);
  EXPECT_EQ(done[1].output_token_ids, std::vector<int32_t>(alone.begin(), alone.begin() + 3));
  // A stop string seen by the engine.
  absl::StatusOr<FinishedSequence> f = s->Finish(2, FinishReason::kStop);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->output_token_ids.size(), 3u);
  EXPECT_EQ(s->Finish(2, FinishReason::kStop).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->Finish(7, FinishReason::kNone).status().code(), absl::StatusCode::kInvalidArgument);
  ExpectNoLeaks(*s);
}

TEST(Scheduler, AbortAnytimeFreesBlocks) {
  SchedulerConfig cfg = SmallConfig();
  cfg.max_num_seqs = 2;
  auto s = Make(cfg);
  for (SeqId id = 1; id <= 4; ++id) {
    ASSERT_TRUE(s->Add(Sequence::FromPrompt(id, Tokens(9, id), 20)).ok());
  }
  FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  testing::Step(*s, runner, &done);  // 1, 2 running; 3, 4 waiting
  const int32_t free_before = s->Stats().num_free_device_blocks;
  EXPECT_TRUE(s->Abort(1));  // running: its 3 blocks come back at once
  EXPECT_EQ(s->Stats().num_free_device_blocks, free_before + 3);
  EXPECT_TRUE(s->Abort(4));    // waiting
  EXPECT_FALSE(s->Abort(1));   // already finished
  EXPECT_FALSE(s->Abort(42));  // never known
  EXPECT_EQ(s->Stats().num_running, 1);
  EXPECT_EQ(s->Stats().num_waiting, 1);

  // Abort between Schedule() and Update(): Update skips it.
  SchedulerStep step = s->Schedule();
  ASSERT_EQ(View(step), (std::vector<Entry>{{2, 9, 1, true}, {3, 0, 9, true}}));
  std::vector<int32_t> sampled = runner.Execute(step);
  EXPECT_TRUE(s->Abort(3));
  absl::StatusOr<std::vector<FinishedSequence>> fin = s->Update(step, sampled);
  ASSERT_TRUE(fin.ok()) << fin.status();
  EXPECT_EQ(s->Find(2)->num_output_tokens(), 2);
  EXPECT_EQ(s->Update(step, {}).status().code(), absl::StatusCode::kInvalidArgument);
  RunUntilIdle(*s, runner, &done);
  EXPECT_EQ(done[2].output_token_ids, RunAlone(2, Tokens(9, 2), 20));
  EXPECT_FALSE(s->Abort(2));
  ExpectNoLeaks(*s);
}

TEST(Scheduler, SharedPrefixIsServedFromCache) {
  SchedulerConfig cfg = SmallConfig();
  cfg.block_size = 16;
  cfg.max_model_len = 1024;
  cfg.max_num_batched_tokens = 1024;
  cfg.num_device_blocks = 100;
  auto s = Make(cfg);
  FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  const std::vector<int32_t> system = Tokens(512, 7);
  std::vector<int32_t> a = system, b = system;
  for (int32_t t : Tokens(10, 1)) a.push_back(t);
  for (int32_t t : Tokens(20, 2)) b.push_back(t);
  ASSERT_TRUE(s->Add(Sequence::FromPrompt(1, a, 4)).ok());
  RunUntilIdle(*s, runner, &done);
  ASSERT_TRUE(s->Add(Sequence::FromPrompt(2, b, 4)).ok());
  SchedulerStep step = testing::Step(*s, runner, &done);
  EXPECT_EQ(View(step), (std::vector<Entry>{{2, 512, 20, true}}));  // 32 blocks reused
  RunUntilIdle(*s, runner, &done);
  EXPECT_EQ(done[2].output_token_ids, RunAlone(2, b, 4));
  const SchedulerStats st = s->Stats();
  EXPECT_EQ(st.prefix_cache_query_tokens, 522 + 532);
  EXPECT_EQ(st.prefix_cache_hit_tokens, 512);
  ExpectNoLeaks(*s);
}

TEST(Scheduler, StatsReportUsageAndSlotWaste) {
  SchedulerConfig cfg = SmallConfig();  // blocks of 4, 64 blocks
  auto s = Make(cfg);
  ASSERT_TRUE(s->Add(Sequence::FromPrompt(1, Tokens(5, 1), 8)).ok());   // 2 blocks, 5 slots
  ASSERT_TRUE(s->Add(Sequence::FromPrompt(2, Tokens(12, 2), 8)).ok());  // 3 blocks, 12 slots
  ASSERT_TRUE(s->Add(Sequence::FromPrompt(3, Tokens(12, 3), 8)).ok());
  FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  testing::Step(*s, runner, &done);
  SchedulerStats st = s->Stats();
  EXPECT_EQ(st.num_running, 3);
  EXPECT_DOUBLE_EQ(st.kv_usage, 8.0 / 64.0);
  EXPECT_DOUBLE_EQ(st.kv_slot_waste, (32.0 - 29.0) / 32.0);
  EXPECT_TRUE(s->Abort(1));
  EXPECT_TRUE(s->Abort(2));
  EXPECT_TRUE(s->Abort(3));
  ExpectNoLeaks(*s);
}

}  // namespace
}  // namespace hearth::scheduler

namespace hearth::scheduler {
namespace {

using ::hearth::scheduler::testing::FakeRunner;
using ::hearth::scheduler::testing::RunAlone;
using ::hearth::scheduler::testing::Tokens;

// n = 3 parallel samples: two forks share the parent's blocks, including its partly filled
// last block, which is copied on first write. Each continues as it would alone.
TEST(Scheduler, ForkSharesPromptBlocksAndCopiesOnWrite) {
  SchedulerConfig cfg;
  cfg.block_size = 4;
  cfg.num_device_blocks = 32;
  cfg.max_model_len = 64;
  auto s = std::move(Scheduler::Create(cfg)).value();
  const std::vector<int32_t> prompt = Tokens(10, 5);  // blocks: 4 + 4 + 2 (partial)
  ASSERT_TRUE(s->Add(Sequence::FromPrompt(1, prompt, 6)).ok());
  FakeRunner runner(cfg.num_device_blocks, 0, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  testing::Step(*s, runner, &done);  // prefill, first sample
  const int32_t used_before = s->kv_cache().Usage().device.num_used;
  const int32_t samples[] = {900, 901};
  ASSERT_TRUE(s->Fork(1, 101, samples[0]).ok());
  ASSERT_TRUE(s->Fork(1, 102, samples[1]).ok());
  EXPECT_EQ(s->kv_cache().Usage().device.num_used, used_before);  // all shared
  EXPECT_EQ(s->Fork(1, 102, 5).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s->Fork(7, 103, 5).code(), absl::StatusCode::kNotFound);

  SchedulerStep step = testing::Step(*s, runner, &done);
  ASSERT_EQ(step.sequences.size(), 3u);
  EXPECT_EQ(step.copies.size(), 2u);  // the last writer owns the original block
  for (const auto& [src, dst] : step.copies) EXPECT_EQ(src, step.sequences[2].block_table[2]);
  for (int i = 0; i < 2; ++i) {  // the full prompt blocks stay shared
    EXPECT_EQ(step.sequences[0].block_table[i], step.sequences[1].block_table[i]);
    EXPECT_EQ(step.sequences[0].block_table[i], step.sequences[2].block_table[i]);
  }
  testing::RunUntilIdle(*s, runner, &done);
  const std::vector<int32_t> parent = RunAlone(1, prompt, 6);
  EXPECT_EQ(done[1].output_token_ids, parent);
  for (int i = 0; i < 2; ++i) {
    std::vector<int32_t> ctx = prompt;
    ctx.push_back(samples[i]);
    std::vector<int32_t> want = {samples[i]};
    for (int32_t t : RunAlone(101 + i, ctx, 5)) want.push_back(t);
    EXPECT_EQ(done[101 + i].output_token_ids, want) << "child " << 101 + i;
  }
  testing::ExpectNoLeaks(*s);
}

}  // namespace
}  // namespace hearth::scheduler
