// Text <-> token ids for a GGUF model: gpt2 byte-level BPE or llama SentencePiece-style BPE,
// special-token matching, BOS/EOS rules from metadata, and decoding.
//
//   Encode(text):  [special-token partition] -> per text segment:
//                    gpt2:  pre-tokenizer regexes -> byte-level BPE per word (cached)
//                    llama: (' ' prefix if add_space_prefix) ' ' -> U+2581 -> score BPE with
//                           <0xXX> byte fallback
//   Decode(ids):   per token bytes (byte-level inverse / U+2581 -> ' ' / <0xXX> -> byte),
//                  control tokens skipped unless asked, invalid UTF-8 -> U+FFFD.
//
// Thread-safety: immutable after creation; every const method may be called concurrently.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/bpe.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/text_span.h"
#include "engine/tokenizer/tokenizer_spec.h"

namespace hearth::engine {
class GgufFile;
}  // namespace hearth::engine

namespace hearth::engine::tokenizer {

struct EncodeOptions {
  // Add BOS / EOS as the model's metadata says (tokenizer.ggml.add_bos_token / add_eos_token).
  bool add_special = false;
  // Match the text of control and user-defined tokens (e.g. "<|im_start|>") as those single
  // tokens. Off: such text is ordinary text (what untrusted user input should get).
  bool parse_special = false;
  // With parse_special: byte ranges of the text in which special-token text is never matched
  // (a match overlapping one is ordinary text), e.g. the message contents of a rendered chat.
  // Sorted by begin, non-overlapping. The text is split into words exactly as without them.
  std::span<const TextSpan> literal_spans = {};
};

struct DecodeOptions {
  // Skip control tokens (BOS, EOS, <|im_end|>, ...). Off: their text is emitted verbatim.
  bool skip_special = true;
};

class Tokenizer {
 public:
  // Validates the spec (sizes agree, ids in range, merges well-formed, `pre` supported).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromSpec(TokenizerSpec spec);
  // SpecFromGguf + FromSpec.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);

  std::vector<TokenId> Encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Invalid ids are skipped. Result is valid UTF-8.
  std::string Decode(std::span<const TokenId> ids, const DecodeOptions& options = {}) const;

  // The raw bytes `id` contributes to decoded text (may be a partial UTF-8 sequence, e.g. a
  // <0xE4> byte token); empty for an invalid id or a skipped control token. Does not apply
  // the llama leading-space strip (see strips_leading_space()).
  std::string TokenBytes(TokenId id, const DecodeOptions& options = {}) const;
  // True when decoding drops one leading ' ' from the whole output (llama add_space_prefix).
  bool strips_leading_space() const { return strip_leading_space_; }

  int32_t vocab_size() const { return static_cast<int32_t>(spec_.tokens.size()); }
  // REQUIRES: 0 <= id < vocab_size().
  const std::string& IdToPiece(TokenId id) const { return spec_.tokens[id]; }
  // kNoToken when absent.
  TokenId PieceToId(std::string_view piece) const;
  TokenType type(TokenId id) const;
  // Control or user-defined: matched whole by parse_special.
  bool IsSpecial(TokenId id) const;

  TokenId bos_id() const { return spec_.bos_id; }
  TokenId eos_id() const { return spec_.eos_id; }
  // End of turn: tokenizer.ggml.eot_token_id, else the first control token among
  // <|eot_id|>, <|im_end|>, <end_of_turn>, <|end|>, <|eom_id|>; else eos_id().
  TokenId eot_id() const { return eot_id_; }
  // Tokens that end generation: eos, eot and every end-of-turn control token the vocab has.
  const std::vector<TokenId>& stop_ids() const { return stop_ids_; }
  bool IsStop(TokenId id) const;

  const TokenizerSpec& spec() const { return spec_; }
  const std::string& chat_template() const { return spec_.chat_template; }

 private:
  Tokenizer() = default;
  void EncodeText(std::string_view text, std::vector<TokenId>& out) const;

  TokenizerSpec spec_;
  PieceMap pieces_;
  std::unique_ptr<PreTokenizer> pre_;      // gpt2 only
  std::unique_ptr<ByteLevelBpe> gpt2_;     // gpt2 only
  std::unique_ptr<SentencePieceBpe> spm_;  // llama only
  // Special tokens for parse_special, longest text first.
  std::vector<TokenId> specials_by_length_;
  std::array<bool, 256> special_first_byte_{};  // some special token starts with this byte
  std::vector<std::string> decoded_;            // [vocab_size] TokenBytes for non-special tokens
  bool strip_leading_space_ = false;
  TokenId eot_id_ = kNoToken;
  std::vector<TokenId> stop_ids_;
};

}  // namespace hearth::engine::tokenizer
