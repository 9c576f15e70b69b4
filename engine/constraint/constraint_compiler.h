// ConstraintSpec -> CompiledConstraint, with a cache keyed by the constraint's text, so the
// requests of a bot that sends the same schema every time compile it once and share its mask
// cache (see compiled_constraint.h).
//
//   ConstraintCompiler compiler(TokenVocabulary::FromTokenizer(tokenizer));
//   ASSIGN_OR_RETURN(auto compiled, compiler.Compile(spec));   // InvalidArgument on bad input
//   params.constraint = compiled;                              // sampler::SamplingParams
//
// Errors name the kind and the position: "json_schema: at /properties/side: ...",
// "regex: offset 4: ...", "grammar: line 2 column 7: ...", "choice: ...".
//
// Thread-safety: thread-safe (compile on any thread; a mutex guards the cache only, so two
// threads may compile the same text at once and one result wins).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/constraint/compiled_constraint.h"
#include "engine/constraint/constraint_spec.h"
#include "engine/constraint/grammar.h"
#include "engine/constraint/token_vocabulary.h"

namespace hearth::constraint {

// The grammar of `spec` alone (no vocabulary, no cache).
absl::StatusOr<Grammar> CompileGrammar(const ConstraintSpec& spec);

class ConstraintCompiler {
 public:
  explicit ConstraintCompiler(std::shared_ptr<const TokenVocabulary> vocabulary,
                              size_t cache_capacity = 32);

  absl::StatusOr<std::shared_ptr<const CompiledConstraint>> Compile(const ConstraintSpec& spec);

  const std::shared_ptr<const TokenVocabulary>& vocabulary() const { return vocabulary_; }
  int64_t cache_hits() const;

 private:
  const std::shared_ptr<const TokenVocabulary> vocabulary_;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<std::pair<std::string, std::shared_ptr<const CompiledConstraint>>> lru_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, decltype(lru_)::iterator> index_ ABSL_GUARDED_BY(mu_);
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hearth::constraint
