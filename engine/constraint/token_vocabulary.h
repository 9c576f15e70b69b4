// The model's vocabulary as the constraint matcher sees it: each token's bytes, and the tokens
// sorted by bytes with the length of the prefix each shares with its predecessor. Walking the
// sorted list with one parser state per depth visits the token trie depth-first, so a prefix
// the grammar rejects rejects every token below it at once (llama.cpp's and xgrammar's trie
// walk, flattened into arrays).
//
//   sorted:  "\"", "\"a", "\"ab", "\"b", "a", ...     lcp:  0, 1, 2, 1, 0, ...
//
// Special (control / user-defined) tokens and tokens without bytes are never allowed by a
// grammar; the sampler allows stop tokens separately where the grammar accepts.
//
// Thread-safety: immutable after Create; share it freely.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::constraint {

class TokenVocabulary {
 public:
  // `token_bytes[id]`: the bytes token `id` adds to the output; empty for tokens a grammar
  // must never produce (special tokens).
  static std::shared_ptr<const TokenVocabulary> Create(std::vector<std::string> token_bytes);

  int32_t size() const { return static_cast<int32_t>(bytes_.size()); }
  std::string_view bytes(int32_t id) const { return bytes_[id]; }
  // Tokens with bytes, sorted by bytes; lcp(i) = common prefix length of sorted(i) and
  // sorted(i - 1) (0 for i = 0).
  const std::vector<int32_t>& sorted() const { return sorted_; }
  const std::vector<uint16_t>& lcp() const { return lcp_; }
  size_t max_token_bytes() const { return max_len_; }

 private:
  TokenVocabulary() = default;
  std::vector<std::string> bytes_;
  std::vector<int32_t> sorted_;
  std::vector<uint16_t> lcp_;
  size_t max_len_ = 0;
};

}  // namespace hearth::constraint
