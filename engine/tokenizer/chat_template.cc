#include "engine/tokenizer/chat_template.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::engine::tokenizer {
namespace {

constexpr char kSupported[] =
    "supported families: chatml (<|im_start|>), llama3 (<|start_header_id|>), llama2 ([INST] "
    "with <<SYS>>), mistral ([INST]), gemma (<start_of_turn>)";

// Python's str.isspace() for one code point (what Jinja's `trim` and str.strip() remove).
bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Python's str.strip().
std::string Strip(std::string_view s) {
  size_t begin = 0;
  size_t end = 0;  // end of the last non-space character
  for (size_t i = 0; i < s.size();) {
    size_t len = ValidUtf8Length(s.substr(i));
    const bool space = len != 0 && IsPythonSpace(DecodeUtf8(s.substr(i), len));
    if (len == 0) len = 1;
    if (!space) {
      if (end == 0) begin = i;
      end = i + len;
    }
    i += len;
  }
  return end == 0 ? std::string() : std::string(s.substr(begin, end - begin));
}

absl::Status AlternationError() {
  return absl::InvalidArgumentError(
      "Conversation roles must alternate user/assistant/user/assistant/...");
}

absl::Status EmptyError() {
  return absl::InvalidArgumentError("this chat template needs at least one message");
}

// The default system prompt of a ChatML template: the text of a string literal
// '<|im_start|>system\n...<|im_end|>' (newline raw or escaped); false when there is none.
bool FindDefaultSystem(std::string_view source, std::string& out) {
  constexpr std::string_view kOpen = "<|im_start|>system";
  size_t at = source.find(kOpen);
  while (at != std::string_view::npos) {
    size_t p = at + kOpen.size();
    bool ok = false;
    if (source.substr(p, 1) == "\n") {
      p += 1, ok = true;
    } else if (source.substr(p, 2) == "\\n") {
      p += 2, ok = true;
    }
    const size_t close = source.find("<|im_end|>", p);
    if (ok && close != std::string_view::npos) {
      std::string_view body = source.substr(p, close - p);
      // A literal only: no Jinja expressions or string concatenation inside.
      const bool literal =
          body.find("{{") == std::string_view::npos && body.find("{%") == std::string_view::npos &&
          body.find("' +") == std::string_view::npos && body.find("\" +") == std::string_view::npos;
      if (literal) {
        out.clear();
        for (size_t i = 0; i < body.size(); ++i) {
          if (body[i] == '\\' && i + 1 < body.size()) {
            const char e = body[++i];
            out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          } else {
            out += body[i];
          }
        }
        return true;
      }
    }
    at = source.find(kOpen, at + 1);
  }
  return false;
}

}  // namespace

std::string_view ChatFamilyName(ChatFamily family) {
  switch (family) {
    case ChatFamily::kChatMl:
      return "chatml";
    case ChatFamily::kLlama3:
      return "llama3";
    case ChatFamily::kLlama2:
      return "llama2";
    case ChatFamily::kMistral:
      return "mistral";
    case ChatFamily::kGemma:
      return "gemma";
  }
  return "unknown";
}

absl::StatusOr<ChatTemplate> ChatTemplate::Detect(std::string_view source, std::string bos_token,
                                                  std::string eos_token) {
  ChatTemplate t;
  t.bos_ = std::move(bos_token);
  t.eos_ = std::move(eos_token);
  if (source.empty() || source.find("<|im_start|>") != std::string_view::npos) {
    t.family_ = ChatFamily::kChatMl;
    t.has_default_system_ = FindDefaultSystem(source, t.default_system_);
  } else if (source.find("<|start_header_id|>") != std::string_view::npos) {
    t.family_ = ChatFamily::kLlama3;
  } else if (source.find("<start_of_turn>") != std::string_view::npos) {
    t.family_ = ChatFamily::kGemma;
  } else if (source.find("[INST]") != std::string_view::npos) {
    t.family_ = source.find("<<SYS>>") != std::string_view::npos ? ChatFamily::kLlama2
                                                                 : ChatFamily::kMistral;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unrecognized chat template (", source.size(), " chars); ", kSupported));
  }
  return t;
}

std::string ChatTemplate::end_of_turn() const {
  switch (family_) {
    case ChatFamily::kChatMl:
      return "<|im_end|>";
    case ChatFamily::kLlama3:
      return "<|eot_id|>";
    case ChatFamily::kGemma:
      return "<end_of_turn>";
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral:
      return eos_;
  }
  return eos_;
}

absl::Status CheckChatRole(std::string_view role) {
  if (role == "system" || role == "user" || role == "assistant") return absl::OkStatus();
  std::string shown = SanitizeUtf8(role.substr(0, 64));
  if (role.size() > 64) shown += "...";
  return absl::InvalidArgumentError(
      absl::StrCat("must be one of system, user, assistant, got '", shown, "'"));
}

