// Everything a tokenizer needs, as plain vectors: the in-memory form of GGUF's `tokenizer.*`
// metadata. The BPE models and the Tokenizer are built from this, so they can be unit-tested
// without a file; `SpecFromGguf` (tokenizer_gguf.h) is the one adapter from a GgufFile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::engine::tokenizer {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// Token types as stored in `tokenizer.ggml.token_type` (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Which algorithm `tokenizer.ggml.model` names.
enum class TokenizerModel {
  kGpt2,   // "gpt2": byte-level BPE, merges by rank
  kLlama,  // "llama": SentencePiece-style BPE, merges by score, <0xXX> byte fallback
};

struct TokenizerSpec {
  TokenizerModel model = TokenizerModel::kGpt2;
  // `tokenizer.ggml.pre` (gpt2 only): selects the pre-tokenizer regexes. Empty = "default".
  std::string pre;
  std::vector<std::string> tokens;  // [vocab_size] piece text (byte-level or U+2581 form)
  std::vector<float> scores;        // [vocab_size] or empty (llama: merge priority)
  std::vector<TokenType> types;     // [vocab_size] or empty (= all kNormal)
  std::vector<std::string> merges;  // gpt2: "left right", in rank order
  TokenId bos_id = kNoToken;
  TokenId eos_id = kNoToken;
  TokenId eot_id = kNoToken;  // `tokenizer.ggml.eot_token_id` when present
  TokenId unk_id = kNoToken;
  TokenId pad_id = kNoToken;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // llama: prefix each text segment with one space
  std::string chat_template;      // `tokenizer.chat_template`, may be empty
};

}  // namespace hearth::engine::tokenizer
