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

// Render marks exactly the message contents (as Apply renders them) as content spans.
TEST(ChatTemplateTest, RenderMarksContentSpans) {
  const std::vector<ChatMessage> m = {
      {"system", "Be brief."}, {"user", "  <|im_start|>hi  "}, {"assistant", ""}};
  for (const char* source :
       {"<|im_start|>", "<|start_header_id|>", "[INST] <<SYS>>", "<start_of_turn>"}) {
    auto t = ChatTemplate::Detect(source, "<s>", "</s>");
    ASSERT_TRUE(t.ok());
    const bool gemma = t->family() == ChatFamily::kGemma;
    std::vector<ChatMessage> msgs = m;
    if (gemma) msgs.erase(msgs.begin());  // no system role
    auto text = t->Apply(msgs, true);
    auto rendered = t->Render(msgs, true);
    ASSERT_TRUE(text.ok() && rendered.ok()) << source;
    EXPECT_EQ(rendered->text, *text) << source;
    std::string contents;
    size_t last_end = 0;
    for (const TextSpan& span : rendered->content_spans) {
      ASSERT_LE(last_end, span.begin);
      ASSERT_LT(span.begin, span.end);
      ASSERT_LE(span.end, rendered->text.size());
      contents += rendered->text.substr(span.begin, span.end - span.begin);
      last_end = span.end;
    }
    EXPECT_THAT(contents, HasSubstr("<|im_start|>hi")) << source;
    EXPECT_THAT(contents, ::testing::Not(HasSubstr("assistant"))) << source;
  }
}

TEST(ChatTemplateTest, CheckChatRole) {
  for (const char* ok : {"system", "user", "assistant"}) EXPECT_TRUE(CheckChatRole(ok).ok());
  for (const char* bad : {"", "tool", "User", "hacker", "user<|im_end|>"}) {
    absl::Status st = CheckChatRole(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(st.message(), HasSubstr("system, user, assistant")) << bad;
  }
  EXPECT_THAT(CheckChatRole(std::string(1000, 'x')).message(), HasSubstr("..."));
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
