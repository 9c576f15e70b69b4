#include "engine/sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/sampler/constraint_mask.h"
#include "engine/sampler/fast_exp.h"
#include "engine/sampler/penalties.h"
#include "engine/sampler/philox.h"

namespace hearth::sampler {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Orders by logit descending, then id ascending: the one total order every filter uses.
struct MoreLikely {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
};

}  // namespace

absl::Status Sampler::Prepare(const float* logits, int32_t vocab, const SamplerState& state) {
  if (logits == nullptr || vocab <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler: need logits and vocab > 0, got vocab ", vocab));
  }
  work_.assign(logits, logits + vocab);
  ApplyPenalties(state, absl::MakeSpan(work_));
  SuppressStopTokens(state, absl::MakeSpan(work_));
  ApplyConstraintMask(state, absl::MakeSpan(work_));

  int32_t best = -1;
  float best_logit = -kInf;
  for (int32_t i = 0; i < vocab; ++i) {
    const float v = work_[i];
    if (!(v < kInf)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampler: logit ", i, " is ", v, " (NaN or +inf)"));
    }
    if (v > best_logit) {
      best_logit = v;
      best = i;
    }
  }
  if (best < 0) {
    return absl::FailedPreconditionError(
        "sampler: every token is masked (-inf) after min_tokens suppression");
  }
  argmax_ = best;
  max_logit_ = best_logit;
  return absl::OkStatus();
}

size_t Sampler::TopPPrefix(size_t n, double total, float top_p) {
  Candidate* c = candidates_.data();
  const double target = static_cast<double>(top_p) * total;
  double cumulative = 0.0;
  size_t done = 0;
  size_t chunk = 64;
  while (done < n) {
    const size_t end = std::min(n, done + chunk);
    // [done, end) becomes the next (end - done) most likely tokens, in order.
    if (end < n) std::nth_element(c + done, c + end, c + n, MoreLikely());
    std::sort(c + done, c + end, MoreLikely());
    for (size_t i = done; i < end; ++i) {
      cumulative += c[i].weight;
      if (cumulative >= target) return i + 1;
    }
    done = end;
    chunk *= 2;
  }
  return n;
}

double Sampler::BuildCandidates(const SamplingParams& params, size_t* n_out) {
  const size_t vocab = work_.size();
  if (weights_.size() < vocab) weights_.resize(vocab);
  const float inv_t = 1.0f / params.temperature;
  // [vocab] weights in id order; masked (-inf) tokens get 0.
  double total = ExpShifted(work_.data(), vocab, max_logit_, inv_t, weights_.data());
  if (params.top_k <= 0 && params.top_p >= 1.0f && params.min_p <= 0.0f) {
    *n_out = 0;  // No filter: draw straight from weights_ in id order.
    return total;
  }

  if (candidates_.size() < vocab) candidates_.resize(vocab);
  Candidate* c = candidates_.data();
  size_t n = 0;
  for (size_t i = 0; i < vocab; ++i) {
    c[n] = {static_cast<int32_t>(i), work_[i], weights_[i]};
    n += work_[i] > -kInf ? 1 : 0;
  }
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < n) {
    std::nth_element(c, c + params.top_k, c + n, MoreLikely());
    n = static_cast<size_t>(params.top_k);
    total = 0.0;
    for (size_t i = 0; i < n; ++i) total += c[i].weight;
  }

  bool changed = false;
  if (params.top_p < 1.0f) {
    const size_t kept = TopPPrefix(n, total, params.top_p);
    changed = kept != n;
    n = kept;
  }
  if (params.min_p > 0.0f) {
    // p_i >= min_p * p_max  <=>  weight_i >= min_p, since the max has weight 1 and survives.
    // In place and order-preserving (remove_if keeps the survivors' relative order).
    const float min_p = params.min_p;
    const size_t kept = static_cast<size_t>(
        std::remove_if(c, c + n, [min_p](const Candidate& x) { return x.weight < min_p; }) - c);
    changed = changed || kept != n;
    n = kept;
  }
  if (changed) {
    total = 0.0;
    for (size_t i = 0; i < n; ++i) total += c[i].weight;
  }
  *n_out = n;
  return total;
}

