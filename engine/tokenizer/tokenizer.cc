#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::engine::tokenizer {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581

// Byte value of a "<0xXX>" piece, or -1.
int ParseByteToken(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string ByteLevelDecode(std::string_view piece) {
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    size_t len = ValidUtf8Length(piece.substr(i));
    if (len == 0) len = 1;
    const int b = len == 1 && static_cast<uint8_t>(piece[i]) >= 0x80
                      ? -1
                      : UnicodeToByte(DecodeUtf8(piece.substr(i), len));
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      out.append(piece.substr(i, len));  // not a byte-level code point: keep as text
    }
    i += len;
  }
  return out;
}

std::string SentencePieceDecode(std::string_view piece, TokenType type) {
  const int byte = ParseByteToken(piece);
  if (byte >= 0 && (type == TokenType::kByte || type == TokenType::kNormal)) {
    return std::string(1, static_cast<char>(byte));
  }
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.substr(i, kSpaceMarker.size()) == kSpaceMarker) {
      out += ' ';
      i += kSpaceMarker.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

absl::Status CheckId(std::string_view name, TokenId id, size_t vocab_size) {
  if (id != kNoToken && (id < 0 || static_cast<size_t>(id) >= vocab_size)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer ", ToAbsl(name), " id ", id,
                                                   " out of range [0, ", vocab_size, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromSpec(TokenizerSpec spec) {
  const size_t n = spec.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("tokenizer has an empty vocabulary");
  if (!spec.scores.empty() && spec.scores.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer has ", spec.scores.size(), " scores for ", n, " tokens"));
  }
  if (spec.types.empty()) spec.types.assign(n, TokenType::kNormal);
  if (spec.types.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer has ", spec.types.size(), " token types for ", n, " tokens"));
  }
  RETURN_IF_ERROR(CheckId("bos", spec.bos_id, n));
  RETURN_IF_ERROR(CheckId("eos", spec.eos_id, n));
  RETURN_IF_ERROR(CheckId("eot", spec.eot_id, n));
  RETURN_IF_ERROR(CheckId("unknown", spec.unk_id, n));
  RETURN_IF_ERROR(CheckId("padding", spec.pad_id, n));

  auto tok = std::unique_ptr<Tokenizer>(new Tokenizer());
  tok->spec_ = std::move(spec);
  const TokenizerSpec& s = tok->spec_;
  tok->pieces_.reserve(n);
  for (size_t i = 0; i < n; ++i) tok->pieces_.try_emplace(s.tokens[i], static_cast<TokenId>(i));

  if (s.model == TokenizerModel::kGpt2) {
    if (s.merges.empty()) return absl::InvalidArgumentError("gpt2 tokenizer has no merges");
    ASSIGN_OR_RETURN(tok->pre_, PreTokenizer::Create(s.pre));
    ASSIGN_OR_RETURN(tok->gpt2_,
                     ByteLevelBpe::Create(&tok->pieces_, s.merges, s.pre == "llama-bpe"));
  } else {
    ASSIGN_OR_RETURN(tok->spm_, SentencePieceBpe::Create(&tok->pieces_, s.scores, s.unk_id));
    tok->strip_leading_space_ = s.add_space_prefix;
  }

  tok->decoded_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (s.types[i] == TokenType::kControl || s.types[i] == TokenType::kUnknown ||
        s.types[i] == TokenType::kUserDefined) {
      tok->decoded_[i] = s.tokens[i];  // verbatim
    } else if (s.model == TokenizerModel::kGpt2) {
      tok->decoded_[i] = ByteLevelDecode(s.tokens[i]);
    } else {
      tok->decoded_[i] = SentencePieceDecode(s.tokens[i], s.types[i]);
    }
  }

  for (size_t i = 0; i < n; ++i) {
    if (tok->IsSpecial(static_cast<TokenId>(i)) && !s.tokens[i].empty()) {
      tok->specials_by_length_.push_back(static_cast<TokenId>(i));
      tok->special_first_byte_[static_cast<uint8_t>(s.tokens[i][0])] = true;
    }
  }
  std::stable_sort(tok->specials_by_length_.begin(), tok->specials_by_length_.end(),
                   [&](TokenId a, TokenId b) { return s.tokens[a].size() > s.tokens[b].size(); });

  // End of turn and stop tokens.
  std::vector<TokenId> end_of_turn;
  for (std::string_view name :
       {"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|eom_id|>", "<|endoftext|>"}) {
    const TokenId id = tok->PieceToId(name);
    if (id != kNoToken && s.types[id] == TokenType::kControl) end_of_turn.push_back(id);
  }
  tok->eot_id_ = s.eot_id != kNoToken   ? s.eot_id
                 : !end_of_turn.empty() ? end_of_turn.front()
                                        : s.eos_id;
  for (TokenId id : {s.eos_id, tok->eot_id_}) {
    if (id != kNoToken) tok->stop_ids_.push_back(id);
  }
  tok->stop_ids_.insert(tok->stop_ids_.end(), end_of_turn.begin(), end_of_turn.end());
  std::sort(tok->stop_ids_.begin(), tok->stop_ids_.end());
  tok->stop_ids_.erase(std::unique(tok->stop_ids_.begin(), tok->stop_ids_.end()),
                       tok->stop_ids_.end());
  return tok;
}

TokenId Tokenizer::PieceToId(std::string_view piece) const {
  auto it = pieces_.find(ToAbsl(piece));
  return it == pieces_.end() ? kNoToken : it->second;
}

TokenType Tokenizer::type(TokenId id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::kUndefined;
  return spec_.types[id];
}

bool Tokenizer::IsSpecial(TokenId id) const {
  const TokenType t = type(id);
  return t == TokenType::kControl || t == TokenType::kUserDefined;
}

bool Tokenizer::IsStop(TokenId id) const {
  return std::binary_search(stop_ids_.begin(), stop_ids_.end(), id);
}

void Tokenizer::EncodeText(std::string_view text, std::vector<TokenId>& out) const {
  if (text.empty()) return;
  if (gpt2_ != nullptr) {
    for (std::string_view word : pre_->Split(text)) gpt2_->EncodeWord(word, out);
    return;
  }
  std::string escaped;
  escaped.reserve(text.size() + 8);
  if (spec_.add_space_prefix) escaped += kSpaceMarker;
  for (char c : text) {
    if (c == ' ') {
      escaped += kSpaceMarker;
    } else {
      escaped += c;
    }
  }
  spm_->Encode(escaped, out);
}

std::vector<TokenId> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (options.add_special && spec_.add_bos && spec_.bos_id != kNoToken) {
    out.push_back(spec_.bos_id);
  }
  if (!options.parse_special || specials_by_length_.empty()) {
    EncodeText(text, out);
  } else {
    // Leftmost-longest match of special token texts (as HF's added-vocabulary trie).
    const std::span<const TextSpan> literal = options.literal_spans;
    size_t next_literal = 0;  // first literal span not entirely before pos
    size_t segment_start = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      if (!special_first_byte_[static_cast<uint8_t>(text[pos])]) {
        ++pos;
        continue;
      }
      while (next_literal < literal.size() && literal[next_literal].end <= pos) ++next_literal;
      TokenId match = kNoToken;
      for (TokenId id : specials_by_length_) {
        const std::string& piece = spec_.tokens[id];
        if (piece[0] == text[pos] && text.substr(pos, piece.size()) == piece) {
          // Inside (or reaching into) a literal span: text, not a token. A shorter special
          // token could still fit before the span.
          if (next_literal < literal.size() && literal[next_literal].begin < pos + piece.size()) {
            continue;
          }
          match = id;
          break;
        }
      }
      if (match == kNoToken) {
        ++pos;
        continue;
      }
      EncodeText(text.substr(segment_start, pos - segment_start), out);
      out.push_back(match);
      pos += spec_.tokens[match].size();
      segment_start = pos;
    }
    EncodeText(text.substr(segment_start), out);
  }
  if (options.add_special && spec_.add_eos && spec_.eos_id != kNoToken) {
    out.push_back(spec_.eos_id);
  }
  return out;
}

std::string Tokenizer::TokenBytes(TokenId id, const DecodeOptions& options) const {
  if (id < 0 || id >= vocab_size()) return {};
  const TokenType t = spec_.types[id];
  if (options.skip_special && (t == TokenType::kControl || t == TokenType::kUnknown)) return {};
  return decoded_[id];
}

std::string Tokenizer::Decode(std::span<const TokenId> ids, const DecodeOptions& options) const {
  std::string bytes;
  for (TokenId id : ids) bytes += TokenBytes(id, options);
  if (strip_leading_space_ && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return SanitizeUtf8(bytes);
}

}  // namespace hearth::engine::tokenizer
