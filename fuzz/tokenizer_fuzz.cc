// Fuzz target: tokenizer encode / decode on arbitrary bytes, with and without special-token
// parsing, with literal spans, on the default model's tokenizer (byte-level BPE) and on small
// synthetic byte-level and SentencePiece ones. Invariants checked:
//   - every id is in the vocabulary;
//   - Decode of valid-UTF-8 text encoded without special tokens gives the text back, when the
//     vocabulary has a token for each of its bytes (SmolLM2 lacks some control bytes, e.g.
//     0x14: they are dropped, as llama.cpp does; HF's tokenizer emits <|endoftext|> for them);
//   - Decode output is valid UTF-8, for arbitrary ids too;
//   - the incremental decoder's deltas + Flush equal Decode (its documented contract);
//   - special-token text inside a literal span covering everything is plain text.
#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_models.h"

using namespace hearth;
using engine::tokenizer::DecodeOptions;
using engine::tokenizer::EncodeOptions;
using engine::tokenizer::IncrementalDecoder;
using engine::tokenizer::TextSpan;
using engine::tokenizer::TokenId;
using engine::tokenizer::Tokenizer;

namespace {

bool ValidUtf8(std::string_view s) { return engine::tokenizer::SanitizeUtf8(s) == s; }

// Whether every byte of `text` has a byte-level token (computed once per tokenizer).
bool BytesRepresentable(const Tokenizer& tok, std::string_view text) {
  static std::map<const Tokenizer*, std::array<bool, 256>> tables;
  auto [it, inserted] = tables.try_emplace(&tok);
  if (inserted) {
    for (int b = 0; b < 256; ++b) {
      const std::string one(1, static_cast<char>(b));
      it->second[b] = !tok.Encode(one).empty();
    }
  }
  for (char c : text) {
    if (!it->second[static_cast<uint8_t>(c)]) return false;
  }
  return true;
}

void CheckIncremental(const Tokenizer& tok, const std::vector<TokenId>& ids, DecodeOptions o) {
  IncrementalDecoder decoder(&tok, o);
  std::string streamed;
  for (TokenId id : ids) {
    const std::string delta = decoder.Add(id);
    fuzz::Check(ValidUtf8(delta), "incremental delta is valid UTF-8");
    streamed += delta;
  }
  streamed += decoder.Flush();
  fuzz::Check(streamed == tok.Decode(ids, o), "incremental decode equals Decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return 0;  // long inputs add time, not coverage
  fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  const Tokenizer* tok = nullptr;
  switch (mode & 3) {
    case 1:
      tok = &fuzz::SyntheticGpt2Tokenizer();
      break;
    case 2:
      tok = &fuzz::SyntheticLlamaTokenizer();
      break;
    default:
      tok = fuzz::DefaultModelTokenizer();
      if (tok == nullptr) tok = &fuzz::SyntheticGpt2Tokenizer();
  }
  const DecodeOptions decode{.skip_special = (mode & 0x40) != 0};

  if (mode & 0x10) {  // arbitrary ids, some out of range
    std::vector<TokenId> ids;
    while (!in.Rest().empty()) {
      const std::string_view b = in.Take(3);
      uint32_t v = 0;
      for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
      ids.push_back(static_cast<TokenId>(v % (tok->vocab_size() + 16)) - 8);
    }
    fuzz::Check(ValidUtf8(tok->Decode(ids, decode)), "Decode is valid UTF-8");
    std::vector<TokenId> valid;
    for (TokenId id : ids) {
      if (id >= 0 && id < tok->vocab_size()) valid.push_back(id);
    }
    CheckIncremental(*tok, valid, decode);
    return 0;
  }

  std::vector<TextSpan> spans;
  if (mode & 0x20) {  // a few literal spans from the next bytes
    size_t at = 0;
    for (int i = 0, n = in.Byte() % 4; i < n; ++i) {
      const size_t begin = at + in.Byte() % 16;
      const size_t end = begin + 1 + in.Byte() % 32;
      spans.push_back({begin, end});
      at = end;
    }
  }
  const std::string_view text = in.Rest();
  const EncodeOptions options{.add_special = (mode & 0x08) != 0,
                              .parse_special = (mode & 0x04) != 0,
                              .literal_spans = spans};
  const std::vector<TokenId> ids = tok->Encode(text, options);
  for (TokenId id : ids) fuzz::Check(id >= 0 && id < tok->vocab_size(), "id in vocab");
  const std::string decoded = tok->Decode(ids, decode);
  fuzz::Check(ValidUtf8(decoded), "Decode is valid UTF-8");
  if (!options.add_special && !options.parse_special && ValidUtf8(text) &&
      BytesRepresentable(*tok, text)) {
    fuzz::Check(tok->Decode(ids, {.skip_special = false}) == text, "Decode(Encode(text)) == text");
  }
  CheckIncremental(*tok, ids, decode);
  const std::vector<TextSpan> everything = {{0, text.size()}};
  fuzz::Check(
      tok->Encode(text, {.parse_special = true, .literal_spans = everything}) == tok->Encode(text),
      "a literal span over the whole text disables special tokens");
  return 0;
}