void Sampler::FillLogprobs(const float* logits, int32_t vocab, int32_t top_n, SampledToken* out) {
  float m = -kInf;
  for (int32_t i = 0; i < vocab; ++i) m = std::max(m, logits[i]);
  const double sum = SumExpShifted(logits, static_cast<size_t>(vocab), m);
  const double lse = static_cast<double>(m) + std::log(sum);
  out->logprob = static_cast<float>(static_cast<double>(logits[out->id]) - lse);

  out->top_logprobs.clear();
  if (top_n <= 0) return;
  // best[0, count): ids by logit descending; a later (higher) id never displaces an equal one.
  int32_t best[kMaxLogprobs];
  int32_t count = 0;
  for (int32_t i = 0; i < vocab; ++i) {
    const float v = logits[i];
    if (count == top_n && !(v > logits[best[count - 1]])) continue;
    int32_t pos = count < top_n ? count++ : top_n - 1;
    while (pos > 0 && v > logits[best[pos - 1]]) {
      best[pos] = best[pos - 1];
      --pos;
    }
    best[pos] = i;
  }
  for (int32_t j = 0; j < count; ++j) {
    out->top_logprobs.push_back(
        {best[j], static_cast<float>(static_cast<double>(logits[best[j]]) - lse)});
  }
}

int32_t Sampler::Draw(const Candidate* c, size_t n, double target) const {
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += c[i].weight;
    if (cumulative > target) return c[i].id;
  }
  // Rounding left the target past the sum: take the last candidate with weight.
  for (size_t i = n; i > 0; --i) {
    if (c[i - 1].weight > 0.0f) return c[i - 1].id;
  }
  return argmax_;
}

int32_t Sampler::DrawUnfiltered(double target) const {
  double cumulative = 0.0;
  const size_t vocab = work_.size();
  for (size_t i = 0; i < vocab; ++i) {
    cumulative += weights_[i];
    if (cumulative > target) return static_cast<int32_t>(i);
  }
  for (size_t i = vocab; i > 0; --i) {
    if (weights_[i - 1] > 0.0f) return static_cast<int32_t>(i - 1);
  }
  return argmax_;
}

absl::StatusOr<SampledToken> Sampler::Sample(const float* logits, int32_t vocab,
                                             SamplerState& state) {
  RETURN_IF_ERROR(Prepare(logits, vocab, state));
  const SamplingParams& params = state.params();
  SampledToken out;
  if (params.greedy()) {
    out.id = argmax_;
  } else {
    size_t n = 0;
    const double total = BuildCandidates(params, &n);
    const double u = UniformDraw(state.seed(), static_cast<uint64_t>(state.sample_index()),
                                 static_cast<uint64_t>(state.num_output_tokens()));
    out.id = n > 0 ? Draw(candidates_.data(), n, u * total) : DrawUnfiltered(u * total);
  }
  if (params.logprobs.has_value()) FillLogprobs(logits, vocab, *params.logprobs, &out);
  state.AppendOutput(out.id);
  return out;
}

absl::Status Sampler::Distribution(const float* logits, int32_t vocab, const SamplerState& state,
                                   std::vector<TokenProb>* out) {
  RETURN_IF_ERROR(Prepare(logits, vocab, state));
  out->clear();
  if (state.params().greedy()) {
    out->push_back({argmax_, 1.0f});
    return absl::OkStatus();
  }
  size_t n = 0;
  const double total = BuildCandidates(state.params(), &n);
  if (n == 0) {  // Unfiltered: every token with weight, in id order.
    for (size_t i = 0; i < work_.size(); ++i) {
      if (weights_[i] > 0.0f) {
        out->push_back({static_cast<int32_t>(i), static_cast<float>(weights_[i] / total)});
      }
    }
    return absl::OkStatus();
  }
  out->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out->push_back({candidates_[i].id, static_cast<float>(candidates_[i].weight / total)});
  }
  return absl::OkStatus();
}

}  // namespace hearth::sampler
