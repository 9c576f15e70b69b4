// Cost of one Sampler::Sample call at a real vocabulary size (SmolLM2: 49152; Llama 3: 128256).
//   build-samp/bench/sampler/sampler_bench
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/sampler/sampler.h"

namespace hearth::sampler {
namespace {

// Peaked like a language model's output (a head of ~10 tokens holding most of the mass over a
// N(0, 2.5) tail), or flat (the tail alone: a nucleus of thousands of tokens, the worst case).
std::vector<float> Logits(int vocab, bool flat) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::vector<float> out(vocab);
  for (float& v : out) v = normal(rng);
  if (!flat) {
    for (int i = 0; i < 10; ++i) out[(i * 7919) % vocab] = 20.0f - i;
  }
  return out;
}

enum Mode { kGreedy, kPlain, kTopP, kTopKTopP, kMinP, kPenaltiesTopP, kLogprobs };

void BM_Sample(benchmark::State& bench) {
  const int vocab = static_cast<int>(bench.range(0));
  const Mode mode = static_cast<Mode>(bench.range(1));
  const std::vector<float> logits = Logits(vocab, bench.range(2) != 0);
  SamplingParams p;
  p.seed = 1;
  p.max_tokens = std::nullopt;
  std::vector<int32_t> prompt;
  switch (mode) {
    case kGreedy:
      p.temperature = 0.0f;
      break;
    case kPlain:
      break;
    case kTopP:
      p.top_p = 0.9f;
      break;
    case kTopKTopP:
      p.top_k = 50;
      p.top_p = 0.9f;
      break;
    case kMinP:
      p.min_p = 0.05f;
      break;
    case kPenaltiesTopP:
      p.top_p = 0.9f;
      p.repetition_penalty = 1.1f;
      p.presence_penalty = 0.5f;
      p.frequency_penalty = 0.5f;
      for (int i = 0; i < 1000; ++i) prompt.push_back((i * 104729) % vocab);
      break;
    case kLogprobs:
      p.top_p = 0.9f;
      p.logprobs = 5;
      break;
  }
  SamplerState state = *SamplerState::Create(p, prompt, {});
  Sampler sampler;
  for (auto _ : bench) {
    benchmark::DoNotOptimize(sampler.Sample(logits.data(), vocab, state)->id);
  }
  bench.SetItemsProcessed(bench.iterations());
}

const char* const kNames[] = {"greedy",
                              "T=1",
                              "top_p=.9",
                              "top_k=50+top_p=.9",
                              "min_p=.05",
                              "penalties+top_p=.9",
                              "top_p=.9+logprobs=5"};

void Args(benchmark::internal::Benchmark* b) {
  for (int vocab : {49152, 128256}) {
    for (int mode = kGreedy; mode <= kLogprobs; ++mode) b->Args({vocab, mode, 0});
  }
  b->Args({49152, kTopP, 1});
  b->Args({49152, kTopKTopP, 1});
  b->ArgNames({"vocab", "mode", "flat"});
}

BENCHMARK(BM_Sample)->Apply(Args)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hearth::sampler

BENCHMARK_MAIN();
