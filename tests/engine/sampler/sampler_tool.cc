// A tiny driver for test_sampler_numpy.py: reads sampling cases on stdin, prints what the
// sampler computes, so NumPy can check it independently. Per case (whitespace separated):
//   vocab temperature top_k top_p min_p repetition presence frequency min_tokens seed logprobs
//   n_prompt ids...  n_output ids...  n_eos ids...  n_stop ids...  logits[vocab]
// Prints per case two lines:
//   D <count> (<id> <prob>)*                    the distribution Sample draws from, draw order
//   S <id> <logprob> <count> (<id> <logprob>)*  one seeded Sample at step n_output
#include <cstdio>
#include <iostream>
#include <vector>

#include "engine/sampler/sampler.h"

namespace {

std::vector<int32_t> ReadIds(std::istream& in) {
  size_t n = 0;
  in >> n;
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) in >> id;
  return ids;
}

}  // namespace

int main() {
  using namespace hearth::sampler;
  Sampler sampler;
  std::vector<TokenProb> dist;
  int32_t vocab = 0;
  while (std::cin >> vocab) {
    SamplingParams p;
    uint64_t seed = 0;
    int32_t logprobs = 0;
    std::cin >> p.temperature >> p.top_k >> p.top_p >> p.min_p >> p.repetition_penalty >>
        p.presence_penalty >> p.frequency_penalty >> p.min_tokens >> seed >> logprobs;
    p.seed = seed;
    p.logprobs = logprobs;
    p.max_tokens = std::nullopt;
    const std::vector<int32_t> prompt = ReadIds(std::cin);
    const std::vector<int32_t> output = ReadIds(std::cin);
    const std::vector<int32_t> eos = ReadIds(std::cin);
    p.stop_token_ids = ReadIds(std::cin);
    std::vector<float> logits(vocab);
    for (float& v : logits) std::cin >> v;
    if (!std::cin) {
      std::fprintf(stderr, "malformed case\n");
      return 2;
    }

    absl::StatusOr<SamplerState> state = SamplerState::Create(p, prompt, eos);
    if (!state.ok()) {
      std::fprintf(stderr, "%s\n", state.status().ToString().c_str());
      return 1;
    }
    for (int32_t t : output) state->AppendOutput(t);

    if (absl::Status s = sampler.Distribution(logits.data(), vocab, *state, &dist); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("D %zu", dist.size());
    for (const TokenProb& t : dist) std::printf(" %d %.9g", t.id, t.prob);
    std::printf("\n");

    absl::StatusOr<SampledToken> t = sampler.Sample(logits.data(), vocab, *state);
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
      return 1;
    }
    std::printf("S %d %.9g %zu", t->id, t->logprob, t->top_logprobs.size());
    for (const TokenLogprob& lp : t->top_logprobs) std::printf(" %d %.9g", lp.id, lp.logprob);
    std::printf("\n");
  }
  return 0;
}
