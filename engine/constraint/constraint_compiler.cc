#include "engine/constraint/constraint_compiler.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/constraint/gbnf_parser.h"
#include "engine/constraint/json_schema_compiler.h"
#include "engine/constraint/regex_compiler.h"

namespace hearth::constraint {
namespace {

absl::StatusOr<Grammar> ChoiceGrammar(const std::vector<std::string>& choices) {
  if (choices.empty()) return absl::InvalidArgumentError("choice: needs at least one string");
  std::vector<Expr> alts;
  for (const std::string& c : choices) alts.push_back(Expr::Literal(c));
  GrammarBuilder b;
  const int32_t root = b.AddRule("root", Expr::Alt(std::move(alts)));
  absl::StatusOr<Grammar> g = std::move(b).Build(root);
  if (!g.ok()) return absl::InvalidArgumentError(absl::StrCat("choice: ", g.status().message()));
  return g;
}

// Cache key: the kind, then the text (choices length-prefixed so no two lists collide).
std::string CacheKey(const ConstraintSpec& spec) {
  std::string key = absl::StrCat(std::string(KindName(spec.kind)), ":");
  if (spec.kind == ConstraintSpec::Kind::kChoice) {
    for (const std::string& c : spec.choices) absl::StrAppend(&key, c.size(), ":", c);
  } else {
    absl::StrAppend(&key, spec.text);
  }
  return key;
}

}  // namespace

absl::StatusOr<Grammar> CompileGrammar(const ConstraintSpec& spec) {
  switch (spec.kind) {
    case ConstraintSpec::Kind::kJsonSchema:
      return JsonSchemaGrammar(spec.text);
    case ConstraintSpec::Kind::kJsonObject:
      return JsonObjectGrammar();
    case ConstraintSpec::Kind::kRegex:
      return RegexGrammar(spec.text);
    case ConstraintSpec::Kind::kChoice:
      return ChoiceGrammar(spec.choices);
    case ConstraintSpec::Kind::kGrammar:
      return ParseGbnf(spec.text);
  }
  return absl::InvalidArgumentError("constraint: unknown kind");
}

ConstraintCompiler::ConstraintCompiler(std::shared_ptr<const TokenVocabulary> vocabulary,
                                       size_t cache_capacity)
    : vocabulary_(std::move(vocabulary)), capacity_(cache_capacity) {}

absl::StatusOr<std::shared_ptr<const CompiledConstraint>> ConstraintCompiler::Compile(
    const ConstraintSpec& spec) {
  const std::string key = CacheKey(spec);
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++hits_;
      return it->second->second;
    }
  }
  absl::StatusOr<Grammar> grammar = CompileGrammar(spec);
  if (!grammar.ok()) return grammar.status();
  auto compiled =
      std::make_shared<const CompiledConstraint>(spec, *std::move(grammar), vocabulary_);
  absl::MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it != index_.end()) return it->second->second;  // another thread won
  lru_.emplace_front(key, compiled);
  index_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return compiled;
}

int64_t ConstraintCompiler::cache_hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

}  // namespace hearth::constraint
