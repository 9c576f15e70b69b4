// The one grammar form every constraint compiles to: a context-free grammar over bytes.
//
// Front ends (GBNF, regex, JSON schema) build rule bodies as `Expr` trees through a
// GrammarBuilder; Build() flattens them into llama.cpp-style rules, each a list of
// alternatives, each a sequence of elements ending in kEnd:
//
//   elements: [ Bytes{0-9} Ref(r2) End | Bytes{-} End | ... ]
//   rule r1:  alternatives start at {0, 3}
//
// A position in `elements` is what the matcher's stacks hold. Repetitions become helper rules
// (`x*` is `h ::= x h | ""`, right-recursive, which the matcher runs in constant stack depth);
// character classes over code points become alternatives of UTF-8 byte-range sequences, so
// every accepted byte string is valid UTF-8 wherever the front end asked for characters.
//
// Build() rejects grammars whose closure would not terminate (left recursion through a
// non-tail reference) and references to undefined rules, naming the rule.
//
// Thread-safety: Grammar is immutable once built; GrammarBuilder is single-threaded.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::constraint {

// A set of byte values, as four 64-bit words.
struct ByteSet {
  std::array<uint64_t, 4> bits{};

  static ByteSet Of(uint8_t b) {
    ByteSet s;
    s.Add(b);
    return s;
  }
  static ByteSet Range(uint8_t lo, uint8_t hi) {
    ByteSet s;
    for (int b = lo; b <= hi; ++b) s.Add(static_cast<uint8_t>(b));
    return s;
  }
  void Add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  bool Has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  bool Empty() const { return (bits[0] | bits[1] | bits[2] | bits[3]) == 0; }
  bool operator==(const ByteSet&) const = default;
};

// A half-open-free inclusive range of Unicode code points.
struct CodePointRange {
  uint32_t lo = 0;
  uint32_t hi = 0;
};

// A rule body under construction.
struct Expr {
  enum class Kind { kEmpty, kBytes, kRef, kSeq, kAlt, kRepeat };
  Kind kind = Kind::kEmpty;
  ByteSet bytes;               // kBytes
  int32_t rule = -1;           // kRef
  std::vector<Expr> children;  // kSeq, kAlt; kRepeat: exactly one
  int32_t min = 0, max = 0;    // kRepeat; max == kUnbounded for no upper bound

  static constexpr int32_t kUnbounded = -1;

  static Expr Empty() { return Expr{}; }
  static Expr Bytes(ByteSet set);
  static Expr Byte(uint8_t b) { return Bytes(ByteSet::Of(b)); }
  // The bytes of `text` in sequence.
  static Expr Literal(std::string_view text);
  static Expr Ref(int32_t rule);
  static Expr Seq(std::vector<Expr> children);
  static Expr Alt(std::vector<Expr> children);
  static Expr Repeat(Expr child, int32_t min, int32_t max);
  static Expr Optional(Expr child) { return Repeat(std::move(child), 0, 1); }
  static Expr Star(Expr child) { return Repeat(std::move(child), 0, kUnbounded); }
  // Any one code point in `ranges` (merged and clipped to valid scalar values, surrogates
  // excluded), as UTF-8. Empty ranges give an expression that matches nothing.
  static Expr CodePoints(std::vector<CodePointRange> ranges);
};

// Sorted, merged, surrogate-free code point ranges: the complement of `ranges` in
// [0, 0x10FFFF] (used for negated classes).
std::vector<CodePointRange> NormalizeRanges(std::vector<CodePointRange> ranges);
std::vector<CodePointRange> ComplementRanges(const std::vector<CodePointRange>& ranges);

struct Element {
  enum class Kind : uint8_t { kBytes, kRef, kEnd };
  Kind kind = Kind::kEnd;
  int32_t arg = -1;  // kBytes: index into Grammar::byte_sets; kRef: rule index
};

struct Rule {
  std::string name;
  std::vector<int32_t> alternatives;  // start positions in Grammar::elements
};

struct Grammar {
  std::vector<Element> elements;
  std::vector<ByteSet> byte_sets;
  std::vector<Rule> rules;
  int32_t root = 0;

  // GBNF-like text of the flattened rules (for tests and error messages).
  std::string ToString() const;
};

// Largest grammar Build() accepts (elements); beyond it the constraint is rejected.
inline constexpr int64_t kMaxGrammarElements = 4'000'000;

class GrammarBuilder {
 public:
  // A new rule with no body yet (bodies may refer to rules declared later).
  int32_t DeclareRule(std::string name);
  // Sets (or replaces) the body of `rule`.
  void SetBody(int32_t rule, Expr body);
  int32_t AddRule(std::string name, Expr body) {
    const int32_t r = DeclareRule(std::move(name));
    SetBody(r, std::move(body));
    return r;
  }
  bool HasBody(int32_t rule) const { return has_body_[rule]; }
  const std::string& Name(int32_t rule) const { return names_[rule]; }
  int32_t num_rules() const { return static_cast<int32_t>(names_.size()); }

  // Flattens every rule. Errors (InvalidArgument, naming the rule): a rule without a body,
  // left recursion, a grammar over kMaxGrammarElements.
  absl::StatusOr<Grammar> Build(int32_t root) &&;

 private:
  std::vector<std::string> names_;
  std::vector<Expr> bodies_;
  std::vector<bool> has_body_;
};

}  // namespace hearth::constraint
