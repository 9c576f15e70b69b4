// GBNF (llama.cpp's grammar format) -> Grammar. The accepted syntax, as in llama.cpp's
// grammars/README.md:
//
//   root  ::= "{" ws pair ("," ws pair)* "}"     # a rule per line; `root` is the start
//   pair  ::= [a-z]+ ":" ws ( num | "null" )      # alternatives `|`, grouping `( )`
//   num   ::= "-"? [0-9]{1,6}                     # postfix * + ? {m} {m,} {m,n}
//   ws    ::= [ \t\n]*                            # [^...] negated classes, `.` any character
//
// Literals and classes take the escapes \n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH; their
// characters are Unicode code points (matched as UTF-8). A rule continues on the next line
// after `|` or inside parentheses. Comments run from `#` to the end of the line.
//
// Errors (InvalidArgument): "grammar: line L column C: <problem>" for syntax errors,
// undefined rules (at their first use), a missing root, left recursion.
//
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/constraint/grammar.h"

namespace hearth::constraint {

absl::StatusOr<Grammar> ParseGbnf(std::string_view text);

}  // namespace hearth::constraint
