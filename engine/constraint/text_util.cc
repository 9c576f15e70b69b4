#include "engine/constraint/text_util.h"

#include "absl/strings/str_cat.h"

namespace hearth::constraint {

std::string LineColumn(std::string_view text, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return absl::StrCat("line ", line, " column ", col);
}

absl::StatusOr<uint32_t> DecodeUtf8(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t b0 = byte(pos);
  int n = 0;
  uint32_t cp = 0;
  if (b0 < 0x80) {
    ++pos;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    n = 1, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 2, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 3, cp = b0 & 0x07;
  } else {
    return absl::InvalidArgumentError("invalid UTF-8");
  }
  if (pos + n >= text.size()) {
    return absl::InvalidArgumentError("invalid UTF-8 (truncated)");
  }
  for (int i = 1; i <= n; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return absl::InvalidArgumentError("invalid UTF-8");
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return absl::InvalidArgumentError("invalid UTF-8");
  }
  pos += n + 1;
  return cp;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

absl::StatusOr<uint32_t> ReadHex(std::string_view text, size_t& pos, int digits) {
  uint32_t v = 0;
  for (int i = 0; i < digits; ++i) {
    if (pos >= text.size()) return absl::InvalidArgumentError("incomplete hex escape");
    const char c = text[pos];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("expected ", digits, " hex digits in the escape"));
    }
    v = v * 16 + static_cast<uint32_t>(d);
    ++pos;
  }
  if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    return absl::InvalidArgumentError("the escape is not a Unicode scalar value");
  }
  return v;
}

absl::StatusOr<std::pair<int32_t, int32_t>> ParseBraces(std::string_view text, size_t& pos) {
  size_t p = pos + 1;
  auto number = [&](int64_t* out) {
    const size_t start = p;
    int64_t v = 0;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      v = v * 10 + (text[p] - '0');
      if (v > kMaxRepeatCount) v = kMaxRepeatCount + 1;
      ++p;
    }
    *out = v;
    return p > start;
  };
  int64_t min = 0, max = 0;
  if (!number(&min)) return absl::InvalidArgumentError("expected a count after '{'");
  max = min;
  if (p < text.size() && text[p] == ',') {
    ++p;
    if (!number(&max)) max = -1;
  }
  if (p >= text.size() || text[p] != '}') {
    return absl::InvalidArgumentError("expected '}' to close the repetition count");
  }
  if (min > kMaxRepeatCount || max > kMaxRepeatCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("repetition count over ", kMaxRepeatCount, " is not supported"));
  }
  if (max >= 0 && max < min) {
    return absl::InvalidArgumentError("repetition {m,n} needs m <= n");
  }
  pos = p + 1;
  return std::make_pair(static_cast<int32_t>(min), static_cast<int32_t>(max));
}

}  // namespace hearth::constraint
