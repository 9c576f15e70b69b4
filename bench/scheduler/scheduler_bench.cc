// Cost of the scheduler's bookkeeping per engine step (Schedule + Update), with no model:
// the "sampled" token is a cheap function of the step. This is the CPU time the engine loop
// spends outside the forward pass.
//
//   BM_DecodeStep/N:   N sequences all decoding (steady state), 1 token each per step.
//   BM_MixedPressure:  64 requests (prompts 100..600 tokens, 64..192 new tokens) through a
//                      cache that holds about a quarter of them, chunked prefill, swap and
//                      recompute preemption; reports steps and preemptions per run.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "scheduler/scheduler.h"

namespace hearth::scheduler {
namespace {

std::vector<int32_t> Prompt(int32_t n, uint32_t seed) {
  std::vector<int32_t> v(n);
  for (auto& t : v) {
    seed = seed * 1664525u + 1013904223u;
    t = static_cast<int32_t>(seed >> 16) % 49152;
  }
  return v;
}

std::vector<int32_t> FakeSample(const SchedulerStep& step) {
  std::vector<int32_t> out;
  for (const auto& s : step.sequences) {
    if (s.sample) out.push_back(static_cast<int32_t>((s.id * 31 + s.context_len) % 49152));
  }
  return out;
}

void BM_DecodeStep(benchmark::State& state) {
  const int32_t n = static_cast<int32_t>(state.range(0));
  SchedulerConfig cfg;
  cfg.max_num_seqs = n;
  cfg.max_num_batched_tokens = 8192;
  cfg.num_device_blocks = n * 80;  // room for ~1,280 tokens each
  cfg.max_model_len = 4096;
  auto s = std::move(Scheduler::Create(cfg)).value();
  for (int32_t i = 0; i < n; ++i) {
    Sequence seq = Sequence::FromPrompt(i, Prompt(200, i), 1000);
    (void)s->Add(std::move(seq));
  }
  // Prefill everyone first.
  while (true) {
    SchedulerStep step = s->Schedule();
    (void)s->Update(step, FakeSample(step));
    if (step.num_batched_tokens == n) break;
  }
  int64_t tokens = 0;
  for (auto _ : state) {
    SchedulerStep step = s->Schedule();
    std::vector<int32_t> sampled = FakeSample(step);
    auto fin = s->Update(step, sampled);
    benchmark::DoNotOptimize(fin);
    tokens += step.num_batched_tokens;
    if (!s->HasUnfinished()) state.SkipWithError("ran out of sequences");
  }
  state.counters["tokens/s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeStep)->Arg(16)->Arg(64)->Arg(256)->Iterations(500);

void BM_MixedPressure(benchmark::State& state) {
  int64_t steps = 0, preemptions = 0;
  for (auto _ : state) {
    SchedulerConfig cfg;
    cfg.max_num_seqs = 32;
    cfg.max_num_batched_tokens = 1024;
    cfg.num_device_blocks = 16 * 50;  // 800 blocks = 12,800 tokens
    cfg.num_host_blocks = 400;
    cfg.max_model_len = 2048;
    cfg.swap_min_tokens = 256;
    auto s = std::move(Scheduler::Create(cfg)).value();
    for (int32_t i = 0; i < 64; ++i) {
      (void)s->Add(
          Sequence::FromPrompt(i, Prompt(100 + (i * 97) % 500, i), 64 + (i * 53) % 128, i % 3));
    }
    while (s->HasUnfinished()) {
      SchedulerStep step = s->Schedule();
      (void)s->Update(step, FakeSample(step));
      ++steps;
    }
    const SchedulerStats st = s->Stats();
    preemptions += st.num_preemptions_recompute + st.num_preemptions_swap;
  }
  state.counters["steps/run"] = double(steps) / state.iterations();
  state.counters["preemptions/run"] = double(preemptions) / state.iterations();
  state.counters["us/step"] =
      benchmark::Counter(double(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_MixedPressure)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hearth::scheduler

BENCHMARK_MAIN();
