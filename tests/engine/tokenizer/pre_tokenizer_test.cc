#include "engine/tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::engine::tokenizer {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<std::string> SplitWith(std::string_view name, std::string_view text) {
  auto pre = PreTokenizer::Create(name);
  EXPECT_TRUE(pre.ok()) << pre.status();
  std::vector<std::string> out;
  for (std::string_view p : (*pre)->Split(text)) out.emplace_back(p);
  return out;
}

// Expected splits are those of HF tokenizers with each model's tokenizer.json pre-tokenizer.
TEST(PreTokenizerTest, SplitTable) {
  struct Case {
    std::string pre;
    std::string text;
    std::vector<std::string> want;
  } cases[] = {
      {"gpt2", "Hello world", {"Hello", " world"}},
      {"gpt2", "it's 2024!", {"it", "'s", " 2024", "!"}},
      {"gpt2", "a  b", {"a", " ", " b"}},
      {"gpt2", "x\n\n", {"x", "\n\n"}},
      {"smollm", "year 2024", {"year", " ", "2", "0", "2", "4"}},
      {"smollm", "3.14", {"3", ".", "1", "4"}},
      {"llama-bpe", "12345 apples", {"123", "45", " apples"}},
      {"llama-bpe", "IT'S", {"IT", "'S"}},
      {"llama-bpe", "a\n\n b", {"a", "\n\n", " b"}},
      {"qwen2", "12345", {"1", "2", "3", "4", "5"}},
      {"qwen2", "hello...world", {"hello", "...", "world"}},
      {"default", "", {}},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(SplitWith(c.pre, c.text), ElementsAreArray(c.want)) << c.pre << ": " << c.text;
  }
}

TEST(PreTokenizerTest, PiecesConcatenateToInputEvenForInvalidUtf8) {
  const std::string text = "ab\xFF\xFE  c\xE4\xB8\n12";
  auto pre = PreTokenizer::Create("smollm");
  ASSERT_TRUE(pre.ok());
  std::string joined;
  for (std::string_view p : (*pre)->Split(text)) {
    EXPECT_FALSE(p.empty());
    joined += p;
  }
  EXPECT_EQ(joined, text);
}

TEST(PreTokenizerTest, UnknownNameListsSupported) {
  auto pre = PreTokenizer::Create("deepseek-coder");
  ASSERT_FALSE(pre.ok());
  EXPECT_EQ(pre.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pre.status().message(), HasSubstr("deepseek-coder"));
  EXPECT_THAT(pre.status().message(), HasSubstr("smollm"));
  EXPECT_THAT(pre.status().message(), HasSubstr("llama-bpe"));
}

TEST(PreTokenizerTest, BadPatternIsAnError) {
  EXPECT_FALSE(PreTokenizer::FromPatterns({"(unclosed"}).ok());
}

}  // namespace
}  // namespace hearth::engine::tokenizer
