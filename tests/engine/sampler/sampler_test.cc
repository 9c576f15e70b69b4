#include "engine/sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::sampler {
namespace {

SamplerState MakeState(const SamplingParams& params, std::vector<int32_t> prompt = {},
                       std::vector<int32_t> eos = {}, int32_t sample_index = 0) {
  absl::StatusOr<SamplerState> s = SamplerState::Create(params, prompt, eos, sample_index);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

std::vector<float> LogOf(std::vector<double> probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

// Deterministic pseudo-random logits (independent of the sampler's generator).
std::vector<float> TestLogits(int vocab, uint32_t salt) {
  std::vector<float> out(vocab);
  uint32_t x = 2463534242u ^ (salt * 2654435761u);
  for (float& v : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = static_cast<float>(x % 20000) / 2000.0f - 5.0f;
  }
  return out;
}

std::set<int32_t> Support(Sampler& sampler, const std::vector<float>& logits,
                          const SamplerState& state) {
  std::vector<TokenProb> dist;
  EXPECT_TRUE(sampler.Distribution(logits.data(), logits.size(), state, &dist).ok());
  std::set<int32_t> ids;
  for (const TokenProb& t : dist) ids.insert(t.id);
  return ids;
}

TEST(SamplerTest, GreedyPicksArgmaxLowestIdOnTies) {
  struct Case {
    std::vector<float> logits;
    int32_t expected;
  };
  const float ninf = -std::numeric_limits<float>::infinity();
  const Case cases[] = {
      {{0.0f, 1.0f, 3.0f, 2.0f}, 2},
      {{5.0f, 5.0f, 1.0f}, 0},
      {{1.0f, 7.0f, 2.0f, 7.0f, 7.0f}, 1},
      {{ninf, -3.0f, ninf}, 1},
      {{-1.0f}, 0},
  };
  Sampler sampler;
  for (const Case& c : cases) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.top_k = 1;  // Filters do not matter for greedy.
    p.min_p = 0.9f;
    SamplerState state = MakeState(p);
    absl::StatusOr<SampledToken> t = sampler.Sample(c.logits.data(), c.logits.size(), state);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->id, c.expected);
    EXPECT_EQ(state.num_output_tokens(), 1);
  }
}

TEST(SamplerTest, GreedyNeverDrawsSoSeedsDoNotMatter) {
  Sampler sampler;
  std::vector<int32_t> reference;
  for (uint64_t seed : {1ull, 2ull, 999ull}) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.seed = seed;
    p.max_tokens = std::nullopt;
    SamplerState state = MakeState(p);
    std::vector<int32_t> ids;
    for (int step = 0; step < 50; ++step) {
      const std::vector<float> logits = TestLogits(300, step);
      ids.push_back(sampler.Sample(logits.data(), logits.size(), state)->id);
      EXPECT_EQ(ids.back(), std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    if (reference.empty()) reference = ids;
    EXPECT_EQ(ids, reference);
  }
}

// Hand-computed supports. probs {0.4, 0.3, 0.2, 0.1} placed at ids {2, 0, 3, 1}.
TEST(SamplerTest, FilterSupportsMatchHandComputedTables) {
  const std::vector<float> logits = LogOf({0.3, 0.1, 0.4, 0.2});
  struct Case {
    const char* name;
    float temperature;
    int32_t top_k;
    float top_p;
    float min_p;
    std::set<int32_t> expected;
  };
  const Case cases[] = {
      {"none", 1.0f, 0, 1.0f, 0.0f, {0, 1, 2, 3}},
      {"top_k -1 off", 1.0f, -1, 1.0f, 0.0f, {0, 1, 2, 3}},
      {"top_k 1", 1.0f, 1, 1.0f, 0.0f, {2}},
      {"top_k 2", 1.0f, 2, 1.0f, 0.0f, {2, 0}},
      {"top_k 3", 1.0f, 3, 1.0f, 0.0f, {2, 0, 3}},
      {"top_k > vocab", 1.0f, 50, 1.0f, 0.0f, {0, 1, 2, 3}},
      {"top_p .3", 1.0f, 0, 0.3f, 0.0f, {2}},
      {"top_p .5", 1.0f, 0, 0.5f, 0.0f, {2, 0}},
      {"top_p .75", 1.0f, 0, 0.75f, 0.0f, {2, 0, 3}},
      {"top_p .95", 1.0f, 0, 0.95f, 0.0f, {0, 1, 2, 3}},
      // After top_k 3 the masses are .444 .333 .222: .75 is reached with two tokens.
      {"top_k 3 then top_p .75", 1.0f, 3, 0.75f, 0.0f, {2, 0}},
      // T = 0.5 squares the probabilities: .533 .3 .133 .033.
      {"T .5 top_p .8", 0.5f, 0, 0.8f, 0.0f, {2, 0}},
      {"T .5 top_p .9", 0.5f, 0, 0.9f, 0.0f, {2, 0, 3}},
      // min_p keeps p >= min_p * 0.4.
      {"min_p .6", 1.0f, 0, 1.0f, 0.6f, {2, 0}},
      {"min_p .3", 1.0f, 0, 1.0f, 0.3f, {2, 0, 3}},
      {"min_p .2", 1.0f, 0, 1.0f, 0.2f, {0, 1, 2, 3}},
      {"min_p 1", 1.0f, 0, 1.0f, 1.0f, {2}},
      // T = 2 flattens: p ∝ sqrt(p): max .632; min_p .6 keeps >= .379: .548 .447 survive.
      {"T 2 min_p .6", 2.0f, 0, 1.0f, 0.6f, {2, 0, 3}},
      {"top_p .95 and min_p .6", 1.0f, 0, 0.95f, 0.6f, {2, 0}},
  };
  Sampler sampler;
  for (const Case& c : cases) {
    SamplingParams p;
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    EXPECT_EQ(Support(sampler, logits, MakeState(p)), c.expected) << c.name;
  }
}

TEST(SamplerTest, TopKTiesKeepLowestIds) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, 3.0f, 0.0f};
  Sampler sampler;
  SamplingParams p;
  p.top_k = 2;
  EXPECT_EQ(Support(sampler, logits, MakeState(p)), (std::set<int32_t>{1, 3}));
}

