// Small UTF-8 helpers and GPT-2's byte <-> unicode mapping. No tables beyond 256 entries.
//
// Thread-safety: all functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace hearth::engine::tokenizer {

// Debian's Abseil has its own string_view type: convert at absl call sites.
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

// Appends the UTF-8 encoding of `cp` (REQUIRES: cp <= 0x10FFFF).
void AppendUtf8(char32_t cp, std::string& out);

// Length in bytes of the UTF-8 sequence starting at s[0] when it is a complete, valid sequence
// within `s`; 0 when s is empty, the lead byte is invalid, the sequence is truncated, or it is
// overlong / a surrogate / above U+10FFFF.
size_t ValidUtf8Length(std::string_view s);

// Decodes the valid sequence at s[0] (REQUIRES: ValidUtf8Length(s) == len > 0).
char32_t DecodeUtf8(std::string_view s, size_t len);

// Number of leading bytes of `s` that form complete valid characters, not counting a final
// incomplete-but-so-far-valid sequence (which the caller should hold back). Invalid bytes
// in the middle count as complete (they will never become valid).
size_t CompleteUtf8Prefix(std::string_view s);

// Replaces every invalid or truncated sequence with U+FFFD (one per maximal invalid subpart).
std::string SanitizeUtf8(std::string_view s);

// GPT-2 byte-level mapping: each byte to one printable code point (UTF-8 encoded).
const std::string& ByteToUnicode(uint8_t b);
// Inverse: code point to byte, or -1 when `cp` is not in the mapping's image.
int UnicodeToByte(char32_t cp);

}  // namespace hearth::engine::tokenizer
