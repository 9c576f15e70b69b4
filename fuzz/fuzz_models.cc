#include "fuzz/fuzz_models.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer_gguf.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::fuzz {
namespace {

using engine::tokenizer::Tokenizer;
using engine::tokenizer::TokenizerModel;
using engine::tokenizer::TokenizerSpec;
using engine::tokenizer::TokenType;

const Tokenizer* Build(TokenizerSpec spec) {
  auto tok = Tokenizer::FromSpec(std::move(spec));
  if (!tok.ok()) {
    std::fprintf(stderr, "fuzz: synthetic tokenizer: %s\n",
                 std::string(tok.status().message()).c_str());
    std::abort();
  }
  return tok->release();
}

}  // namespace

const Tokenizer* DefaultModelTokenizer() {
  static const Tokenizer* tokenizer = []() -> const Tokenizer* {
    const char* env = std::getenv("HEARTH_DEFAULT_MODEL");
    const std::string path = env != nullptr && *env != '\0' ? env : HEARTH_DEFAULT_MODEL;
    auto file = engine::GgufFile::Open(path);
    if (!file.ok()) {
      std::fprintf(stderr, "fuzz: no default model (%s): its tokenizer is skipped\n",
                   std::string(file.status().message()).c_str());
      return nullptr;
    }
    auto tok = Tokenizer::FromGguf(**file);
    if (!tok.ok()) {
      std::fprintf(stderr, "fuzz: %s\n", std::string(tok.status().message()).c_str());
      return nullptr;
    }
    return tok->release();  // the tokenizer copies what it needs from the file
  }();
  return tokenizer;
}

// 256 byte tokens, then "he", "ll", "hell", "hello", "Ġw", and control "<|end|>" / "<|im_start|>".
const Tokenizer& SyntheticGpt2Tokenizer() {
  static const Tokenizer* tokenizer = [] {
    TokenizerSpec spec;
    spec.model = TokenizerModel::kGpt2;
    spec.pre = "gpt2";
    for (int b = 0; b < 256; ++b) {
      spec.tokens.push_back(engine::tokenizer::ByteToUnicode(static_cast<uint8_t>(b)));
    }
    spec.tokens.insert(spec.tokens.end(),
                       {"he", "ll", "hell", "hello", "\xC4\xA0w", "<|end|>", "<|im_start|>"});
    spec.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w"};
    spec.types.assign(spec.tokens.size(), TokenType::kNormal);
    spec.types[261] = TokenType::kControl;
    spec.types[262] = TokenType::kUserDefined;
    spec.eos_id = 261;
    spec.bos_id = 261;
    return Build(std::move(spec));
  }();
  return *tokenizer;
}

// <unk> <s> </s>, <0x00>..<0xFF>, "▁", "h", "i", "▁h", "▁hi", "中", with BOS and a space prefix.
const Tokenizer& SyntheticLlamaTokenizer() {
  static const Tokenizer* tokenizer = [] {
    TokenizerSpec spec;
    spec.model = TokenizerModel::kLlama;
    spec.tokens = {"<unk>", "<s>", "</s>"};
    spec.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
    char buf[8];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
      spec.tokens.push_back(buf);
      spec.types.push_back(TokenType::kByte);
    }
    for (const char* p :
         {"\xE2\x96\x81", "h", "i", "\xE2\x96\x81h", "\xE2\x96\x81hi", "\xE4\xB8\xAD"}) {
      spec.tokens.push_back(p);
      spec.types.push_back(TokenType::kNormal);
    }
    spec.scores.assign(spec.tokens.size(), 0.0f);
    spec.scores[262] = -2.0f;
    spec.scores[263] = -1.0f;
    spec.unk_id = 0;
    spec.bos_id = 1;
    spec.eos_id = 2;
    spec.add_bos = true;
    spec.add_space_prefix = true;
    return Build(std::move(spec));
  }();
  return *tokenizer;
}

}  // namespace hearth::fuzz