TEST(SamplerTest, DistributionIsRenormalizedSoftmaxOfSurvivors) {
  const std::vector<float> logits = LogOf({0.3, 0.1, 0.4, 0.2});
  Sampler sampler;
  SamplingParams p;
  p.top_k = 3;
  std::vector<TokenProb> dist;
  ASSERT_TRUE(sampler.Distribution(logits.data(), 4, MakeState(p), &dist).ok());
  std::map<int32_t, double> got;
  for (const TokenProb& t : dist) got[t.id] = t.prob;
  EXPECT_NEAR(got[2], 0.4 / 0.9, 1e-6);
  EXPECT_NEAR(got[0], 0.3 / 0.9, 1e-6);
  EXPECT_NEAR(got[3], 0.2 / 0.9, 1e-6);
  EXPECT_EQ(got.size(), 3u);
}

// Pearson chi-square of `draws` seeded samples against softmax(logits / T) over the survivors.
double ChiSquare(const std::vector<float>& logits, const SamplingParams& p, int draws,
                 const std::vector<double>& expected_probs) {
  Sampler sampler;
  SamplerState state = MakeState(p);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    ++counts[sampler.Sample(logits.data(), logits.size(), state)->id];
  }
  double chi2 = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double e = expected_probs[i] * draws;
    if (e == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " is outside the support";
      continue;
    }
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi2;
}

std::vector<double> SoftmaxDouble(const std::vector<float>& logits, double t,
                                  const std::set<int32_t>& keep) {
  std::vector<double> p(logits.size(), 0.0);
  double sum = 0.0;
  for (int32_t i : keep) sum += (p[i] = std::exp(logits[i] / t));
  for (double& v : p) v /= sum;
  return p;
}

TEST(SamplerTest, SeededDrawsFollowTemperedSoftmaxChiSquare) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f};
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 20240607;
  p.max_tokens = std::nullopt;
  // df = 5; P(chi2 > 20.52) = 0.001. The seed is fixed, so this is deterministic.
  EXPECT_LT(ChiSquare(logits, p, 100000, SoftmaxDouble(logits, 0.8, {0, 1, 2, 3, 4, 5})), 20.52);
}

