// Fuzz target: chat-template rendering with arbitrary messages (roles, contents, counts) for
// every template family, the role check, and tokenizing the result with content as text.
// Invariants: Render's text equals Apply's; content spans are sorted, non-empty, inside the
// text; content tokenized as text never yields more special tokens than the template's own.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_models.h"

using namespace hearth;
using engine::tokenizer::ChatMessage;
using engine::tokenizer::ChatTemplate;

namespace {

// One template per family (as Detect recognises them), a ChatML one with a default system
// prompt, and one no family matches.
constexpr std::string_view kSources[] = {
    "",
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\\nYou are helpful.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
    "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
    "<|start_header_id|>",
    "[INST] <<SYS>>",
    "[INST]",
    "<start_of_turn>",
    "{{ messages }}",
};

size_t CountSpecial(const engine::tokenizer::Tokenizer& tok, const std::vector<int32_t>& ids) {
  size_t n = 0;
  for (int32_t id : ids) n += tok.IsSpecial(id) ? 1 : 0;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return 0;
  fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  const std::string_view source = kSources[mode % std::size(kSources)];
  auto chat = ChatTemplate::Detect(source, "<s>", "</s>");
  if (!chat.ok()) return 0;
  std::vector<ChatMessage> messages;
  for (std::string_view part : fuzz::Split(in.Rest(), '\x1e')) {
    if (messages.size() == 64) break;
    const size_t cut = part.find('\x1f');
    ChatMessage m;
    if (cut == std::string_view::npos) {
      m.role = messages.size() % 2 == 0 ? "user" : "assistant";
      m.content = std::string(part);
    } else {
      m.role = std::string(part.substr(0, cut));
      m.content = std::string(part.substr(cut + 1));
    }
    (void)engine::tokenizer::CheckChatRole(m.role);
    messages.push_back(std::move(m));
  }
  const bool add_generation_prompt = (mode & 0x80) != 0;
  auto applied = chat->Apply(messages, add_generation_prompt);
  auto rendered = chat->Render(messages, add_generation_prompt);
  fuzz::Check(applied.ok() == rendered.ok(), "Apply and Render agree on errors");
  if (!rendered.ok()) return 0;
  fuzz::Check(rendered->text == *applied, "Render text equals Apply");
  size_t last = 0;
  for (const auto& span : rendered->content_spans) {
    fuzz::Check(last <= span.begin && span.begin < span.end && span.end <= rendered->text.size(),
                "content spans sorted, non-empty, inside the text");
    last = span.end;
  }
  const engine::tokenizer::Tokenizer* tok = fuzz::DefaultModelTokenizer();
  if (tok == nullptr) tok = &fuzz::SyntheticGpt2Tokenizer();
  const std::vector<int32_t> safe = tok->Encode(
      rendered->text, {.parse_special = true, .literal_spans = rendered->content_spans});
  const std::vector<int32_t> parsed = tok->Encode(rendered->text, {.parse_special = true});
  fuzz::Check(CountSpecial(*tok, safe) <= CountSpecial(*tok, parsed),
              "content as text adds no special tokens");
  return 0;
}
