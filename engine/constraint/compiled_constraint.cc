#include "engine/constraint/compiled_constraint.h"

#include <algorithm>
#include <utility>

namespace hearth::constraint {

CompiledConstraint::CompiledConstraint(ConstraintSpec spec, Grammar grammar,
                                       std::shared_ptr<const TokenVocabulary> vocabulary)
    : spec_(std::move(spec)),
      grammar_(std::move(grammar)),
      vocabulary_(std::move(vocabulary)),
      stacks_(&grammar_) {}

ParserState CompiledConstraint::Initial() const {
  absl::MutexLock lock(&mu_);
  return stacks_.Initial();
}

bool CompiledConstraint::Advance(ParserState& state, std::string_view bytes) const {
  absl::MutexLock lock(&mu_);
  ParserState next;
  for (char c : bytes) {
    stacks_.Advance(state, static_cast<uint8_t>(c), &next);
    state.swap(next);
    if (state.empty()) return false;
  }
  return true;
}

std::shared_ptr<const TokenMask> CompiledConstraint::Mask(const ParserState& state) const {
  absl::MutexLock lock(&mu_);
  auto it = masks_.find(state);
  if (it != masks_.end()) {
    ++stats_.mask_hits;
    return it->second;
  }
  ++stats_.mask_misses;
  std::shared_ptr<const TokenMask> mask = ComputeMask(state);
  if (masks_.size() >= kMaxCachedMasks) masks_.clear();
  masks_.emplace(state, mask);
  return mask;
}

std::shared_ptr<const TokenMask> CompiledConstraint::ComputeMask(const ParserState& state) const {
  auto mask = std::make_shared<TokenMask>();
  const TokenVocabulary& v = *vocabulary_;
  mask->words.assign((static_cast<size_t>(v.size()) + 31) / 32, 0);
  if (!CanContinue(state)) return mask;

  const std::vector<int32_t>& sorted = v.sorted();
  const std::vector<uint16_t>& lcp = v.lcp();
  if (levels_.size() < v.max_token_bytes() + 1) levels_.resize(v.max_token_bytes() + 1);
  if (stacks_.num_states() > kMaxWalkStates) stacks_.ClearStates();
  levels_[0] = stacks_.InternState(state);
  size_t valid = 0;  // levels_[0, valid] hold the states after the current token's prefixes
  const size_t n = sorted.size();
  size_t k = 0;
  while (k < n) {
    const int32_t id = sorted[k];
    const std::string_view b = v.bytes(id);
    size_t d = std::min<size_t>(lcp[k], valid);
    bool ok = true;
    while (d < b.size()) {
      levels_[d + 1] = stacks_.Step(levels_[d], static_cast<uint8_t>(b[d]));
      if (levels_[d + 1] == StackTable::kRejected) {
        ok = false;
        break;
      }
      ++d;
    }
    if (ok) {
      mask->words[id >> 5] |= 1u << (id & 31);
      ++mask->num_allowed;
      valid = b.size();
      ++k;
      continue;
    }
    // b[0, d] is rejected: so is every following token that starts with it.
    valid = d;
    ++k;
    while (k < n && lcp[k] > d) ++k;
  }
  stats_.stack_nodes = stacks_.num_nodes();
  return mask;
}

CompiledConstraint::Stats CompiledConstraint::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.stack_nodes = stacks_.num_nodes();
  return s;
}

}  // namespace hearth::constraint