namespace {

// Builds a RenderedChat: template text and message content, the latter recorded as spans.
class ChatBuilder {
 public:
  void Text(std::string_view text) { out_.text.append(text); }
  void Content(std::string_view content) {
    if (content.empty()) return;
    const size_t begin = out_.text.size();
    out_.text.append(content);
    if (!out_.content_spans.empty() && out_.content_spans.back().end == begin) {
      out_.content_spans.back().end = out_.text.size();
    } else {
      out_.content_spans.push_back({begin, out_.text.size()});
    }
  }
  RenderedChat Take() { return std::move(out_); }

 private:
  RenderedChat out_;
};

}  // namespace

absl::StatusOr<std::string> ChatTemplate::Apply(std::span<const ChatMessage> messages,
                                                bool add_generation_prompt) const {
  absl::StatusOr<RenderedChat> rendered = Render(messages, add_generation_prompt);
  if (!rendered.ok()) return rendered.status();
  return std::move(rendered->text);
}

absl::StatusOr<RenderedChat> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                                  bool add_generation_prompt) const {
  ChatBuilder b;
  switch (family_) {
    case ChatFamily::kChatMl:
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i == 0 && has_default_system_ && messages[0].role != "system") {
          b.Text(absl::StrCat("<|im_start|>system\n", default_system_, "<|im_end|>\n"));
        }
        b.Text(absl::StrCat("<|im_start|>", messages[i].role, "\n"));
        b.Content(messages[i].content);
        b.Text("<|im_end|>\n");
      }
      if (add_generation_prompt) b.Text("<|im_start|>assistant\n");
      return b.Take();
    case ChatFamily::kLlama3:
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i == 0) b.Text(bos_);
        b.Text(absl::StrCat("<|start_header_id|>", messages[i].role, "<|end_header_id|>\n\n"));
        b.Content(Strip(messages[i].content));
        b.Text("<|eot_id|>");
      }
      if (add_generation_prompt) b.Text("<|start_header_id|>assistant<|end_header_id|>\n\n");
      return b.Take();
    case ChatFamily::kGemma:
      if (messages.empty()) return EmptyError();  // the template reads messages[0]
      b.Text(bos_);
      if (!messages.empty() && messages[0].role == "system") {
        return absl::InvalidArgumentError("System role not supported");
      }
      for (size_t i = 0; i < messages.size(); ++i) {
        if ((messages[i].role == "user") != (i % 2 == 0)) return AlternationError();
        const absl::string_view role =
            messages[i].role == "assistant" ? "model" : absl::string_view(messages[i].role);
        b.Text(absl::StrCat("<start_of_turn>", role, "\n"));
        b.Content(Strip(messages[i].content));
        b.Text("<end_of_turn>\n");
      }
      if (add_generation_prompt) b.Text("<start_of_turn>model\n");
      return b.Take();
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral:
      return RenderInst(messages);  // these templates ignore add_generation_prompt
  }
  return b.Take();
}

absl::StatusOr<RenderedChat> ChatTemplate::RenderInst(std::span<const ChatMessage> messages) const {
  ChatBuilder b;
  if (family_ == ChatFamily::kMistral) {
    b.Text(bos_);
    for (size_t i = 0; i < messages.size(); ++i) {
      if ((messages[i].role == "user") != (i % 2 == 0)) return AlternationError();
      if (messages[i].role == "user") {
        b.Text("[INST] ");
        b.Content(messages[i].content);
        b.Text(" [/INST]");
      } else if (messages[i].role == "assistant") {
        b.Content(messages[i].content);
        b.Text(eos_);
      } else {
        return absl::InvalidArgumentError("Only user and assistant roles are supported!");
      }
    }
    return b.Take();
  }
  // Llama 2: a leading system message folds into the first user turn. The <<SYS>> markers are
  // plain text in Llama 2's vocabulary, so the folded turn is content as a whole.
  if (messages.empty()) return EmptyError();  // the template reads messages[0]
  std::span<const ChatMessage> loop = messages;
  const ChatMessage* system = nullptr;
  if (!messages.empty() && messages[0].role == "system") {
    system = &messages[0];
    loop = messages.subspan(1);
  }
  for (size_t i = 0; i < loop.size(); ++i) {
    if ((loop[i].role == "user") != (i % 2 == 0)) return AlternationError();
    std::string content = loop[i].content;
    if (i == 0 && system != nullptr) {
      content = absl::StrCat("<<SYS>>\n", system->content, "\n<</SYS>>\n\n", loop[i].content);
    }
    if (loop[i].role == "user") {
      b.Text(absl::StrCat(bos_, "[INST] "));
      b.Content(Strip(content));
      b.Text(" [/INST]");
    } else if (loop[i].role == "assistant") {
      b.Text(" ");
      b.Content(Strip(content));
      b.Text(absl::StrCat(" ", eos_));
    }
  }
  return b.Take();
}

}  // namespace hearth::engine::tokenizer
