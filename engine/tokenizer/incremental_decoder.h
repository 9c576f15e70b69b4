// Streaming detokenization: feed generated token ids one at a time, get text deltas.
//
// Invariants:
//   - every delta is valid UTF-8; bytes of a character split across tokens (e.g. <0xE4><0xB8>
//     <0xAD> byte-fallback tokens, or a byte-level emoji split over two BPE tokens) are held
//     back until the character completes;
//   - concat(Add(id) for id in ids) + Flush() == tokenizer.Decode(ids) (same DecodeOptions);
//   - Flush() turns an incomplete tail into U+FFFD.
//
// Thread-safety: not thread-safe (one per sequence). The Tokenizer must outlive it.
#pragma once

#include <string>

#include "engine/tokenizer/tokenizer.h"

namespace hearth::engine::tokenizer {

class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer* tokenizer, DecodeOptions options = {});

  // Text completed by `id` (possibly empty).
  std::string Add(TokenId id);
  // Whatever is held back, with an incomplete sequence replaced by U+FFFD; then resets to the
  // start-of-text state.
  std::string Flush();
  // Bytes currently held back (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  DecodeOptions options_;
  std::string pending_;
  bool seen_text_ = false;  // for the llama leading-space strip
};

}  // namespace hearth::engine::tokenizer
