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

absl::StatusOr<std::string> ChatTemplate::Apply(std::span<const ChatMessage> messages,
                                                bool add_generation_prompt) const {
  std::string out;
  switch (family_) {
    case ChatFamily::kChatMl:
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i == 0 && has_default_system_ && messages[0].role != "system") {
          absl::StrAppend(&out, "<|im_start|>system\n", default_system_, "<|im_end|>\n");
        }
        absl::StrAppend(&out, "<|im_start|>", messages[i].role, "\n", messages[i].content,
                        "<|im_end|>\n");
      }
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    case ChatFamily::kLlama3:
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i == 0) out += bos_;
        absl::StrAppend(&out, "<|start_header_id|>", messages[i].role, "<|end_header_id|>\n\n",
                        Strip(messages[i].content), "<|eot_id|>");
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    case ChatFamily::kGemma:
      if (messages.empty()) return EmptyError();  // the template reads messages[0]
      out += bos_;
      if (!messages.empty() && messages[0].role == "system") {
        return absl::InvalidArgumentError("System role not supported");
      }
      for (size_t i = 0; i < messages.size(); ++i) {
        if ((messages[i].role == "user") != (i % 2 == 0)) return AlternationError();
        const absl::string_view role =
            messages[i].role == "assistant" ? "model" : absl::string_view(messages[i].role);
        absl::StrAppend(&out, "<start_of_turn>", role, "\n", Strip(messages[i].content),
                        "<end_of_turn>\n");
      }
      if (add_generation_prompt) out += "<start_of_turn>model\n";
      return out;
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral:
      return ApplyInst(messages);  // these templates ignore add_generation_prompt
  }
  return out;
}

absl::StatusOr<std::string> ChatTemplate::ApplyInst(std::span<const ChatMessage> messages) const {
  std::string out;
  if (family_ == ChatFamily::kMistral) {
    out += bos_;
    for (size_t i = 0; i < messages.size(); ++i) {
      if ((messages[i].role == "user") != (i % 2 == 0)) return AlternationError();
      if (messages[i].role == "user") {
        absl::StrAppend(&out, "[INST] ", messages[i].content, " [/INST]");
      } else if (messages[i].role == "assistant") {
        absl::StrAppend(&out, messages[i].content, eos_);
      } else {
        return absl::InvalidArgumentError("Only user and assistant roles are supported!");
      }
    }
    return out;
  }
  // Llama 2: a leading system message folds into the first user turn.
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
      absl::StrAppend(&out, bos_, "[INST] ", Strip(content), " [/INST]");
    } else if (loop[i].role == "assistant") {
      absl::StrAppend(&out, " ", Strip(content), " ", eos_);
    }
  }
  return out;
}

}  // namespace hearth::engine::tokenizer
