// The matcher and the vocabulary mask: the trie walk's mask equals a brute-force check of
// every token from the same state, along random walks through several grammars; cached masks
// are reused across matchers; stop / dead states.
#include "engine/constraint/matcher.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/constraint/constraint_compiler.h"
#include "gtest/gtest.h"
#include "tests/engine/constraint/constraint_test_util.h"

namespace hearth::constraint {
namespace {

using testing::ByteVocabulary;

// Multi-byte tokens that cross grammar boundaries, as BPE tokens do.
const std::vector<std::string> kExtraTokens = {
    "{\"", "\":",  "\",",  "\"}",  "side", "buy",  "sell", " \"", "\": \"", "0.",
    "25",  "},",   "true", "null", "é",    "日本", "ab",   "abc", "abd",    "\n  ",
    "   ", "\"\"", "ü\"",  "\xC3", "\xA9", "1e",   "-1",   "[]",  "[{",     "}]"};

std::vector<ConstraintSpec> Specs() {
  return {
      {ConstraintSpec::Kind::kJsonSchema,
       R"({"type":"object","properties":{"side":{"enum":["buy","sell"]},"size":{"type":"number"},
           "tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":3}},
           "required":["side","size"]})",
       {}},
      {ConstraintSpec::Kind::kJsonObject, "", {}},
      {ConstraintSpec::Kind::kRegex, "(ab|abc|日本)+[0-9]{1,3}", {}},
      {ConstraintSpec::Kind::kGrammar,
       "root ::= \"[\" (v (\",\" v)*)? \"]\"\nv ::= \"true\" | \"null\" | root",
       {}},
      {ConstraintSpec::Kind::kChoice, "", {"buy", "sell", "hold on"}},
  };
}

TEST(MatcherTest, MaskEqualsBruteForceAlongRandomWalks) {
  auto vocab = ByteVocabulary(kExtraTokens);
  ConstraintCompiler compiler(vocab);
  std::mt19937 rng(7);
  for (const ConstraintSpec& spec : Specs()) {
    auto compiled = compiler.Compile(spec);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    for (int walk = 0; walk < 20; ++walk) {
      Matcher m(*compiled);
      for (int step = 0; step < 40 && m.CanContinue(); ++step) {
        const TokenMask& mask = m.Mask();
        std::vector<int32_t> allowed;
        for (int32_t t = 0; t < vocab->size(); ++t) {
          Matcher probe = m;
          const bool ok = !vocab->bytes(t).empty() && probe.Advance(t);
          ASSERT_EQ(mask.Allowed(t), ok) << KindName(spec.kind) << " token " << t << " '"
                                         << vocab->bytes(t) << "' step " << step;
          if (ok) allowed.push_back(t);
        }
        EXPECT_EQ(mask.num_allowed, static_cast<int32_t>(allowed.size()));
        ASSERT_FALSE(allowed.empty());
        ASSERT_TRUE(m.Advance(allowed[rng() % allowed.size()]));
      }
    }
  }
}

TEST(MatcherTest, AcceptingStopAndDead) {
  auto vocab = ByteVocabulary(kExtraTokens);
  ConstraintCompiler compiler(vocab);
  auto c = compiler.Compile({ConstraintSpec::Kind::kChoice, "", {"ab", "abc"}});
  ASSERT_TRUE(c.ok());
  Matcher m(*c);
  EXPECT_FALSE(m.Accepting());
  ASSERT_TRUE(m.Advance('a'));
  EXPECT_FALSE(m.Accepting());
  ASSERT_TRUE(m.Advance('b'));
  EXPECT_TRUE(m.Accepting());
  EXPECT_TRUE(m.CanContinue());  // "abc" is still possible
  Matcher stopped = m;
  stopped.Stop();
  EXPECT_TRUE(stopped.stopped());
  EXPECT_FALSE(stopped.dead());
  EXPECT_EQ(stopped.Mask().num_allowed, 0);
  ASSERT_TRUE(m.Advance('c'));
  EXPECT_TRUE(m.Accepting());
  EXPECT_FALSE(m.CanContinue());
  EXPECT_EQ(m.Mask().num_allowed, 0);
  EXPECT_FALSE(m.Advance('c'));
  EXPECT_TRUE(m.dead());
  EXPECT_FALSE(m.Accepting());

  Matcher early(*c);
  ASSERT_TRUE(early.Advance('a'));
  early.Stop();  // before the grammar accepts: the output is incomplete
  EXPECT_TRUE(early.dead());

  Matcher special(*c);
  EXPECT_FALSE(special.Advance(vocab->size() - 1));  // the byte-less (special) token
  EXPECT_TRUE(special.dead());
}

TEST(MatcherTest, MasksAreCachedPerStateAcrossMatchers) {
  auto vocab = ByteVocabulary(kExtraTokens);
  ConstraintCompiler compiler(vocab);
  const ConstraintSpec spec{
      ConstraintSpec::Kind::kJsonSchema,
      R"({"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]})",
      {}};
  auto c = compiler.Compile(spec);
  ASSERT_TRUE(c.ok());
  auto again = compiler.Compile(spec);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(c->get(), again->get());  // compiled once, by text
  EXPECT_EQ(compiler.cache_hits(), 1);

  const std::string text = "{\"reason\":\"abcabcabc";
  auto run = [&] {
    Matcher m(*c);
    for (char ch : text) {
      m.Mask();
      ASSERT_TRUE(m.Advance(static_cast<uint8_t>(ch)));
    }
  };
  run();
  const auto first = (*c)->stats();
  // Inside the string every character leads back to the same state: one miss for it.
  EXPECT_LT(first.mask_misses, static_cast<int64_t>(text.size()));
  run();
  const auto second = (*c)->stats();
  EXPECT_EQ(second.mask_misses, first.mask_misses);
  EXPECT_EQ(second.mask_hits, first.mask_hits + static_cast<int64_t>(text.size()));
}

TEST(TokenVocabularyTest, SortedWithCommonPrefixes) {
  auto v = TokenVocabulary::Create({"b", "ab", "", "abc", "a"});
  ASSERT_EQ(v->sorted().size(), 4u);
  EXPECT_EQ(v->sorted(), (std::vector<int32_t>{4, 1, 3, 0}));
  EXPECT_EQ(v->lcp(), (std::vector<uint16_t>{0, 1, 2, 0}));
  EXPECT_EQ(v->max_token_bytes(), 3u);
}

}  // namespace
}  // namespace hearth::constraint
