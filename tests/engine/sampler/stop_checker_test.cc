#include "engine/sampler/stop_checker.h"

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hearth::sampler {
namespace {

struct Step {
  int32_t token;
  std::string delta;
  std::string emitted;  // Expected text released by this step.
};

struct Case {
  const char* name;
  SamplingParams params;
  std::vector<Step> steps;
  // Expected finish, reached exactly at the last step; nullopt: still running after it.
  std::optional<FinishInfo> finish;
  std::vector<int32_t> eos = {2};
  int64_t prompt_tokens = 0;
  std::optional<int64_t> max_model_len;
};

SamplingParams Params(std::vector<std::string> stop, bool include = false) {
  SamplingParams p;
  p.max_tokens = std::nullopt;
  p.stop = std::move(stop);
  p.include_stop_str_in_output = include;
  return p;
}

FinishInfo StopString(std::string s) { return {StopCause::kStopString, -1, std::move(s)}; }
FinishInfo Token(StopCause cause, int32_t id) { return {cause, id, ""}; }
FinishInfo Length(StopCause cause) { return {cause, -1, ""}; }

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"stop string split across deltas",
                   Params({"END"}),
                   {{5, "ab", "ab"}, {5, "cE", "c"}, {5, "N", ""}, {5, "D!", ""}},
                   StopString("END")});
  cases.push_back({"include stop string: nothing held, text after it dropped",
                   Params({"END"}, true),
                   {{5, "ab", "ab"}, {5, "cE", "cE"}, {5, "N", "N"}, {5, "D!", "D"}},
                   StopString("END")});
  cases.push_back({"held text released when the match fails",
                   Params({"END"}),
                   {{5, "ab", "ab"}, {5, "cE", "c"}, {5, "N", ""}, {5, "x", "ENx"}},
                   std::nullopt});
  cases.push_back({"overlapping: the match that ends first wins",
                   Params({"abcd", "bc"}),
                   {{5, "a", ""}, {5, "b", ""}, {5, "c", "a"}},
                   StopString("bc")});
  cases.push_back({"overlapping in one delta: ends first wins",
                   Params({"abcde", "cd"}),
                   {{5, "xabcdef", "xab"}},
                   StopString("cd")});
  cases.push_back({"same end: the longer one wins",
                   Params({"bc", "abc"}),
                   {{5, "xabcy", "x"}},
                   StopString("abc")});
  cases.push_back({"self-overlapping prefix",
                   Params({"aab"}),
                   {{5, "a", ""}, {5, "a", ""}, {5, "a", "a"}, {5, "b", ""}},
                   StopString("aab")});
  cases.push_back({"stop string inside one delta",
                   Params({"\n\n"}),
                   {{5, "Hello", "Hello"}, {5, " world\n\nNext", " world"}},
                   StopString("\n\n")});
  cases.push_back({"multibyte stop string across deltas",
                   Params({"你好"}),
                   {{5, "a你", "a"}, {5, "好b", ""}},
                   StopString("你好")});
  {
    SamplingParams p = Params({});
    p.stop_token_ids = {7};
    cases.push_back({"stop token id: its text dropped",
                     p,
                     {{5, "hi", "hi"}, {7, "<x>", ""}},
                     Token(StopCause::kStopToken, 7)});
    p.include_stop_str_in_output = true;
    cases.push_back({"stop token id, include: its text kept",
                     p,
                     {{5, "hi", "hi"}, {7, "<x>", "<x>"}},
                     Token(StopCause::kStopToken, 7)});
  }
  cases.push_back({"eos", Params({}), {{5, "a", "a"}, {2, "", ""}}, Token(StopCause::kEos, 2)});
  cases.push_back({"eos releases held text",
                   Params({"END"}),
                   {{5, "xE", "x"}, {2, "", "E"}},
                   Token(StopCause::kEos, 2)});
  {
    SamplingParams p = Params({});
    p.ignore_eos = true;
    p.max_tokens = 3;
    cases.push_back({"ignore_eos runs to max_tokens",
                     p,
                     {{2, "a", "a"}, {2, "b", "b"}, {2, "c", "c"}},
                     Length(StopCause::kMaxTokens)});
  }
  {
    SamplingParams p = Params({});
    p.min_tokens = 3;
    cases.push_back({"min_tokens ignores eos before it",
                     p,
                     {{2, "a", "a"}, {2, "b", "b"}, {2, "", ""}},
                     Token(StopCause::kEos, 2)});
    p.stop = {"x"};
    p.min_tokens = 2;
    cases.push_back({"min_tokens ignores stop strings before it",
                     p,
                     {{5, "x", "x"}, {5, "yx", "y"}},
                     StopString("x")});
  }
  {
    SamplingParams p = Params({"END"});
    p.max_tokens = 2;
    cases.push_back({"max_tokens: length, held text flushed",
                     p,
                     {{5, "a", "a"}, {5, "bE", "bE"}},
                     Length(StopCause::kMaxTokens)});
    cases.push_back({"stop string beats max_tokens on the same step",
                     p,
                     {{5, "a", "a"}, {5, "END", ""}},
                     StopString("END")});
  }
  {
    Case c{"context length",
           Params({}),
           {{5, "a", "a"}, {5, "b", "b"}},
           Length(StopCause::kContextLength)};
    c.prompt_tokens = 5;
    c.max_model_len = 7;
    cases.push_back(c);
  }
  return cases;
}

