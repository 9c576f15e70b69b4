#include "engine/convert/synthetic_tokenizer.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hearth::engine::convert {
namespace {

// GPT-2's byte-to-unicode table: printable Latin-1 bytes spell themselves, the other 68 bytes
// take the code points 256, 257, ... in byte order.
std::vector<std::string> ByteTokens() {
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  std::vector<std::string> tokens(256);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    tokens[b] = utf8(printable ? b : next++);
  }
  return tokens;
}

// (left, right) pairs; each merge adds left + right to the vocabulary. "Ġ" is the space.
const char* const kMerges[][2] = {
    {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"Ġ", "a"}, {"e", "r"},
    {"o", "n"}, {"r", "e"}, {"a", "n"},   {"Ġ", "s"}, {"Ġ", "o"}, {"e", "n"},
};

const char* const kSpecials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                 "<|end_header_id|>", "<|eot_id|>"};

// Llama 3 Instruct's template (the family Hearth's ChatTemplate::Detect calls llama3).
constexpr char kChatTemplate[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

constexpr int32_t kNormal = 1;
constexpr int32_t kControl = 3;

}  // namespace

int32_t MinSyntheticVocab() {
  return 256 + static_cast<int32_t>(std::size(kMerges)) +
         static_cast<int32_t>(std::size(kSpecials));
}

absl::Status AddSyntheticTokenizer(int32_t vocab, GgufWriter& w) {
  if (vocab < MinSyntheticVocab()) {
    return absl::InvalidArgumentError(absl::StrCat("vocab ", vocab, " is below the ",
                                                   MinSyntheticVocab(),
                                                   " tokens the synthetic tokenizer needs"));
  }
  std::vector<std::string> tokens = ByteTokens();
  std::vector<int32_t> types(tokens.size(), kNormal);
  std::vector<std::string> merges;
  for (const auto& m : kMerges) {
    merges.push_back(absl::StrCat(m[0], " ", m[1]));
    tokens.push_back(absl::StrCat(m[0], m[1]));
    types.push_back(kNormal);
  }
  const int32_t first_special = static_cast<int32_t>(tokens.size());
  for (const char* s : kSpecials) {
    tokens.push_back(s);
    types.push_back(kControl);
  }
  for (int32_t i = 0; static_cast<int32_t>(tokens.size()) < vocab; ++i) {
    tokens.push_back(absl::StrCat("<|reserved_special_token_", i, "|>"));
    types.push_back(kControl);
  }
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "llama-bpe");
  w.Set("tokenizer.ggml.tokens", MakeGgufStringArray(tokens));
  w.Set("tokenizer.ggml.token_type", MakeGgufInt32Array(types));
  w.Set("tokenizer.ggml.merges", MakeGgufStringArray(merges));
  w.SetUint32("tokenizer.ggml.bos_token_id", first_special);
  w.SetUint32("tokenizer.ggml.eos_token_id", first_special + 1);
  w.SetUint32("tokenizer.ggml.eot_token_id", first_special + 4);
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetString("tokenizer.chat_template", kChatTemplate);
  return absl::OkStatus();
}

}  // namespace hearth::engine::convert