TEST(SamplerTest, SeededDrawsAfterFiltersFollowRenormalizedSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f};
  SamplingParams p;
  p.temperature = 1.3f;
  p.top_k = 4;  // {1, 4, 0, 2}
  p.seed = 7;
  p.max_tokens = std::nullopt;
  // df = 3; P(chi2 > 16.27) = 0.001.
  EXPECT_LT(ChiSquare(logits, p, 100000, SoftmaxDouble(logits, 1.3, {0, 1, 2, 4})), 16.27);
}

TEST(SamplerTest, ChiSquareDetectsAWrongTemperature) {
  // The test above can fail: the same draws judged against T = 1 instead of 0.8 are rejected.
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f};
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 20240607;
  p.max_tokens = std::nullopt;
  EXPECT_GT(ChiSquare(logits, p, 100000, SoftmaxDouble(logits, 1.0, {0, 1, 2, 3, 4, 5})), 100.0);
}

struct Trace {
  std::vector<int32_t> ids;
  std::vector<float> logprobs;
  bool operator==(const Trace&) const = default;
};

SamplingParams Seeded(uint64_t seed) {
  SamplingParams p;
  p.seed = seed;
  p.temperature = 1.1f;
  p.top_p = 0.9f;
  p.top_k = 40;
  p.logprobs = 2;
  p.max_tokens = std::nullopt;
  return p;
}

Trace RunAlone(const SamplingParams& p, int32_t sample_index, int steps) {
  Sampler sampler;
  SamplerState state = MakeState(p, {}, {}, sample_index);
  Trace trace;
  for (int step = 0; step < steps; ++step) {
    const std::vector<float> logits = TestLogits(1000, step);
    const SampledToken t = *sampler.Sample(logits.data(), logits.size(), state);
    trace.ids.push_back(t.id);
    trace.logprobs.push_back(t.logprob);
  }
  return trace;
}

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedsDiffer) {
  const Trace a = RunAlone(Seeded(1234), 0, 200);
  EXPECT_EQ(RunAlone(Seeded(1234), 0, 200), a);
  EXPECT_NE(RunAlone(Seeded(1235), 0, 200).ids, a.ids);
  SamplingParams two = Seeded(1234);
  two.n = 2;
  EXPECT_EQ(RunAlone(two, 0, 200), a);          // Sample 0 of n is the n = 1 stream.
  EXPECT_NE(RunAlone(two, 1, 200).ids, a.ids);  // Sample 1 has its own stream.
}

TEST(SamplerTest, InterleavingOtherRequestsDoesNotChangeASeededRequest) {
  const Trace alone = RunAlone(Seeded(77), 0, 200);

  // The same request shares one Sampler with three others, in a changing order, with other
  // vocabularies and parameters, some unseeded, some starting late.
  Sampler sampler;
  SamplerState target = MakeState(Seeded(77));
  SamplingParams other = Seeded(5);
  other.top_k = 0;
  other.min_p = 0.05f;
  SamplerState b = MakeState(other);
  SamplingParams unseeded;
  unseeded.max_tokens = std::nullopt;
  unseeded.presence_penalty = 0.5f;
  SamplerState c = MakeState(unseeded);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.max_tokens = std::nullopt;
  SamplerState d = MakeState(greedy);

  Trace mixed;
  for (int step = 0; step < 200; ++step) {
    const std::vector<float> other_logits = TestLogits(500 + step, 1000 + step);
    const int order = step % 3;
    if (order == 0) (void)sampler.Sample(other_logits.data(), other_logits.size(), b);
    if (order != 2) (void)sampler.Sample(other_logits.data(), 333, c);
    const std::vector<float> logits = TestLogits(1000, step);
    const SampledToken t = *sampler.Sample(logits.data(), logits.size(), target);
    mixed.ids.push_back(t.id);
    mixed.logprobs.push_back(t.logprob);
    if (order == 1) (void)sampler.Sample(other_logits.data(), other_logits.size(), b);
    if (step > 50) (void)sampler.Sample(other_logits.data(), other_logits.size(), d);
  }
  EXPECT_EQ(mixed, alone);  // Bitwise: ids and float logprobs.
}

TEST(SamplerTest, UnseededStatesGetDistinctSeeds) {
  SamplingParams p;
  EXPECT_NE(MakeState(p).seed(), MakeState(p).seed());
  p.seed = 31;
  EXPECT_EQ(MakeState(p).seed(), 31u);
}

