// Regular expressions (the common Python `re` / ECMAScript subset) -> grammar expressions.
//
// Supported: literals (UTF-8), `.` (any character but \n), classes `[a-z]`, `[^...]`, escapes
// \d \w \s \D \W \S \n \r \t \f \v \0 \xHH \uHHHH \UHHHHHHHH and escaped punctuation, groups
// `(...)`, `(?:...)`, `(?P<name>...)`, `(?<name>...)`, alternation `|`, quantifiers `* + ? {m}
// {m,} {m,n} {,n}` (a lazy `?` suffix is accepted: it changes no match's language), and `^` /
// `$` at the very start / end (the whole output must match: Python's re.fullmatch).
// Rejected with the offset: backreferences, lookaround, \b \B, inline flags, possessive
// quantifiers, anchors elsewhere.
//
// \d \w \s are ASCII ([0-9], [A-Za-z0-9_], [ \t\n\r\f\v]) and their negations (and negated
// classes that use them) are ASCII too: a subset of what Python's Unicode-aware classes
// accept, so every generated string matches under Python.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/constraint/grammar.h"

namespace hearth::constraint {

struct RegexOptions {
  // Generate the contents of a JSON string whose decoded value matches: `"`, `\` and control
  // characters are emitted as JSON escapes (JSON schema `pattern`).
  bool json_string = false;
};

// Errors: InvalidArgument "offset N: <problem>" (N is a byte offset into `pattern`).
absl::StatusOr<Expr> CompileRegex(std::string_view pattern, const RegexOptions& options = {});

// A grammar whose language is the strings `pattern` fully matches. Errors as above, prefixed
// with "regex: ".
absl::StatusOr<Grammar> RegexGrammar(std::string_view pattern);

// One character of `ranges` as it appears inside a JSON string literal (escaping `"`, `\` and
// control characters).
Expr JsonStringChars(const std::vector<CodePointRange>& ranges);

}  // namespace hearth::constraint