TEST(StopCheckerTest, Tables) {
  for (const Case& c : Cases()) {
    absl::StatusOr<StopChecker> checker =
        StopChecker::Create(c.params, c.eos, c.prompt_tokens, c.max_model_len);
    ASSERT_TRUE(checker.ok()) << c.name << ": " << checker.status();
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      const StopUpdate u = checker->Append(s.token, s.delta);
      EXPECT_EQ(u.text, s.emitted) << c.name << " step " << i;
      const bool last = i + 1 == c.steps.size();
      if (last && c.finish.has_value()) {
        ASSERT_TRUE(u.finish.has_value()) << c.name;
        EXPECT_EQ(*u.finish, *c.finish) << c.name;
      } else {
        EXPECT_FALSE(u.finish.has_value()) << c.name << " step " << i;
      }
    }
    EXPECT_EQ(checker->finished(), c.finish.has_value()) << c.name;
  }
}

TEST(StopCheckerTest, FinishReasonsMapToOpenAiNames) {
  EXPECT_EQ(FinishReasonName(ReasonOf(StopCause::kEos)), "stop");
  EXPECT_EQ(FinishReasonName(ReasonOf(StopCause::kStopToken)), "stop");
  EXPECT_EQ(FinishReasonName(ReasonOf(StopCause::kStopString)), "stop");
  EXPECT_EQ(FinishReasonName(ReasonOf(StopCause::kMaxTokens)), "length");
  EXPECT_EQ(FinishReasonName(ReasonOf(StopCause::kContextLength)), "length");
  EXPECT_EQ(FinishReasonName(ReasonOf(StopCause::kAbort)), "abort");
}

TEST(StopCheckerTest, AfterFinishAppendRepeatsTheFinish) {
  SamplingParams p = Params({"z"});
  StopChecker checker = *StopChecker::Create(p, {}, 0, std::nullopt);
  EXPECT_TRUE(checker.Append(5, "az").finish.has_value());
  const StopUpdate again = checker.Append(5, "more");
  EXPECT_EQ(again.text, "");
  ASSERT_TRUE(again.finish.has_value());
  EXPECT_EQ(again.finish->stop_string, "z");
  EXPECT_EQ(checker.num_output_tokens(), 1);
}

// The outcome does not depend on how the text is cut into deltas: every way of cutting a text
// (here: all 2^(n-1) cuts of a short text) emits the same total and finishes the same way.
TEST(StopCheckerTest, ResultIsIndependentOfDeltaBoundaries) {
  struct Whole {
    std::vector<std::string> stop;
    bool include;
    std::string text;
    std::string expected_output;
    std::string expected_stop;  // Empty: no stop.
  };
  const Whole cases[] = {
      {{"END"}, false, "abENcENDxy", "abENc", "END"},
      {{"END"}, true, "abENcENDxy", "abENcEND", "END"},
      {{"abcd", "bc", "cx"}, false, "zabcx", "za", "bc"},
      {{"aab", "ba"}, false, "aaaaab", "aaa", "aab"},
      {{"xyz"}, false, "xyxyxy", "xyxyxy", ""},
      {{"xyz", "yy"}, true, "xyxyyz", "xyxyy", "yy"},
  };
  for (const Whole& w : cases) {
    SamplingParams p = Params(w.stop, w.include);
    const size_t n = w.text.size();
    for (uint32_t cuts = 0; cuts < (1u << (n - 1)); ++cuts) {
      StopChecker checker = *StopChecker::Create(p, {}, 0, std::nullopt);
      std::string out;
      std::optional<FinishInfo> finish;
      size_t begin = 0;
      for (size_t i = 1; i <= n && !finish.has_value(); ++i) {
        if (i == n || (cuts >> (i - 1) & 1u)) {
          StopUpdate u = checker.Append(5, std::string_view(w.text).substr(begin, i - begin));
          out += u.text;
          finish = u.finish;
          begin = i;
        }
      }
      if (!finish.has_value()) out += w.text.substr(out.size(), checker.held_bytes());
      EXPECT_EQ(out, w.expected_output) << w.text << " cuts " << cuts;
      EXPECT_EQ(finish.has_value() ? finish->stop_string : "", w.expected_stop)
          << w.text << " cuts " << cuts;
    }
  }
}

TEST(StopCheckerTest, CreateValidates) {
  SamplingParams p;
  p.stop = {""};
  EXPECT_EQ(StopChecker::Create(p, {}, 0, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StopChecker::Create(SamplingParams(), {}, -1, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hearth::sampler
