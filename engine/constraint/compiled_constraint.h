// A constraint ready to run: its grammar, the model's vocabulary, and the caches every matcher
// of this constraint shares (interned parser stacks, and one vocabulary mask per parser state).
//
// Per decode step a matcher asks Mask(state). A hit is one hash lookup; a miss walks the sorted
// vocabulary (the token trie) from that state once, as xgrammar's adaptive mask cache does per
// state, and is then shared by every stream under the same constraint: a JSON string's body,
// a number's digits or an enum's prefix are the same state in every request, so after the
// first few requests nearly every step is a hit.
//
//   Mask(state):  cache[state] ──hit──▶ mask
//                      └─miss─▶ walk sorted tokens; depth d keeps the state after d bytes;
//                               a rejected byte skips every token sharing that prefix
//
// The cache holds at most kMaxCachedMasks masks (then starts over); stacks are interned for the
// life of the object. Compilation (ConstraintCompiler) caches these objects by constraint text.
//
// Thread-safety: thread-safe (one mutex around the shared tables); immutable grammar.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/constraint/constraint_spec.h"
#include "engine/constraint/grammar.h"
#include "engine/constraint/stack_table.h"
#include "engine/constraint/token_vocabulary.h"

namespace hearth::constraint {

// Allowed tokens, one bit each: bit t of words[t / 32].
struct TokenMask {
  std::vector<uint32_t> words;
  int32_t num_allowed = 0;
  bool Allowed(int32_t t) const {
    return t >= 0 && static_cast<size_t>(t >> 5) < words.size() &&
           ((words[t >> 5] >> (t & 31)) & 1);
  }
};

// A parser state: sorted stack node ids; StackTable::kAccept (0) first when the text so far is
// a complete match.
using ParserState = std::vector<int32_t>;

inline constexpr size_t kMaxCachedMasks = 1024;
// Interned trie-walk states kept between mask computations, 1 KiB of transitions each (then
// they start over).
inline constexpr size_t kMaxWalkStates = 4096;

class CompiledConstraint {
 public:
  CompiledConstraint(ConstraintSpec spec, Grammar grammar,
                     std::shared_ptr<const TokenVocabulary> vocabulary);
  CompiledConstraint(const CompiledConstraint&) = delete;
  CompiledConstraint& operator=(const CompiledConstraint&) = delete;

  const ConstraintSpec& spec() const { return spec_; }
  const Grammar& grammar() const { return grammar_; }
  const TokenVocabulary& vocabulary() const { return *vocabulary_; }

  ParserState Initial() const;
  // Consumes `bytes`; false when one is rejected (then `state` is empty: a dead state).
  bool Advance(ParserState& state, std::string_view bytes) const;
  static bool Accepting(const ParserState& s) { return !s.empty() && s[0] == StackTable::kAccept; }
  // True when some byte may still follow.
  static bool CanContinue(const ParserState& s) { return s.size() > (Accepting(s) ? 1u : 0u); }
  // Tokens (by their bytes) the grammar allows next from `state`; cached per state.
  std::shared_ptr<const TokenMask> Mask(const ParserState& state) const;

  struct Stats {
    int64_t mask_hits = 0;
    int64_t mask_misses = 0;
    size_t stack_nodes = 0;
  };
  Stats stats() const;

 private:
  std::shared_ptr<const TokenMask> ComputeMask(const ParserState& state) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ConstraintSpec spec_;
  const Grammar grammar_;
  const std::shared_ptr<const TokenVocabulary> vocabulary_;

  mutable absl::Mutex mu_;
  mutable StackTable stacks_ ABSL_GUARDED_BY(mu_);
  mutable absl::flat_hash_map<ParserState, std::shared_ptr<const TokenMask>> masks_
      ABSL_GUARDED_BY(mu_);
  mutable Stats stats_ ABSL_GUARDED_BY(mu_);
  // Per-depth state ids of the trie walk, reused across misses.
  mutable std::vector<int32_t> levels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hearth::constraint
