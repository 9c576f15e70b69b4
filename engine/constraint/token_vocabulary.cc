#include "engine/constraint/token_vocabulary.h"

#include <algorithm>

namespace hearth::constraint {

std::shared_ptr<const TokenVocabulary> TokenVocabulary::Create(
    std::vector<std::string> token_bytes) {
  std::shared_ptr<TokenVocabulary> v(new TokenVocabulary());
  v->bytes_ = std::move(token_bytes);
  for (size_t i = 0; i < v->bytes_.size(); ++i) {
    // Tokens longer than 65535 bytes cannot occur in practice; cap to keep lcp in 16 bits.
    if (v->bytes_[i].size() > 0xFFFF) v->bytes_[i].clear();
    if (!v->bytes_[i].empty()) v->sorted_.push_back(static_cast<int32_t>(i));
  }
  const auto& b = v->bytes_;
  std::sort(v->sorted_.begin(), v->sorted_.end(),
            [&b](int32_t x, int32_t y) { return b[x] < b[y] || (b[x] == b[y] && x < y); });
  v->lcp_.resize(v->sorted_.size());
  for (size_t i = 0; i < v->sorted_.size(); ++i) {
    const std::string& cur = b[v->sorted_[i]];
    v->max_len_ = std::max(v->max_len_, cur.size());
    if (i == 0) continue;
    const std::string& prev = b[v->sorted_[i - 1]];
    size_t k = 0;
    while (k < cur.size() && k < prev.size() && cur[k] == prev[k]) ++k;
    v->lcp_[i] = static_cast<uint16_t>(k);
  }
  return v;
}

}  // namespace hearth::constraint
