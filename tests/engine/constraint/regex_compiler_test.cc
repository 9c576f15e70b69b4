// Regex -> grammar: accepted / rejected strings (fullmatch semantics), JSON-string mode, and
// malformed patterns with their offsets.
#include "engine/constraint/regex_compiler.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/constraint/constraint_test_util.h"

namespace hearth::constraint {
namespace {

using testing::Accepts;

struct Case {
  std::string pattern;
  std::vector<std::string> accept;
  std::vector<std::string> reject;
};

TEST(RegexCompilerTest, FullMatchLanguage) {
  const std::vector<Case> cases = {
      {"abc", {"abc"}, {"ab", "abcd", ""}},
      {"^a|b$", {"a", "b"}, {"ab", ""}},
      {"(buy|sell) [0-9]+", {"buy 1", "sell 250"}, {"buy", "hold 1", "buy 1a"}},
      {"[A-Z]{3}-\\d{2,4}", {"ABC-12", "XYZ-1234"}, {"AB-12", "ABC-1", "ABC-12345"}},
      {"a{,2}b", {"b", "ab", "aab"}, {"aaab"}},
      {"x{2,}", {"xx", "xxxxx"}, {"x"}},
      {"\\w+@\\w+\\.com", {"a_1@b.com"}, {"a@b.org", "@b.com"}},
      {"[^0-9]*", {"", "abc", "é日"}, {"a1"}},
      {".", {"a", "é", "日", "\t"}, {"\n", "ab", ""}},
      {"\\s?\\S", {" a", "b"}, {"  a", " "}},
      {"[\\d.]+", {"1.5", "..."}, {"1,5"}},
      {"(?:ab)+c?", {"ab", "ababc"}, {"abb", "c"}},
      {"(?P<year>\\d{4})-(?<m>\\d\\d)", {"2024-01"}, {"24-01"}},
      {"a.*?b", {"ab", "axxb"}, {"a"}},
      {"[-a]", {"-", "a"}, {"b"}},
      {"[]a]", {"]", "a"}, {"b"}},
      {"\\u00e9\\x41\\.", {"éA."}, {"éAx"}},
      {"{a}", {"{a}"}, {"a"}},
      {"(a|)*b", {"b", "aab"}, {"ba"}},
      {"(a*)*", {"", "aaa"}, {"b"}},
      {"[\\w-]+", {"a-b_c"}, {"a b"}},
      {"[^\\w]", {"-", " "}, {"a", "é"}},
  };
  for (const Case& c : cases) {
    auto g = RegexGrammar(c.pattern);
    ASSERT_TRUE(g.ok()) << c.pattern << ": " << g.status();
    for (const std::string& s : c.accept)
      EXPECT_TRUE(Accepts(*g, s)) << c.pattern << " should accept '" << s << "'";
    for (const std::string& s : c.reject)
      EXPECT_FALSE(Accepts(*g, s)) << c.pattern << " should reject '" << s << "'";
  }
}

TEST(RegexCompilerTest, JsonStringModeEscapes) {
  // The generated text is the inside of a JSON string whose decoded value matches.
  auto e = CompileRegex("a\"\\\\\\n[\\t]", {.json_string = true});
  ASSERT_TRUE(e.ok()) << e.status();
  GrammarBuilder b;
  const int32_t root = b.AddRule("root", *std::move(e));
  auto g = std::move(b).Build(root);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Accepts(*g, "a\\\"\\\\\\n\\t"));
  EXPECT_FALSE(Accepts(*g, "a\"\\\n\t"));  // raw quote, backslash, controls: not in a JSON string
  // `.` in a JSON string never yields a raw quote or backslash.
  auto dot = CompileRegex(".", {.json_string = true});
  ASSERT_TRUE(dot.ok());
  GrammarBuilder b2;
  const int32_t r2 = b2.AddRule("root", *std::move(dot));
  auto g2 = std::move(b2).Build(r2);
  ASSERT_TRUE(g2.ok());
  EXPECT_TRUE(Accepts(*g2, "\\\""));
  EXPECT_TRUE(Accepts(*g2, "\\u0001"));
  EXPECT_FALSE(Accepts(*g2, "\""));
  EXPECT_FALSE(Accepts(*g2, "\\"));
}

TEST(RegexCompilerTest, MalformedPatternsNameTheProblemAndOffset) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"(ab", "regex: offset 0: missing ')', unterminated subpattern"},
      {"ab)", "regex: offset 2: unbalanced ')'"},
      {"*a", "regex: offset 0: nothing to repeat"},
      {"a**", "regex: offset 2: multiple repeat"},
      {"[abc", "regex: offset 0: unterminated character set"},
      {"[z-a]", "regex: offset 2: bad character range (out of order)"},
      {"(a)\\1", "regex: offset 3: backreferences are not supported"},
      {"(?=a)", "regex: offset 0: lookaround assertions are not supported"},
      {"(?i)a", "regex: offset 0: inline flags"},
      {"a\\b", "regex: offset 1: word boundaries"},
      {"a^b", "regex: offset 1: '^' is only supported at the start"},
      {"a$b", "regex: offset 1: '$' is only supported at the end"},
      {"a{3,1}", "regex: offset 1: min repeat greater than max"},
      {"a{20000}", "regex: offset 1: repetition count over 10000"},
      {"\\q", "regex: offset 0: bad escape \\q"},
      {"a++", "regex: offset 2: possessive quantifiers are not supported"},
      {"\\x4", "regex: offset 0: incomplete hex escape"},
      {std::string(100000, '(') + std::string(100000, ')'),
       "regex: offset 100: groups nested too deeply"},
  };
  for (const auto& [pattern, want] : cases) {
    auto g = RegexGrammar(pattern);
    ASSERT_FALSE(g.ok()) << pattern;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(g.status().message()), ::testing::HasSubstr(want)) << pattern;
  }
}

}  // namespace
}  // namespace hearth::constraint
