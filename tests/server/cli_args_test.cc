// The one command-line parser of every `hearth` subcommand (server/cli/args.h): spelling
// rules, repeated flags, booleans, positionals and `--`, as a table.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/cli/args.h"

namespace hearth::server::cli {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"max_tokens", true, "N  tokens"},  {"metrics_port", true, "PORT  port"},
    {"stop", true, "TEXT  repeatable"}, {"chat", false, "a boolean"},
    {"help", false, "this message"},
};

struct Case {
  std::vector<std::string> args;
  std::string error;  // "" when the parse succeeds
  std::string flag;   // then: this flag's last value is `value`
  std::string value;
};

TEST(CliArgsTest, Table) {
  const std::vector<Case> cases = {
      {{"--max-tokens", "5"}, "", "max_tokens", "5"},
      {{"--max_tokens=6"}, "", "max_tokens", "6"},
      {{"--max.tokens=7"}, "", "max_tokens", "7"},
      {{"--metrics.port=9000"}, "", "metrics_port", "9000"},
      {{"--metrics-port", "9001"}, "", "metrics_port", "9001"},
      {{"--max-tokens=1", "--max_tokens=2"}, "", "max_tokens", "2"},
      {{"--chat"}, "", "chat", "true"},
      {{"--chat=no"}, "", "chat", "false"},
      {{"--chat=ON"}, "", "chat", "true"},
      {{"-h"}, "", "help", "true"},
      {{"--chat=maybe"}, "flag --chat is a boolean (true/false), got 'maybe'", "", ""},
      {{"--max-tokens"}, "flag --max-tokens needs a value", "", ""},
      {{"--bogus=1"}, "unknown flag --bogus", "", ""},
      {{"--max-new-tokens", "1"}, "unknown flag --max-new-tokens", "", ""},
  };
  for (const Case& c : cases) {
    auto parsed = ParsedArgs::Parse(kSpecs, c.args);
    if (!c.error.empty()) {
      ASSERT_FALSE(parsed.ok()) << c.args[0];
      EXPECT_EQ(parsed.status().message(), c.error);
      continue;
    }
    ASSERT_TRUE(parsed.ok()) << c.args[0] << ": " << parsed.status();
    EXPECT_EQ(parsed->GetString(c.flag), c.value) << c.args[0];
  }
}

TEST(CliArgsTest, RepeatedPositionalRestAndSpelling) {
  auto p = ParsedArgs::Parse(
      kSpecs, {"tokenize", "--stop", "a", "--stop=b", "text", "--", "--max-tokens", "x"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->GetAll("stop"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p->positional(), (std::vector<std::string>{"tokenize", "text"}));
  EXPECT_EQ(p->rest(), (std::vector<std::string>{"--max-tokens", "x"}));
  ASSERT_EQ(p->given().size(), 2u);
  EXPECT_EQ(p->given()[1].spelled, "stop");
  EXPECT_FALSE(p->Has("max_tokens"));
  auto n = ParsedArgs::Parse(kSpecs, {"--max-tokens=many"});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->GetInt("max_tokens", 0).status().message(),
            "flag --max_tokens: not an integer: 'many'");
}

TEST(CliArgsTest, UsageListsEveryFlag) {
  const std::string usage = FormatFlags(kSpecs);
  for (const FlagSpec& s : kSpecs) EXPECT_NE(usage.find("--" + s.name), std::string::npos);
}

}  // namespace
}  // namespace hearth::server::cli
