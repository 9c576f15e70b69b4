#include "engine/sampler/sampling_params.h"

#include <functional>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::sampler {
namespace {

using ::testing::HasSubstr;

TEST(SamplingParamsTest, DefaultsAreValidAndNotGreedy) {
  SamplingParams p;
  EXPECT_TRUE(p.Validate().ok());
  EXPECT_FALSE(p.greedy());
  EXPECT_EQ(p.n, 1);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.repetition_penalty, 1.0f);
  EXPECT_FALSE(p.seed.has_value());
  EXPECT_FALSE(p.logprobs.has_value());
}

struct BadCase {
  const char* name;
  std::function<void(SamplingParams&)> mutate;
  const char* field;  // Expected in the message.
};

TEST(SamplingParamsTest, RejectsEachBadFieldByName) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const BadCase cases[] = {
      {"n0", [](SamplingParams& p) { p.n = 0; }, "n "},
      {"temp<0", [](SamplingParams& p) { p.temperature = -0.1f; }, "temperature"},
      {"temp nan", [=](SamplingParams& p) { p.temperature = nan; }, "temperature"},
      {"temp inf", [=](SamplingParams& p) { p.temperature = inf; }, "temperature"},
      {"top_k -2", [](SamplingParams& p) { p.top_k = -2; }, "top_k"},
      {"top_p 0", [](SamplingParams& p) { p.top_p = 0.0f; }, "top_p"},
      {"top_p >1", [](SamplingParams& p) { p.top_p = 1.01f; }, "top_p"},
      {"top_p nan", [=](SamplingParams& p) { p.top_p = nan; }, "top_p"},
      {"min_p <0", [](SamplingParams& p) { p.min_p = -0.01f; }, "min_p"},
      {"min_p >1", [](SamplingParams& p) { p.min_p = 1.5f; }, "min_p"},
      {"rep 0", [](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty"},
      {"rep -1", [](SamplingParams& p) { p.repetition_penalty = -1.0f; }, "repetition_penalty"},
      {"presence", [](SamplingParams& p) { p.presence_penalty = 2.5f; }, "presence_penalty"},
      {"frequency", [](SamplingParams& p) { p.frequency_penalty = -2.01f; }, "frequency_penalty"},
      {"max_tokens 0", [](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens"},
      {"min_tokens <0", [](SamplingParams& p) { p.min_tokens = -1; }, "min_tokens"},
      {"min>max",
       [](SamplingParams& p) {
         p.max_tokens = 4;
         p.min_tokens = 5;
       },
       "min_tokens"},
      {"empty stop",
       [](SamplingParams& p) {
         p.stop = {"a", ""};
       },
       "stop"},
      {"stop id <0",
       [](SamplingParams& p) {
         p.stop_token_ids = {3, -1};
       },
       "stop_token_ids"},
      {"logprobs 21", [](SamplingParams& p) { p.logprobs = 21; }, "logprobs"},
      {"logprobs -1", [](SamplingParams& p) { p.logprobs = -1; }, "logprobs"},
  };
  for (const BadCase& c : cases) {
    SamplingParams p;
    c.mutate(p);
    const absl::Status s = p.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.field)) << c.name;
  }
}

TEST(SamplingParamsTest, AcceptsBoundaryValues) {
  const std::function<void(SamplingParams&)> cases[] = {
      [](SamplingParams& p) { p.temperature = 0.0f; },
      [](SamplingParams& p) { p.top_k = -1; },
      [](SamplingParams& p) { p.top_k = 1; },
      [](SamplingParams& p) { p.top_p = 1.0f; },
      [](SamplingParams& p) { p.min_p = 1.0f; },
      [](SamplingParams& p) { p.presence_penalty = -2.0f; },
      [](SamplingParams& p) { p.frequency_penalty = 2.0f; },
      [](SamplingParams& p) {
        p.max_tokens = std::nullopt;
        p.min_tokens = 1000;
      },
      [](SamplingParams& p) { p.logprobs = 0; },
      [](SamplingParams& p) { p.logprobs = kMaxLogprobs; },
  };
  for (const auto& mutate : cases) {
    SamplingParams p;
    mutate(p);
    EXPECT_TRUE(p.Validate().ok()) << p.Validate();
  }
}

}  // namespace
}  // namespace hearth::sampler
