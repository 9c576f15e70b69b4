// Small lexing helpers shared by the GBNF and regex front ends.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace hearth::constraint {

// Largest repetition count a front end accepts in {m,n} (larger bounds blow up the grammar).
inline constexpr int32_t kMaxRepeatCount = 10000;

// "line L column C" (1-based, columns in bytes) of byte offset `pos` in `text`.
std::string LineColumn(std::string_view text, size_t pos);

// Decodes the UTF-8 code point at `pos` and advances past it. InvalidArgument on malformed
// UTF-8 ("invalid UTF-8").
absl::StatusOr<uint32_t> DecodeUtf8(std::string_view text, size_t& pos);
void AppendUtf8(uint32_t cp, std::string* out);

// Exactly `digits` hex digits at `pos` (advances). InvalidArgument otherwise, or when the value
// is not a Unicode scalar value.
absl::StatusOr<uint32_t> ReadHex(std::string_view text, size_t& pos, int digits);

// A `{m}`, `{m,}` or `{m,n}` quantifier at `pos` (which is at '{'); advances past '}'. Returns
// {min, max} with max = Expr::kUnbounded (-1) for `{m,}`. InvalidArgument on bad syntax,
// m > n, or a count over kMaxRepeatCount.
absl::StatusOr<std::pair<int32_t, int32_t>> ParseBraces(std::string_view text, size_t& pos);

}  // namespace hearth::constraint
