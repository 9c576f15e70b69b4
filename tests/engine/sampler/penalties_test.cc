#include "engine/sampler/penalties.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace hearth::sampler {
namespace {

struct Case {
  const char* name;
  float repetition;
  float presence;
  float frequency;
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;
  std::vector<float> expected;
};

// logits = {2.0, -1.0, 0.5, 0.0, 3.0}; expected values computed by hand from the formulas in
// penalties.h (HF/vLLM repetition: divide positive, multiply negative; OpenAI presence/frequency).
TEST(PenaltiesTest, MatchHandComputedTables) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 0.0f, 3.0f};
  const Case cases[] = {
      {"off", 1.0f, 0.0f, 0.0f, {0, 1}, {2, 2, 4}, {2.0f, -1.0f, 0.5f, 0.0f, 3.0f}},
      // Seen = prompt {0, 1} + output {2, 4}.
      {"repetition 2", 2.0f, 0.0f, 0.0f, {0, 1}, {2, 2, 4}, {1.0f, -2.0f, 0.25f, 0.0f, 1.5f}},
      {"repetition .5", 0.5f, 0.0f, 0.0f, {0, 1}, {2, 2, 4}, {4.0f, -0.5f, 1.0f, 0.0f, 6.0f}},
      // Output counts: 2 -> 2, 4 -> 1. Prompt tokens are not penalized by presence/frequency.
      {"presence .5", 1.0f, 0.5f, 0.0f, {0, 1}, {2, 2, 4}, {2.0f, -1.0f, 0.0f, 0.0f, 2.5f}},
      {"frequency .25", 1.0f, 0.0f, 0.25f, {0, 1}, {2, 2, 4}, {2.0f, -1.0f, 0.0f, 0.0f, 2.75f}},
      {"negative presence", 1.0f, -1.0f, 0.0f, {}, {3}, {2.0f, -1.0f, 0.5f, 1.0f, 3.0f}},
      // Repetition first: 2 -> 0.25 - (2 * .25 + .5) = -0.75; 4 -> 1.5 - (.25 + .5) = 0.75.
      {"all", 2.0f, 0.5f, 0.25f, {0, 1}, {2, 2, 4}, {1.0f, -2.0f, -0.75f, 0.0f, 0.75f}},
      // Ids outside the vocabulary are ignored.
      {"out of vocab", 2.0f, 1.0f, 0.0f, {7}, {9}, {2.0f, -1.0f, 0.5f, 0.0f, 3.0f}},
  };
  for (const Case& c : cases) {
    SamplingParams p;
    p.repetition_penalty = c.repetition;
    p.presence_penalty = c.presence;
    p.frequency_penalty = c.frequency;
    absl::StatusOr<SamplerState> state = SamplerState::Create(p, c.prompt, {});
    ASSERT_TRUE(state.ok());
    for (int32_t t : c.output) state->AppendOutput(t);
    std::vector<float> got = logits;
    ApplyPenalties(*state, absl::MakeSpan(got));
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_FLOAT_EQ(got[i], c.expected[i]) << c.name << " token " << i;
    }
  }
}

TEST(PenaltiesTest, SuppressionMasksStopIdsOnlyBeforeMinTokens) {
  SamplingParams p;
  p.min_tokens = 2;
  p.stop_token_ids = {3, 9};  // 9 is outside the vocabulary: ignored.
  absl::StatusOr<SamplerState> state = SamplerState::Create(p, {}, /*eos=*/{0});
  ASSERT_TRUE(state.ok());
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 4.0f};
  for (int step = 0; step < 3; ++step) {
    std::vector<float> got = logits;
    SuppressStopTokens(*state, absl::MakeSpan(got));
    const std::vector<float> expected =
        step < 2 ? std::vector<float>{ninf, 2.0f, 3.0f, ninf} : logits;
    EXPECT_EQ(got, expected) << "step " << step;
    state->AppendOutput(1);
  }
}

}  // namespace
}  // namespace hearth::sampler
