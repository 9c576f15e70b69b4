#include "engine/tokenizer/unicode.h"

#include <string>

#include "gtest/gtest.h"

namespace hearth::engine::tokenizer {
namespace {

TEST(UnicodeTest, ValidUtf8LengthTable) {
  struct Case {
    std::string bytes;
    size_t want;
  } cases[] = {
      {"", 0},
      {"a", 1},
      {"\xC3\xA9", 2},          // é
      {"\xE4\xB8\xAD", 3},      // 中
      {"\xF0\x9F\x98\x80", 4},  // 😀
      {"\xF0\x9F\x98", 0},      // truncated
      {"\xC0\xAF", 0},          // overlong
      {"\xED\xA0\x80", 0},      // surrogate
      {"\xF4\x90\x80\x80", 0},  // > U+10FFFF
      {"\x80", 0},              // lone continuation
  };
  for (const Case& c : cases) EXPECT_EQ(ValidUtf8Length(c.bytes), c.want) << c.bytes;
}

TEST(UnicodeTest, CompleteUtf8PrefixHoldsBackOnlyAValidTail) {
  EXPECT_EQ(CompleteUtf8Prefix("ab\xF0\x9F"), 2u);          // emoji cut after 2 bytes
  EXPECT_EQ(CompleteUtf8Prefix("ab\xF0\x9F\x98\x80"), 6u);  // complete
  EXPECT_EQ(CompleteUtf8Prefix("ab\xFF"), 3u);              // never valid: not held back
  EXPECT_EQ(CompleteUtf8Prefix("\xE4\xB8"
                               "a"),
            3u);  // broken mid-way: not held back
  EXPECT_EQ(CompleteUtf8Prefix("\xE4"), 0u);
}

TEST(UnicodeTest, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(SanitizeUtf8("a\xE4\xB8"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");  // one U+FFFD for E4 B8
  EXPECT_EQ(SanitizeUtf8("\xFF\xFE"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("ok \xE2\x9C\x93"), "ok \xE2\x9C\x93");
}

TEST(UnicodeTest, ByteLevelMappingIsABijectionMatchingGpt2) {
  EXPECT_EQ(ByteToUnicode(' '), "\xC4\xA0");   // Ġ (U+0120)
  EXPECT_EQ(ByteToUnicode('\n'), "\xC4\x8A");  // Ċ (U+010A)
  EXPECT_EQ(ByteToUnicode('A'), "A");
  for (int b = 0; b < 256; ++b) {
    const std::string& u = ByteToUnicode(static_cast<uint8_t>(b));
    EXPECT_EQ(UnicodeToByte(DecodeUtf8(u, u.size())), b);
  }
  EXPECT_EQ(UnicodeToByte(0x4E2D), -1);
}

}  // namespace
}  // namespace hearth::engine::tokenizer
