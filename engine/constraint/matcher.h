// One output's progress through a compiled constraint: the parser state after the tokens so
// far, the mask of tokens allowed next, and whether the output is a complete match.
//
//   Matcher m(compiled);
//   loop: mask = m.Mask()            (tokens whose bytes the grammar allows next)
//         stop tokens allowed iff m.Accepting()
//         sample t; m.Advance(t) or m.Stop()
//
// Thread-safety: not thread-safe; one per sequence (the CompiledConstraint it shares is).
// Copyable: copies continue independently.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/constraint/compiled_constraint.h"

namespace hearth::constraint {

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledConstraint> compiled);

  // Tokens allowed next by their bytes (never special tokens). Empty once stopped or dead.
  const TokenMask& Mask() const;
  // The output so far is a complete match (a stop token may end it here).
  bool Accepting() const { return !stopped_ && CompiledConstraint::Accepting(state_); }
  // Some byte may still follow.
  bool CanContinue() const { return !stopped_ && CompiledConstraint::CanContinue(state_); }
  // A token the grammar rejected was appended: nothing is allowed any more.
  bool dead() const { return dead_; }
  bool stopped() const { return stopped_; }

  // Consumes `token`'s bytes. False when they are not allowed (the matcher is dead then).
  bool Advance(int32_t token);
  // The output ended with a stop token (EOS): fine while Accepting(), else the matcher is dead.
  void Stop();

  const CompiledConstraint& compiled() const { return *compiled_; }

 private:
  std::shared_ptr<const CompiledConstraint> compiled_;
  ParserState state_;
  mutable std::shared_ptr<const TokenMask> mask_;  // for state_; null until asked
  bool dead_ = false;
  bool stopped_ = false;
};

}  // namespace hearth::constraint
