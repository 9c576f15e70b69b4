// Turns one row of logits into one token for one request, vLLM-style:
//
//   raw logits ──copy──▶ repetition / presence / frequency penalties ──▶ min_tokens suppression
//     ──▶ constraint mask (structured output, constraint_mask.h) ──▶ temperature == 0 ? argmax
//     (ties -> lowest id, no draw)
//       : /temperature ──▶ top-k ──▶ top-p (after top-k) ──▶ min-p ──▶ one draw u in [0, 1)
//
// The draw is UniformDraw(seed, sample_index, step) with step = the request's output count, so a
// seeded request is bitwise reproducible however the batch around it is composed. Logprobs are of
// the raw model distribution (log_softmax of the logits as given, before any processing).
//
// Cost per call at vocabulary V: a copy, a max pass, one vectorized exp pass (temperature > 0),
// nth_element for top-k, and for top-p a partial sort that only orders the prefix it needs
// (chunks of 64, 128, ...). Buffers are reused across calls; no allocation once warmed up.
//
// Thread-safety: a Sampler is a scratch workspace, not thread-safe; use one per thread. Results
// do not depend on which Sampler instance (or thread) runs a request.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/sampler/sampler_state.h"
#include "engine/sampler/sampling_params.h"

namespace hearth::sampler {

struct TokenLogprob {
  int32_t id = -1;
  float logprob = 0.0f;
  bool operator==(const TokenLogprob&) const = default;
};

struct SampledToken {
  int32_t id = -1;
  // Raw-distribution logprob of `id`; 0 unless params.logprobs is set.
  float logprob = 0.0f;
  // params.logprobs most likely tokens of the raw distribution, by logprob descending (ties ->
  // lowest id); empty unless params.logprobs > 0. Inline storage: no heap allocation.
  absl::InlinedVector<TokenLogprob, kMaxLogprobs> top_logprobs;
};

struct TokenProb {
  int32_t id = -1;
  float prob = 0.0f;
};

class Sampler {
 public:
  Sampler() = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Samples the next output token of `state` from `logits` ([vocab]) and records it in `state`
  // (AppendOutput). Errors: InvalidArgument for vocab <= 0, a null pointer or a NaN logit;
  // FailedPrecondition when every token is -inf after suppression. On error `state` is unchanged.
  absl::StatusOr<SampledToken> Sample(const float* logits, int32_t vocab, SamplerState& state);

  // The distribution Sample would draw from now, without drawing or recording: the surviving
  // tokens in draw order with probabilities summing to 1. Greedy: {argmax, 1}. Same errors as
  // Sample. `out` is overwritten.
  absl::Status Distribution(const float* logits, int32_t vocab, const SamplerState& state,
                            std::vector<TokenProb>* out);

 private:
  struct Candidate {
    int32_t id;
    float logit;   // After penalties, before temperature.
    float weight;  // exp((logit - max_logit) / temperature); the max has weight 1.
  };

  // Copies `logits` into work_, applies penalties and suppression, finds the argmax.
  absl::Status Prepare(const float* logits, int32_t vocab, const SamplerState& state);
  // Fills weights_ ([vocab], id order) and, when a filter is on, candidates_[0, *n) with the
  // survivors of top-k / top-p / min-p in draw order; returns the survivors' total weight.
  // *n == 0 means no filter: draw from weights_ in id order. REQUIRES: Prepare succeeded,
  // temperature > 0.
  double BuildCandidates(const SamplingParams& params, size_t* n);
  // Keeps the shortest prefix of candidates_[0, n) by (logit desc, id asc) whose weight reaches
  // top_p * total; orders that prefix. Returns its length.
  size_t TopPPrefix(size_t n, double total, float top_p);
  // The first candidate whose cumulative weight exceeds `target` (u * total).
  int32_t Draw(const Candidate* c, size_t n, double target) const;
  int32_t DrawUnfiltered(double target) const;
  void FillLogprobs(const float* logits, int32_t vocab, int32_t top_n, SampledToken* out);

  std::vector<float> work_;            // [vocab] processed logits.
  std::vector<float> weights_;         // [vocab] exp((work_ - max) / temperature).
  std::vector<Candidate> candidates_;  // Capacity [vocab]; the live prefix is returned.
  int32_t argmax_ = -1;
  float max_logit_ = 0.0f;
};

}  // namespace hearth::sampler
