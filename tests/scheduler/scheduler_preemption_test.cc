// Scheduler under memory pressure: who is preempted, recompute vs swap, and that every
// request still finishes with the outputs it has when run alone.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scheduler/preemption_policy.h"
#include "scheduler/scheduler.h"
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

std::unique_ptr<Scheduler> Make(const SchedulerConfig& c) {
  absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Create(c);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

TEST(PreemptionPolicy, ChoosesByModeSpaceAndLength) {
  struct Case {
    PreemptionMode mode;
    VictimInfo victim;
    PreemptionKind expect;
  };
  const Case table[] = {
      {PreemptionMode::kRecompute, {1000, 4, 100, false}, PreemptionKind::kRecompute},
      {PreemptionMode::kSwap, {10, 4, 100, false}, PreemptionKind::kSwap},
      {PreemptionMode::kSwap, {10, 4, 3, false}, PreemptionKind::kRecompute},      // no space
      {PreemptionMode::kSwap, {10, 4, 100, true}, PreemptionKind::kRecompute},     // planned
      {PreemptionMode::kAuto, {255, 16, 100, false}, PreemptionKind::kRecompute},  // short
      {PreemptionMode::kAuto, {256, 16, 100, false}, PreemptionKind::kSwap},       // long
      {PreemptionMode::kAuto, {256, 16, 15, false}, PreemptionKind::kRecompute},
  };
  for (const Case& c : table) {
    SchedulerConfig cfg;
    cfg.preemption_mode = c.mode;
    cfg.swap_min_tokens = 256;
    EXPECT_EQ(ChoosePreemption(cfg, c.victim), c.expect)
        << int(c.mode) << " computed " << c.victim.num_computed_tokens;
  }
}

// 4 blocks of 4 tokens; four 4-token prompts fill them. Their first decodes each need a new
// block, so the lowest-priority, most recently admitted sequences make room.
TEST(Scheduler, PreemptsLowestPriorityMostRecentFirst) {
  struct Case {
    std::string name;
    PreemptionMode mode;
    int32_t host_blocks;
    std::vector<Entry> step3, step4;  // after the preemption step
    size_t swap_in_pairs;
  };
  const Case table[] = {
      // Recompute: 2 and 3 wait again and re-prefill prompt + first output (5 tokens); the
      // new request 5 has priority 0, so it is admitted before them.
      {"recompute",
       PreemptionMode::kRecompute,
       0,
       {{5, 0, 6, true}, {2, 0, 5, true}},
       {{5, 6, 1, true}, {3, 0, 5, true}},
       0},
      // Swap: they resume at their decode, before any new admission (even priority 0).
      {"swap", PreemptionMode::kSwap, 8, {{2, 4, 1, true}, {3, 4, 1, true}}, {{5, 0, 6, true}}, 2},
  };
  for (const Case& c : table) {
    SchedulerConfig cfg;
    cfg.block_size = 4;
    cfg.num_device_blocks = 4;
    cfg.num_host_blocks = c.host_blocks;
    cfg.max_num_batched_tokens = 64;
    cfg.max_model_len = 16;
    cfg.preemption_mode = c.mode;
    auto s = Make(cfg);
    const int32_t priority[] = {0, 1, 1, 0};  // ids 1..4
    for (SeqId id = 1; id <= 4; ++id) {
      ASSERT_TRUE(s->Add(Sequence::FromPrompt(id, Tokens(4, id), 2, priority[id - 1])).ok());
    }
    FakeRunner runner(cfg.num_device_blocks, cfg.num_host_blocks, cfg.block_size);
    std::map<SeqId, FinishedSequence> done;
    SchedulerStep step = testing::Step(*s, runner, &done);
    EXPECT_EQ(View(step), (std::vector<Entry>{
                              {1, 0, 4, true}, {4, 0, 4, true}, {2, 0, 4, true}, {3, 0, 4, true}}))
        << c.name;
    step = testing::Step(*s, runner, &done);
    EXPECT_EQ(View(step), (std::vector<Entry>{{1, 4, 1, true}, {4, 4, 1, true}})) << c.name;
    EXPECT_EQ(step.preempted, (std::vector<SeqId>{3, 2})) << c.name;
    EXPECT_EQ(step.swap_out.size(), c.host_blocks > 0 ? 2u : 0u) << c.name;
    EXPECT_TRUE(done.contains(1) && done.contains(4)) << c.name;

    ASSERT_TRUE(s->Add(Sequence::FromPrompt(5, Tokens(6, 5), 2, /*priority=*/0)).ok());
    step = testing::Step(*s, runner, &done);
    EXPECT_EQ(View(step), c.step3) << c.name;
    EXPECT_EQ(step.swap_in.size(), c.swap_in_pairs) << c.name;
    step = testing::Step(*s, runner, &done);
    EXPECT_EQ(View(step), c.step4) << c.name;
    RunUntilIdle(*s, runner, &done);
    for (SeqId id = 1; id <= 4; ++id) {
      EXPECT_EQ(done[id].output_token_ids, RunAlone(id, Tokens(4, id), 2)) << c.name << id;
    }
    const SchedulerStats st = s->Stats();
    EXPECT_EQ(st.num_preemptions_recompute + st.num_preemptions_swap, 2) << c.name;
    EXPECT_EQ(st.num_preemptions_swap, c.host_blocks > 0 ? 2 : 0) << c.name;
    ExpectNoLeaks(*s);
  }
}

TEST(Scheduler, AbortSwappedSequenceFreesHostBlocks) {
  SchedulerConfig cfg;
  cfg.block_size = 4;
  cfg.num_device_blocks = 4;
  cfg.num_host_blocks = 8;
  cfg.max_model_len = 16;
  cfg.preemption_mode = PreemptionMode::kSwap;
  auto s = Make(cfg);
  for (SeqId id = 1; id <= 4; ++id) {
    ASSERT_TRUE(s->Add(Sequence::FromPrompt(id, Tokens(4, id), 3)).ok());
  }
  FakeRunner runner(cfg.num_device_blocks, cfg.num_host_blocks, cfg.block_size);
  std::map<SeqId, FinishedSequence> done;
  testing::Step(*s, runner, &done);
  SchedulerStep step = testing::Step(*s, runner, &done);  // 1, 2 decode; 4, 3 swapped out
  EXPECT_EQ(step.preempted, (std::vector<SeqId>{4, 3}));
  EXPECT_EQ(s->Stats().num_swapped, 2);
  EXPECT_EQ(s->kv_cache().Usage().num_host_used, 2);
  EXPECT_TRUE(s->Abort(4));
  EXPECT_FALSE(s->Abort(4));
  EXPECT_EQ(s->Stats().num_swapped, 1);
  EXPECT_EQ(s->kv_cache().Usage().num_host_used, 1);
  RunUntilIdle(*s, runner, &done);
  for (SeqId id = 1; id <= 3; ++id) {
    EXPECT_EQ(done[id].output_token_ids, RunAlone(id, Tokens(4, id), 3)) << id;
  }
  EXPECT_FALSE(done.contains(4));
  ExpectNoLeaks(*s);
}

// 40 requests against a cache that holds about 3 of them: whatever the preemption mode,
// all finish with the outputs they have alone, and every block comes back.
TEST(Scheduler, FortyRequestsUnderMemoryPressureMatchRunningAlone) {
  struct Case {
    std::string name;
    PreemptionMode mode;
    int32_t host_blocks;
    bool expect_recompute, expect_swap;
  };
  const Case table[] = {
      {"recompute", PreemptionMode::kRecompute, 0, true, false},
      {"swap", PreemptionMode::kSwap, 64, false, true},
      {"auto", PreemptionMode::kAuto, 24, true, true},
  };
  for (const Case& c : table) {
    SchedulerConfig cfg;
    cfg.block_size = 16;
    cfg.num_device_blocks = 27;  // a request needs <= 9 blocks (prompt <= 80, max_tokens <= 60)
    cfg.num_host_blocks = c.host_blocks;
    cfg.max_num_seqs = 8;
    cfg.max_num_batched_tokens = 96;
    cfg.max_model_len = 256;
    cfg.max_waiting_requests = 64;
    cfg.preemption_mode = c.mode;
    cfg.swap_min_tokens = 64;
    auto s = Make(cfg);
    struct Req {
      std::vector<int32_t> prompt;
      int32_t max_tokens;
      int32_t priority;
    };
    std::map<SeqId, Req> reqs;
    const std::vector<int32_t> system = Tokens(32, 1234);  // every third shares a prefix
    for (SeqId id = 1; id <= 40; ++id) {
      Req r;
      r.prompt = id % 3 == 0 ? system : std::vector<int32_t>{};
      for (int32_t t : Tokens(20 + (id * 37) % 45, id)) r.prompt.push_back(t);
      r.max_tokens = 20 + (id * 13) % 41;
      r.priority = id % 4 == 0 ? 0 : 1;
      ASSERT_TRUE(s->Add(Sequence::FromPrompt(id, r.prompt, r.max_tokens, r.priority)).ok());
      reqs[id] = std::move(r);
    }
    FakeRunner runner(cfg.num_device_blocks, cfg.num_host_blocks, cfg.block_size);
    std::map<SeqId, FinishedSequence> done;
    const int steps = RunUntilIdle(*s, runner, &done, 20000);
    ASSERT_EQ(done.size(), 40u) << c.name;
    for (const auto& [id, r] : reqs) {
      EXPECT_EQ(done[id].reason, FinishReason::kLength) << c.name << " " << id;
      EXPECT_EQ(done[id].output_token_ids, RunAlone(id, r.prompt, r.max_tokens))
          << c.name << " " << id;
    }
    const SchedulerStats st = s->Stats();
    EXPECT_EQ(st.num_preemptions_recompute > 0, c.expect_recompute) << c.name;
    EXPECT_EQ(st.num_preemptions_swap > 0, c.expect_swap) << c.name;
    EXPECT_GT(st.prefix_cache_hit_tokens, 0) << c.name;
    std::printf("[%s] steps %d, preemptions recompute %lld swap %lld, prefix hits %lld / %lld\n",
                c.name.c_str(), steps, static_cast<long long>(st.num_preemptions_recompute),
                static_cast<long long>(st.num_preemptions_swap),
                static_cast<long long>(st.prefix_cache_hit_tokens),
                static_cast<long long>(st.prefix_cache_query_tokens));
    ExpectNoLeaks(*s);
  }
}

}  // namespace
}  // namespace hearth::scheduler
