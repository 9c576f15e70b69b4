#include "engine/constraint/matcher.h"

#include <utility>

namespace hearth::constraint {
namespace {

const TokenMask& EmptyMask() {
  static const TokenMask* const kEmpty = new TokenMask();
  return *kEmpty;
}

}  // namespace

Matcher::Matcher(std::shared_ptr<const CompiledConstraint> compiled)
    : compiled_(std::move(compiled)), state_(compiled_->Initial()) {}

const TokenMask& Matcher::Mask() const {
  if (stopped_ || dead_) return EmptyMask();
  if (mask_ == nullptr) mask_ = compiled_->Mask(state_);
  return *mask_;
}

bool Matcher::Advance(int32_t token) {
  if (stopped_ || dead_) {
    dead_ = true;
    return false;
  }
  const TokenVocabulary& v = compiled_->vocabulary();
  if (token < 0 || token >= v.size() || v.bytes(token).empty() ||
      !compiled_->Advance(state_, v.bytes(token))) {
    dead_ = true;
    state_.clear();
    mask_.reset();
    return false;
  }
  mask_.reset();
  return true;
}

void Matcher::Stop() {
  if (!Accepting()) dead_ = true;
  stopped_ = true;
  mask_.reset();
}

}  // namespace hearth::constraint
