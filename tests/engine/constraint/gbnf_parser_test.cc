// GBNF parsing: accepted / rejected strings per grammar, and malformed grammars with their
// line and column.
#include "engine/constraint/gbnf_parser.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/constraint/constraint_test_util.h"

namespace hearth::constraint {
namespace {

using testing::Accepts;

struct Case {
  std::string grammar;
  std::vector<std::string> accept;
  std::vector<std::string> reject;
};

TEST(GbnfParserTest, AcceptsTheLanguage) {
  const std::vector<Case> cases = {
      {R"(root ::= "yes" | "no")", {"yes", "no"}, {"", "y", "yesno", "maybe"}},
      {R"(root ::= [a-c]+)", {"a", "abc", "cccc"}, {"", "d", "abd"}},
      {R"(root ::= [^a-c]*)", {"", "xyz", "é", "日本"}, {"a", "xa", "\xC3"}},
      {R"(root ::= "a"? "b"* "c"{2} "d"{1,2} "e"{2,})",
       {"ccdee", "abbccddeee", "bccdee"},
       {"cdee", "ccdddee", "ccde", "aaccdee"}},
      {"root ::= item (\",\" item)*\nitem ::= [0-9]+  # numbers\n",
       {"1", "1,22,333"},
       {"", "1,", ",1"}},
      {"root ::= ( \"a\"\n  | \"b\" )\n", {"a", "b"}, {"ab"}},
      {"root ::= \"x\" |\n  \"y\"\n", {"x", "y"}, {"xy"}},
      {R"(root ::= "\n\t\\\"\x41\u00e9")", {"\n\t\\\"Aé"}, {"\n\t\\\"A"}},
      {R"(root ::= "é" [α-ω])", {"éα", "éω"}, {"éa", "é"}},
      {R"(root ::= . .)", {"ab", "日本", "a\n"}, {"a", "abc"}},
      {"root ::= expr\nexpr ::= term ([-+] term)*\nterm ::= [0-9]+ | \"(\" expr \")\"",
       {"1+2", "(1+2)-3", "((4))"},
       {"(1", "1+", "()"}},
      {R"(root ::= ("ab" | "a") "c")", {"abc", "ac"}, {"abac", "c"}},
      {R"(root ::= [\]\-] "-")", {"]-", "--"}, {"a-"}},
  };
  for (const Case& c : cases) {
    auto g = ParseGbnf(c.grammar);
    ASSERT_TRUE(g.ok()) << c.grammar << ": " << g.status();
    for (const std::string& s : c.accept)
      EXPECT_TRUE(Accepts(*g, s)) << c.grammar << " should accept " << s;
    for (const std::string& s : c.reject)
      EXPECT_FALSE(Accepts(*g, s)) << c.grammar << " should reject " << s;
  }
}

TEST(GbnfParserTest, MalformedGrammarsNameTheProblemAndPosition) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"root ::= \"abc", "line 1 column 10: unterminated string literal"},
      {"root ::= [a-", "line 1 column 10: unterminated character class"},
      {"root ::= foo", "line 1 column 10: rule 'foo' is used but not defined"},
      {"root ::= \"a\"\nroot ::= \"b\"", "line 2 column 1: rule 'root' is defined twice"},
      {"start ::= \"a\"", "no `root` rule"},
      {"root = \"a\"", "line 1 column 6: expected '::=' after the rule name"},
      {"root ::= (\"a\"", "line 1 column 14: expected ')'"},
      {"root ::= \"a\"{3,1}", "line 1 column 13: repetition {m,n} needs m <= n"},
      {"root ::= \"\\q\"", "line 1 column 11: unknown escape '\\q'"},
      {"root ::= [z-a]", "line 1 column 14: character range is out of order"},
      {"root ::= \"a\" }", "line 1 column 14: unexpected character '}'"},
      {"root ::= root \"a\" | \"b\"", "rule 'root' is left-recursive"},
      {"root ::= x\nx ::= y \"a\"\ny ::= \"\" | x", "left-recursive"},
      {"root ::= \"\\x4\"", "line 1 column 11: expected 2 hex digits in the escape"},
  };
  for (const auto& [text, want] : cases) {
    auto g = ParseGbnf(text);
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(g.status().message()), ::testing::HasSubstr(want)) << text;
    EXPECT_THAT(std::string(g.status().message()), ::testing::StartsWith("grammar: "));
  }
}

TEST(GbnfParserTest, DeepNestingIsAnErrorNotACrash) {
  auto g = ParseGbnf("root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')'));
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), ::testing::HasSubstr("nested too deeply"));
}

TEST(GbnfParserTest, TailRecursionIsFine) {
  // Right recursion through a tail reference loops in constant stack depth.
  auto g = ParseGbnf("root ::= \"a\" root | \"b\"");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Accepts(*g, std::string(5000, 'a') + "b"));
  // A loop through a nullable body terminates too.
  auto h = ParseGbnf("root ::= (\"a\"?)* \"b\"");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(Accepts(*h, "aab"));
  EXPECT_TRUE(Accepts(*h, "b"));
}

}  // namespace
}  // namespace hearth::constraint
