#include "engine/tokenizer/bpe.h"

#include <queue>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizer/unicode.h"

namespace hearth::engine::tokenizer {
namespace {

TokenId Lookup(const PieceMap& pieces, std::string_view text) {
  auto it = pieces.find(ToAbsl(text));
  return it == pieces.end() ? kNoToken : it->second;
}

uint64_t PairKey(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// One symbol of the word being merged: a doubly linked list over a vector.
struct Symbol {
  TokenId id;
  uint32_t start;  // byte offset (SentencePiece) of the symbol's text
  uint32_t len;
  int32_t prev;
  int32_t next;  // -1 at the ends
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// ByteLevelBpe

absl::StatusOr<std::unique_ptr<ByteLevelBpe>> ByteLevelBpe::Create(
    const PieceMap* pieces, const std::vector<std::string>& merges, bool ignore_merges) {
  auto bpe = std::unique_ptr<ByteLevelBpe>(new ByteLevelBpe());
  bpe->pieces_ = pieces;
  bpe->ignore_merges_ = ignore_merges;
  for (int b = 0; b < 256; ++b) {
    bpe->byte_ids_[b] = Lookup(*pieces, ByteToUnicode(static_cast<uint8_t>(b)));
  }
  bpe->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& line = merges[rank];
    const size_t space = line.find(' ', 1);
    if (space == std::string::npos || space + 1 >= line.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer merge ", rank, " is not 'left right': '", line, "'"));
    }
    const std::string_view left(line.data(), space);
    const std::string_view right(line.data() + space + 1, line.size() - space - 1);
    const TokenId l = Lookup(*pieces, left);
    const TokenId r = Lookup(*pieces, right);
    std::string joined(left);
    joined += right;
    const TokenId m = Lookup(*pieces, joined);
    if (l == kNoToken || r == kNoToken || m == kNoToken) continue;  // HF skips these too
    bpe->merges_.try_emplace(PairKey(l, r), Merge{static_cast<int32_t>(rank), m});
  }
  return bpe;
}

void ByteLevelBpe::EncodeWord(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(ToAbsl(word));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<TokenId> ids;
  EncodeUncached(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() >= kCacheCapacity) cache_.clear();
  cache_.try_emplace(std::string(word), std::move(ids));
}

void ByteLevelBpe::EncodeUncached(std::string_view word, std::vector<TokenId>& out) const {
  if (ignore_merges_) {
    std::string mapped;
    for (char c : word) mapped += ByteToUnicode(static_cast<uint8_t>(c));
    const TokenId whole = Lookup(*pieces_, mapped);
    if (whole != kNoToken) {
      out.push_back(whole);
      return;
    }
  }
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (char c : word) {
    const TokenId id = byte_ids_[static_cast<uint8_t>(c)];
    if (id == kNoToken) continue;  // not representable: dropped, as HF does without unk
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, 0, 1, index - 1, index + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int32_t rank;
    int32_t left;  // symbol index
    TokenId left_id, right_id, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto push = [&](int32_t left) {
    if (left < 0) return;  // the first symbol has no left neighbour
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, symbols[left].id, symbols[right].id, it->second.merged});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push(i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    if (left.len == 0 || left.id != c.left_id || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != c.right_id) continue;
    left.id = c.merged;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    push(left.prev);
    push(c.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

// ---------------------------------------------------------------------------------------------
// SentencePieceBpe

absl::StatusOr<std::unique_ptr<SentencePieceBpe>> SentencePieceBpe::Create(
    const PieceMap* pieces, const std::vector<float>& scores, TokenId unk_id) {
  auto bpe = std::unique_ptr<SentencePieceBpe>(new SentencePieceBpe());
  bpe->pieces_ = pieces;
  bpe->scores_ = scores;
  bpe->unk_id_ = unk_id;
  for (int b = 0; b < 256; ++b) {
    bpe->byte_ids_[b] = Lookup(*pieces, absl::StrFormat("<0x%02X>", b));
  }
  return bpe;
}

void SentencePieceBpe::Encode(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t len = ValidUtf8Length(text.substr(i));
    if (len == 0) len = 1;  // an invalid byte stands alone (and falls back to <0xXX>)
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({Lookup(*pieces_, text.substr(i, len)), static_cast<uint32_t>(i),
                       static_cast<uint32_t>(len), index - 1, index + 1});
    i += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    float score;
    TokenId merged;
    int32_t left, right;
    uint32_t len;                               // left.len + right.len when queued
    bool operator<(const Candidate& o) const {  // "lower priority than"
      if (score != o.score) return score < o.score;
      if (merged != o.merged) return merged > o.merged;
      return left > o.left;
    }
  };
  std::priority_queue<Candidate> queue;
  auto push = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    if (l.id == kNoToken || r.id == kNoToken) return;  // unknown characters never merge
    const TokenId merged = Lookup(*pieces_, text.substr(l.start, l.len + r.len));
    if (merged == kNoToken) return;
    const float score = merged < static_cast<TokenId>(scores_.size()) ? scores_[merged] : 0.0f;
    queue.push({score, merged, left, right, l.len + r.len});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push(i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    if (left.len == 0 || left.next != c.right) continue;
    Symbol& right = symbols[c.right];
    if (left.len + right.len != c.len) continue;
    left.id = c.merged;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    push(left.prev);
    push(c.left);
  }

  bool last_was_unk = false;
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id != kNoToken) {
      out.push_back(s.id);
      last_was_unk = false;
      continue;
    }
    bool have_bytes = true;
    for (uint32_t k = 0; k < s.len; ++k) {
      have_bytes &= byte_ids_[static_cast<uint8_t>(text[s.start + k])] != kNoToken;
    }
    if (have_bytes) {
      for (uint32_t k = 0; k < s.len; ++k) {
        out.push_back(byte_ids_[static_cast<uint8_t>(text[s.start + k])]);
      }
      last_was_unk = false;
    } else if (unk_id_ != kNoToken && !last_was_unk) {
      out.push_back(unk_id_);
      last_was_unk = true;
    }
  }
}

}  // namespace hearth::engine::tokenizer
