// Pre-tokenizers for byte-level BPE: split text into words before BPE runs on each word.
//
// A pre-tokenizer is a sequence of regexes applied "isolated" (as HF tokenizers' Split with
// behavior=Isolated): each regex splits every current piece into its matches and the gaps
// between them, all kept. Regexes are PCRE2 with UTF + UCP (+ JIT where available), so \p{L},
// \p{N}, \s and lookaheads behave as in HF tokenizers (Oniguruma) and llama.cpp.
//
// Supported `tokenizer.ggml.pre` names (see kPreTokenizerNames):
//   "default", "gpt2"   GPT-2's regex
//   "smollm"            \p{N} individually, then GPT-2's regex (HF: Digits(individual) +
//                       ByteLevel)
//   "llama-bpe"         Llama 3's regex (\p{N}{1,3}, case-insensitive contractions)
//   "qwen2"             Llama 3's regex with single digits
//
// Thread-safety: immutable after creation; Split() may be called concurrently (match data is
// per call).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::engine::tokenizer {

class PreTokenizer {
 public:
  // The names `Create` accepts, for error messages and docs.
  static const std::vector<std::string>& SupportedNames();

  // Pre-tokenizer for `tokenizer.ggml.pre` == `name` ("" means "default"). InvalidArgument
  // listing the supported names when unknown.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> Create(std::string_view name);
  // From explicit regexes (tests); InvalidArgument on a pattern PCRE2 rejects.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromPatterns(
      const std::vector<std::string>& patterns);

  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits `text` into non-empty consecutive pieces whose concatenation is `text`. Pieces
  // point into `text`. Invalid UTF-8 is tolerated (invalid bytes land in gap pieces).
  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  struct Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace hearth::engine::tokenizer
