// The sampler under a constraint: masked tokens are never drawn, allowed tokens keep their
// exact weights (so the constrained distribution is the unconstrained one renormalized over
// the allowed set), stop ids only where the constraint accepts, a dead end ends with EOS and
// kConstraintUnmet, and the incompatible sampling fields are rejected.
#include "engine/sampler/constraint_mask.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/constraint/constraint_compiler.h"
#include "engine/sampler/sampler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::sampler {
namespace {

using constraint::ConstraintSpec;

// Tokens: 0 "a", 1 "b", 2 "ab", 3 "c", 4 "{", 5 "}", 6 EOS (no bytes), 7 "x".
constexpr int32_t kEos = 6;
constexpr int kVocab = 8;

std::shared_ptr<const constraint::CompiledConstraint> Compile(ConstraintSpec spec) {
  static auto* compiler = new constraint::ConstraintCompiler(
      constraint::TokenVocabulary::Create({"a", "b", "ab", "c", "{", "}", "", "x"}));
  auto c = compiler->Compile(spec);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

SamplerState State(SamplingParams p) {
  auto s = SamplerState::Create(p, {}, {kEos});
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

TEST(ConstraintMaskTest, MasksDisallowedKeepsAllowedExact) {
  SamplingParams p;
  p.constraint = Compile({ConstraintSpec::Kind::kRegex, "(a|b)+c", {}});
  SamplerState s = State(p);
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f};
  std::vector<float> x = logits;
  ApplyConstraintMask(s, absl::MakeSpan(x));
  const float ninf = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(x, (std::vector<float>{1.0f, 2.0f, 3.0f, ninf, ninf, ninf, ninf, ninf}));
  s.AppendOutput(0);  // "a": now c (and EOS? no: not accepting) may follow
  x = logits;
  ApplyConstraintMask(s, absl::MakeSpan(x));
  EXPECT_EQ(x, (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f, ninf, ninf, ninf, ninf}));
  s.AppendOutput(3);  // "ac": complete; only EOS
  x = logits;
  ApplyConstraintMask(s, absl::MakeSpan(x));
  EXPECT_EQ(x, (std::vector<float>{ninf, ninf, ninf, ninf, ninf, ninf, 7.0f, ninf}));
}

TEST(ConstraintMaskTest, DistributionIsRenormalizedOverAllowed) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.constraint = Compile({ConstraintSpec::Kind::kChoice, "", {"a", "b", "x"}});
  SamplerState s = State(p);
  std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, 3.0f, 4.0f, 0.25f};
  Sampler sampler;
  std::vector<TokenProb> dist;
  ASSERT_TRUE(sampler.Distribution(logits.data(), kVocab, s, &dist).ok());
  double z = 0;
  for (int t : {0, 1, 7}) z += std::exp(logits[t] / 0.7);
  ASSERT_EQ(dist.size(), 3u);
  for (const TokenProb& tp : dist) {
    EXPECT_NEAR(tp.prob, std::exp(logits[tp.id] / 0.7) / z, 1e-6) << tp.id;
  }
}

TEST(ConstraintMaskTest, SeededDrawsNeverLeaveTheConstraint) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.max_tokens = 8;
  p.constraint = Compile({ConstraintSpec::Kind::kRegex, "\\{(ab|a|b){1,3}\\}", {}});
  Sampler sampler;
  const std::vector<float> flat(kVocab, 0.0f);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    p.seed = seed;
    SamplerState s = State(p);
    std::string text;
    for (int step = 0; step < 8; ++step) {
      auto tok = sampler.Sample(flat.data(), kVocab, s);
      ASSERT_TRUE(tok.ok()) << tok.status();
      if (tok->id == kEos) break;
      text += std::vector<std::string>{"a", "b", "ab", "c", "{", "}", "", "x"}[tok->id];
    }
    EXPECT_THAT(text, ::testing::MatchesRegex("\\{[ab]{1,6}\\}")) << seed;
    const FinishInfo done = s.CheckConstraint(FinishInfo{StopCause::kEos, kEos, ""});
    EXPECT_EQ(done.cause, StopCause::kEos) << seed;
  }
}

TEST(ConstraintMaskTest, IncompleteOutputsAreReportedUnmet) {
  SamplingParams p;
  p.constraint = Compile({ConstraintSpec::Kind::kRegex, "abc", {}});
  SamplerState s = State(p);
  s.AppendOutput(2);  // "ab"
  EXPECT_EQ(s.CheckConstraint(FinishInfo{StopCause::kMaxTokens, -1, ""}).cause,
            StopCause::kConstraintUnmet);
  EXPECT_EQ(s.CheckConstraint(FinishInfo{StopCause::kAbort, -1, ""}).cause, StopCause::kAbort);
  s.AppendOutput(3);  // "abc"
  EXPECT_EQ(s.CheckConstraint(FinishInfo{StopCause::kMaxTokens, -1, ""}).cause,
            StopCause::kMaxTokens);
  EXPECT_EQ(ReasonOf(StopCause::kConstraintUnmet), FinishReason::kConstraintUnmet);
  EXPECT_EQ(FinishReasonName(FinishReason::kConstraintUnmet), "constraint_unmet");
}

TEST(ConstraintMaskTest, DeadEndForcesEosAndUnmet) {
  SamplingParams p;
  p.constraint = Compile({ConstraintSpec::Kind::kRegex, "ab", {}});
  SamplerState s = State(p);
  s.AppendOutput(7);  // "x": not allowed (a caller appended it directly): the matcher is dead
  std::vector<float> logits(kVocab, 1.0f);
  Sampler sampler;
  auto tok = sampler.Sample(logits.data(), kVocab, s);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->id, kEos);
  EXPECT_EQ(s.CheckConstraint(FinishInfo{StopCause::kEos, kEos, ""}).cause,
            StopCause::kConstraintUnmet);
}

TEST(ConstraintMaskTest, GreedyEqualsUnconstrainedWhenAllowed) {
  SamplingParams free;
  free.temperature = 0.0f;
  SamplingParams constrained = free;
  constrained.constraint = Compile({ConstraintSpec::Kind::kRegex, "[abc{}]*", {}});
  Sampler sampler;
  SamplerState a = State(free), b = State(constrained);
  const std::vector<std::vector<float>> steps = {
      {0, 0, 5, 1, 0, 0, 0, 0}, {3, 0, 1, 1, 0, 0, 0, 0}, {0, 0, 1, 0, 4, 0, 0, 0}};
  for (const auto& logits : steps) {
    auto x = sampler.Sample(logits.data(), kVocab, a);
    auto y = sampler.Sample(logits.data(), kVocab, b);
    ASSERT_TRUE(x.ok() && y.ok());
    EXPECT_EQ(x->id, y->id);
  }
}

TEST(ConstraintMaskTest, IncompatibleFieldsAreRejected) {
  SamplingParams p;
  p.constraint = Compile({ConstraintSpec::Kind::kJsonObject, "", {}});
  EXPECT_TRUE(p.Validate().ok());
  SamplingParams q = p;
  q.ignore_eos = true;
  EXPECT_THAT(std::string(q.Validate().message()), ::testing::HasSubstr("ignore_eos"));
  q = p;
  q.min_tokens = 1;
  EXPECT_THAT(std::string(q.Validate().message()), ::testing::HasSubstr("min_tokens"));
  q = p;
  q.stop = {"}"};
  EXPECT_THAT(std::string(q.Validate().message()), ::testing::HasSubstr("stop strings"));
}

}  // namespace
}  // namespace hearth::sampler