TEST(SamplerTest, LogprobsAreRawLogSoftmaxWithSortedTopN) {
  std::vector<float> logits = TestLogits(2000, 3);
  logits[17] = logits[1500] = 9.0f;  // A tie at the top: lower id first.
  logits[900] = 8.5f;
  SamplingParams p;
  p.logprobs = 5;
  p.seed = 3;
  p.temperature = 0.7f;         // Logprobs ignore temperature ...
  p.repetition_penalty = 1.5f;  // ... and penalties.
  SamplerState state = MakeState(p, {17, 900});
  Sampler sampler;

  double m = -1e30;
  for (float v : logits) m = std::max<double>(m, v);
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - m);
  const double lse = m + std::log(sum);

  for (int step = 0; step < 20; ++step) {
    const SampledToken t = *sampler.Sample(logits.data(), logits.size(), state);
    EXPECT_NEAR(t.logprob, logits[t.id] - lse, 1e-5);
    ASSERT_EQ(t.top_logprobs.size(), 5u);
    std::vector<int32_t> order(logits.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    for (int j = 0; j < 5; ++j) {
      EXPECT_EQ(t.top_logprobs[j].id, order[j]) << j;
      EXPECT_NEAR(t.top_logprobs[j].logprob, logits[order[j]] - lse, 1e-5);
    }
    EXPECT_EQ(t.top_logprobs[0].id, 17);
    EXPECT_EQ(t.top_logprobs[1].id, 1500);
    EXPECT_EQ(t.top_logprobs[2].id, 900);
  }
}

TEST(SamplerTest, LogprobsZeroGivesOnlyTheChosenToken) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  SamplingParams p;
  p.logprobs = 0;
  p.temperature = 0.0f;
  SamplerState state = MakeState(p);
  Sampler sampler;
  const SampledToken t = *sampler.Sample(logits.data(), 3, state);
  EXPECT_TRUE(t.top_logprobs.empty());
  const double lse = std::log(std::exp(0.0) + std::exp(1.0) + std::exp(2.0));
  EXPECT_NEAR(t.logprob, 2.0 - lse, 1e-6);
}

TEST(SamplerTest, MinTokensSuppressesEosAndStopIdsUntilReached) {
  const std::vector<float> logits = {0.0f, 5.0f, 1.0f, 4.0f, 3.0f};  // argmax 1, then 3, 4.
  SamplingParams p;
  p.temperature = 0.0f;
  p.min_tokens = 2;
  p.stop_token_ids = {3};
  SamplerState state = MakeState(p, {}, /*eos=*/{1});
  Sampler sampler;
  EXPECT_EQ(sampler.Sample(logits.data(), 5, state)->id, 4);
  EXPECT_EQ(sampler.Sample(logits.data(), 5, state)->id, 4);
  EXPECT_EQ(sampler.Sample(logits.data(), 5, state)->id, 1);  // min_tokens reached.

  p.ignore_eos = true;  // EOS is then an ordinary token, never suppressed.
  SamplerState ignoring = MakeState(p, {}, {1});
  EXPECT_EQ(sampler.Sample(logits.data(), 5, ignoring)->id, 1);
}

TEST(SamplerTest, ReportsBadInputsWithoutTouchingState) {
  SamplingParams p;
  p.seed = 1;
  SamplerState state = MakeState(p);
  Sampler sampler;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> with_nan = {0.0f, nan, 1.0f};
  const std::vector<float> with_inf = {0.0f, inf};
  EXPECT_EQ(sampler.Sample(with_nan.data(), 3, state).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler.Sample(with_inf.data(), 2, state).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler.Sample(with_nan.data(), 0, state).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler.Sample(nullptr, 3, state).status().code(), absl::StatusCode::kInvalidArgument);

  SamplingParams q;
  q.min_tokens = 1;
  SamplerState only_eos = MakeState(q, {}, {0});
  const std::vector<float> one = {2.0f};
  EXPECT_EQ(sampler.Sample(one.data(), 1, only_eos).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(state.num_output_tokens(), 0);
  EXPECT_EQ(only_eos.num_output_tokens(), 0);
}

TEST(SamplerTest, StateCreationValidates) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_EQ(SamplerState::Create(p, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  SamplingParams q;
  EXPECT_EQ(SamplerState::Create(q, {}, {}, 1).status().code(),
            absl::StatusCode::kInvalidArgument);  // sample_index >= n.
}

}  // namespace
}  // namespace hearth::sampler
