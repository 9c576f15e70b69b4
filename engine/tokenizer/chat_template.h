// Chat templates: turn a conversation into the prompt string the model was trained on.
//
// We do not run Jinja. `Detect` recognises the family of a GGUF `tokenizer.chat_template` and
// `Apply` reproduces exactly what that family's reference Jinja template renders:
//
//   family    marker in the template         turn format
//   kChatMl   <|im_start|>                   <|im_start|>{role}\n{content}<|im_end|>\n
//   kLlama3   <|start_header_id|>            {bos}<|start_header_id|>{role}<|end_header_id|>\n\n
//                                            {content|trim}<|eot_id|>
//   kLlama2   [INST] and <<SYS>>             {bos}[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST]
//                                             {assistant} {eos}
//   kMistral  [INST] without <<SYS>>         {bos}[INST] {user} [/INST]{assistant}{eos}
//   kGemma    <start_of_turn>                {bos}<start_of_turn>{user|model}\n{content|trim}
//                                            <end_of_turn>\n
//
// ChatML templates that insert a default system prompt when the conversation has none (the
// SmolLM2 and Qwen2 templates do) are recognised and the prompt text is taken from the
// template. An empty template gives plain ChatML, as llama.cpp's server does when a model has
// no template. Errors the Jinja templates raise (roles not alternating, a system message where
// the family has none, no messages for the templates that read messages[0]) are
// InvalidArgument here.
//
// Thread-safety: immutable; Apply may be called concurrently.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/text_span.h"

namespace hearth::engine::tokenizer {

enum class ChatFamily { kChatMl, kLlama3, kLlama2, kMistral, kGemma };

std::string_view ChatFamilyName(ChatFamily family);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (other roles pass through where allowed)
  std::string content;
};

// A rendered conversation: the prompt text, and where in it the messages' contents are (to
// tokenize them as text: EncodeOptions::literal_spans), sorted and non-overlapping.
struct RenderedChat {
  std::string text;
  std::vector<TextSpan> content_spans;
};

// The roles an API client may send: system, user, assistant. InvalidArgument naming the
// role otherwise (any other role would be written into the prompt verbatim).
absl::Status CheckChatRole(std::string_view role);

class ChatTemplate {
 public:
  // `bos_token` / `eos_token`: the text of those tokens, as Jinja's bos_token / eos_token.
  // InvalidArgument naming the supported families when the template is not recognised.
  static absl::StatusOr<ChatTemplate> Detect(std::string_view source, std::string bos_token = "",
                                             std::string eos_token = "");

  absl::StatusOr<std::string> Apply(std::span<const ChatMessage> messages,
                                    bool add_generation_prompt) const;
  // Apply(), with the spans of message content.
  absl::StatusOr<RenderedChat> Render(std::span<const ChatMessage> messages,
                                      bool add_generation_prompt) const;

  ChatFamily family() const { return family_; }
  // The text that ends a turn ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", or the eos text).
  std::string end_of_turn() const;
  // ChatML default system prompt ("" when the template has none).
  const std::string& default_system() const { return default_system_; }

 private:
  ChatTemplate() = default;
  absl::StatusOr<RenderedChat> RenderInst(std::span<const ChatMessage> messages) const;

  ChatFamily family_ = ChatFamily::kChatMl;
  bool has_default_system_ = false;
  std::string default_system_;
  std::string bos_;
  std::string eos_;
};

}  // namespace hearth::engine::tokenizer
