#include "engine/tokenizer/unicode.h"

#include <array>

namespace hearth::engine::tokenizer {
namespace {

// Length of a valid maximal prefix of a UTF-8 sequence at s[0] (Unicode's "maximal subpart"),
// and whether it is complete. For an invalid lead byte: {1, false}.
struct Utf8Probe {
  size_t length;  // bytes examined that belong to this (possibly partial) sequence, >= 1
  bool complete;
};

Utf8Probe Probe(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return {1, true};
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {1, false};
  }
  size_t i = 1;
  for (; i < need && i < s.size(); ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    const uint8_t l = i == 1 ? lo : 0x80;
    const uint8_t h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) return {i, false};
  }
  return {i, i == need};
}

std::array<std::string, 256> BuildByteToUnicode() {
  std::array<std::string, 256> table;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
    AppendUtf8(cp, table[b]);
  }
  return table;
}

}  // namespace

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t ValidUtf8Length(std::string_view s) {
  if (s.empty()) return 0;
  const Utf8Probe p = Probe(s);
  return p.complete ? p.length : 0;
}

char32_t DecodeUtf8(std::string_view s, size_t len) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (len == 1) return b0;
  char32_t cp = b0 & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<uint8_t>(s[i]) & 0x3F);
  return cp;
}

size_t CompleteUtf8Prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const Utf8Probe p = Probe(s.substr(i));
    // A valid-so-far sequence cut off by the end of `s`: hold it back.
    if (!p.complete && i + p.length == s.size() && static_cast<uint8_t>(s[i]) >= 0xC2 &&
        static_cast<uint8_t>(s[i]) <= 0xF4) {
      return i;
    }
    i += p.length;
  }
  return i;
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const Utf8Probe p = Probe(s.substr(i));
    if (p.complete) {
      out.append(s.substr(i, p.length));
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += p.length;
  }
  return out;
}

const std::string& ByteToUnicode(uint8_t b) {
  static const std::array<std::string, 256> table = BuildByteToUnicode();
  return table[b];
}

int UnicodeToByte(char32_t cp) {
  static const std::array<int, 512> inverse = [] {
    std::array<int, 512> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) {
      const std::string& u = ByteToUnicode(static_cast<uint8_t>(b));
      inv[DecodeUtf8(u, u.size())] = b;
    }
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

}  // namespace hearth::engine::tokenizer
