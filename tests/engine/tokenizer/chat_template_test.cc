// Detection and error cases. Rendering is compared with jinja2 in test_chat_template.py.
#include "engine/tokenizer/chat_template.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::engine::tokenizer {
namespace {

using ::testing::HasSubstr;

TEST(ChatTemplateTest, DetectTable) {
  struct Case {
    std::string source;
    ChatFamily want;
  } cases[] = {
      {"", ChatFamily::kChatMl},
      {"{{'<|im_start|>' + message['role']}}", ChatFamily::kChatMl},
      {"{{'<|start_header_id|>' + message['role'] + '<|end_header_id|>'}}", ChatFamily::kLlama3},
      {"{{ '[INST] ' + content }} <<SYS>>", ChatFamily::kLlama2},
      {"{{ '[INST] ' + message['content'] + ' [/INST]' }}", ChatFamily::kMistral},
      {"{{ '<start_of_turn>' + role }}", ChatFamily::kGemma},
  };
  for (const Case& c : cases) {
    auto t = ChatTemplate::Detect(c.source);
    ASSERT_TRUE(t.ok()) << c.source;
    EXPECT_EQ(t->family(), c.want) << c.source;
  }
}

TEST(ChatTemplateTest, UnknownTemplateNamesTheFamilies) {
  auto t = ChatTemplate::Detect("{% for m in messages %}{{ m.content }}{% endfor %}");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("chatml"));
  EXPECT_THAT(t.status().message(), HasSubstr("gemma"));
}

TEST(ChatTemplateTest, EmptyTemplateIsPlainChatMl) {
  auto t = ChatTemplate::Detect("");
  ASSERT_TRUE(t.ok());
  std::vector<ChatMessage> m = {{"user", "hi"}};
  EXPECT_EQ(*t->Apply(m, true), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t->end_of_turn(), "<|im_end|>");
}

TEST(ChatTemplateTest, ChatMlDefaultSystemPromptIsTakenFromTheTemplate) {
  auto t = ChatTemplate::Detect(
      "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nBe "
      "brief.<|im_end|>\\n' }}{% endif %}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->default_system(), "Be brief.");
}

TEST(ChatTemplateTest, RoleErrorsAsTheJinjaTemplatesRaise) {
  const std::vector<ChatMessage> system_first = {{"system", "s"}, {"user", "u"}};
  const std::vector<ChatMessage> two_users = {{"user", "a"}, {"user", "b"}};
  auto gemma = ChatTemplate::Detect("<start_of_turn>");
  ASSERT_TRUE(gemma.ok());
  EXPECT_FALSE(gemma->Apply(system_first, false).ok());
  EXPECT_FALSE(gemma->Apply(two_users, false).ok());
  auto mistral = ChatTemplate::Detect("[INST]");
  ASSERT_TRUE(mistral.ok());
  EXPECT_FALSE(mistral->Apply(system_first, false).ok());
  EXPECT_FALSE(mistral->Apply(two_users, false).ok());
  auto llama2 = ChatTemplate::Detect("[INST] <<SYS>>");
  ASSERT_TRUE(llama2.ok());
  EXPECT_TRUE(llama2->Apply(system_first, false).ok());
  EXPECT_FALSE(llama2->Apply(two_users, false).ok());
}

}  // namespace
}  // namespace hearth::engine::tokenizer
