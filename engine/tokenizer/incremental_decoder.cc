#include "engine/tokenizer/incremental_decoder.h"

#include "engine/tokenizer/unicode.h"

namespace hearth::engine::tokenizer {

IncrementalDecoder::IncrementalDecoder(const Tokenizer* tokenizer, DecodeOptions options)
    : tokenizer_(tokenizer), options_(options) {}

std::string IncrementalDecoder::Add(TokenId id) {
  std::string bytes = tokenizer_->TokenBytes(id, options_);
  if (bytes.empty()) return {};
  if (!seen_text_) {
    seen_text_ = true;
    if (tokenizer_->strips_leading_space() && bytes[0] == ' ') bytes.erase(0, 1);
  }
  pending_ += bytes;
  const size_t complete = CompleteUtf8Prefix(pending_);
  std::string delta = SanitizeUtf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return delta;
}

std::string IncrementalDecoder::Flush() {
  std::string tail = SanitizeUtf8(pending_);
  pending_.clear();
  seen_text_ = false;
  return tail;
}

}  // namespace hearth::engine::tokenizer
