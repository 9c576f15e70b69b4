// Unit tests on tiny hand-made vocabularies (no model file). Expected ids are worked out by
// hand from the BPE rules; the model-sized comparisons against HF live in test_tokenizer_hf.py.
#include "engine/tokenizer/tokenizer.h"

#include <string>
#include <vector>

#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/unicode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::engine::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Byte-level: every byte's code point, plus a few merges.
TokenizerSpec Gpt2Spec() {
  TokenizerSpec spec;
  spec.model = TokenizerModel::kGpt2;
  spec.pre = "gpt2";
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(ByteToUnicode(static_cast<uint8_t>(b)));
  // 256: "he", 257: "ll", 258: "hell", 259: "hello", 260: "Ġw", 261: "<|end|>" (control)
  spec.tokens.insert(spec.tokens.end(), {"he", "ll", "hell", "hello", "\xC4\xA0w", "<|end|>"});
  spec.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w"};
  spec.types.assign(spec.tokens.size(), TokenType::kNormal);
  spec.types[261] = TokenType::kControl;
  spec.eos_id = 261;
  spec.bos_id = 261;
  return spec;
}

TEST(TokenizerGpt2Test, MergesByRank) {
  auto tok = Tokenizer::FromSpec(Gpt2Spec());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Encode("hello"), ElementsAre(259));
  EXPECT_THAT((*tok)->Encode("hello world"),
              ElementsAre(259, 260, 'o', 'r', 'l', 'd'));  // " world" -> Ġw o r l d
  EXPECT_THAT((*tok)->Encode("hel"), ElementsAre(256, 'l'));
  EXPECT_THAT((*tok)->Encode(""), ElementsAre());
  // " hello" is Ġ + hello (no "Ġ hello" merge); the cached word gives the same ids again.
  EXPECT_THAT((*tok)->Encode("hello hello hello"), ElementsAre(259, ' ', 259, ' ', 259));
}

TEST(TokenizerGpt2Test, SpecialTokensOnlyWhenParsingIsOn) {
  auto tok = Tokenizer::FromSpec(Gpt2Spec());
  ASSERT_TRUE(tok.ok());
  EXPECT_THAT((*tok)->Encode("hello<|end|>", {.parse_special = true}), ElementsAre(259, 261));
  const std::vector<TokenId> as_text = (*tok)->Encode("hello<|end|>");
  EXPECT_EQ(as_text.size(), 8u);  // hello < | end | >  (no merges apply)
  EXPECT_EQ((*tok)->Decode(as_text), "hello<|end|>");
  // Control tokens vanish from Decode unless asked for.
  EXPECT_EQ((*tok)->Decode(std::vector<TokenId>{259, 261}), "hello");
  EXPECT_EQ((*tok)->Decode(std::vector<TokenId>{259, 261}, {.skip_special = false}),
            "hello<|end|>");
}

// Special-token text inside a literal span (chat content) is text; outside it, a token; a
// match reaching into a span is text too. Words split as without spans.
TEST(TokenizerGpt2Test, LiteralSpansKeepSpecialTokenTextAsText) {
  auto tok = Tokenizer::FromSpec(Gpt2Spec());
  ASSERT_TRUE(tok.ok());
  const std::string text = "<|end|>hello<|end|>hello<|end|>";
  const std::vector<TokenId> all = (*tok)->Encode(text, {.parse_special = true});
  EXPECT_THAT(all, ElementsAre(261, 259, 261, 259, 261));
  const std::vector<TextSpan> middle = {{7, 19}};  // "hello<|end|>"
  const std::vector<TokenId> spans =
      (*tok)->Encode(text, {.parse_special = true, .literal_spans = middle});
  std::vector<TokenId> want = {261};
  for (TokenId id : (*tok)->Encode("hello<|end|>")) want.push_back(id);
  want.insert(want.end(), {259, 261});
  EXPECT_EQ(spans, want);
  const std::vector<TextSpan> overlapping = {{3, 5}};  // inside the first "<|end|>"
  const std::vector<TokenId> partial =
      (*tok)->Encode(text, {.parse_special = true, .literal_spans = overlapping});
  EXPECT_NE(partial.front(), 261);
  EXPECT_EQ((*tok)->Decode(partial, {.skip_special = false}), text);
  // Spans never matter without parse_special.
  EXPECT_EQ((*tok)->Encode(text, {.literal_spans = middle}), (*tok)->Encode(text));
}

TEST(TokenizerGpt2Test, AddSpecialFollowsMetadataFlags) {
  TokenizerSpec spec = Gpt2Spec();
  spec.add_bos = true;
  auto tok = Tokenizer::FromSpec(spec);
  ASSERT_TRUE(tok.ok());
  EXPECT_THAT((*tok)->Encode("hello", {.add_special = true}), ElementsAre(261, 259));
  EXPECT_THAT((*tok)->Encode("hello", {.add_special = false}), ElementsAre(259));
  spec.add_bos = false;
  spec.add_eos = true;
  tok = Tokenizer::FromSpec(spec);
  ASSERT_TRUE(tok.ok());
  EXPECT_THAT((*tok)->Encode("hello", {.add_special = true}), ElementsAre(259, 261));
}

TEST(TokenizerGpt2Test, StopIdsIncludeEndOfTurnControlTokens) {
  auto tok = Tokenizer::FromSpec(Gpt2Spec());
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ((*tok)->eot_id(), 261);
  EXPECT_TRUE((*tok)->IsStop(261));
  EXPECT_FALSE((*tok)->IsStop(259));
}

TEST(TokenizerGpt2Test, RoundTripsArbitraryBytes) {
  auto tok = Tokenizer::FromSpec(Gpt2Spec());
  ASSERT_TRUE(tok.ok());
  const std::string text = "caf\xC3\xA9 \xF0\x9F\x98\x80\t\n  \xE4\xB8\xAD\xE6\x96\x87";
  EXPECT_EQ((*tok)->Decode((*tok)->Encode(text)), text);
  // Invalid UTF-8 survives encoding byte for byte and decodes to U+FFFD.
  EXPECT_EQ((*tok)->Decode((*tok)->Encode("a\xFF")), "a\xEF\xBF\xBD");
}

TEST(TokenizerSpecTest, ValidationErrors) {
  TokenizerSpec empty;
  EXPECT_FALSE(Tokenizer::FromSpec(empty).ok());
  TokenizerSpec bad_id = Gpt2Spec();
  bad_id.eos_id = 100000;
  auto r = Tokenizer::FromSpec(bad_id);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("eos"));
  TokenizerSpec bad_pre = Gpt2Spec();
  bad_pre.pre = "nonesuch";
  r = Tokenizer::FromSpec(bad_pre);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("smollm"));
  TokenizerSpec bad_merge = Gpt2Spec();
  bad_merge.merges.push_back("nospace");
  EXPECT_FALSE(Tokenizer::FromSpec(bad_merge).ok());
  TokenizerSpec bad_scores = Gpt2Spec();
  bad_scores.scores = {1.0f};
  EXPECT_FALSE(Tokenizer::FromSpec(bad_scores).ok());
}

// SentencePiece-style: pieces with scores, byte fallback for the rest.
//   0 <unk>  1 <s>  2 </s>  3..258 <0x00>..<0xFF>  259 ▁  260 h  261 i  262 ▁h  263 ▁hi
//   264 中
TokenizerSpec LlamaSpec() {
  TokenizerSpec spec;
  spec.model = TokenizerModel::kLlama;
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    snprintf(buf, sizeof(buf), "<0x%02X>", b);
    spec.tokens.push_back(buf);
    spec.types.push_back(TokenType::kByte);
  }
  for (const char* p :
       {"\xE2\x96\x81", "h", "i", "\xE2\x96\x81h", "\xE2\x96\x81hi", "\xE4\xB8\xAD"}) {
    spec.tokens.push_back(p);
    spec.types.push_back(TokenType::kNormal);
  }
  spec.scores.assign(spec.tokens.size(), 0.0f);
  spec.scores[262] = -2.0f;  // ▁h
  spec.scores[263] = -1.0f;  // ▁hi
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  spec.add_bos = true;
  spec.add_space_prefix = true;
  return spec;
}

TEST(TokenizerLlamaTest, MergesByScoreWithSpacePrefix) {
  auto tok = Tokenizer::FromSpec(LlamaSpec());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Encode("hi"), ElementsAre(263));
  EXPECT_THAT((*tok)->Encode("hi hi", {.add_special = true}), ElementsAre(1, 263, 263));
  EXPECT_THAT((*tok)->Encode("ih"), ElementsAre(259, 261, 260));  // ▁ i h: no "▁i" piece
  EXPECT_EQ((*tok)->Decode((*tok)->Encode("hi hi")), "hi hi");
}

TEST(TokenizerLlamaTest, ByteFallbackForUnknownCharacters) {
  auto tok = Tokenizer::FromSpec(LlamaSpec());
  ASSERT_TRUE(tok.ok());
  // "é" is not a piece: its two UTF-8 bytes become <0xC3><0xA9>; "中" is a piece.
  EXPECT_THAT((*tok)->Encode("h\xC3\xA9\xE4\xB8\xAD"), ElementsAre(262, 3 + 0xC3, 3 + 0xA9, 264));
  EXPECT_EQ((*tok)->Decode((*tok)->Encode("h\xC3\xA9\xE4\xB8\xAD")), "h\xC3\xA9\xE4\xB8\xAD");
}

TEST(TokenizerLlamaTest, UnknownTokenWhenByteTokensAreMissing) {
  TokenizerSpec spec = LlamaSpec();
  spec.tokens[3 + 0xC3] = "<unused-c3>";
  auto tok = Tokenizer::FromSpec(spec);
  ASSERT_TRUE(tok.ok());
  // é and è both lack a complete byte path: one fused <unk>.
  EXPECT_THAT((*tok)->Encode("h\xC3\xA9\xC3\xA8"), ElementsAre(262, 0));
}

TEST(IncrementalDecoderTest, HoldsBackSplitCharactersAndMatchesDecode) {
  auto tok = Tokenizer::FromSpec(LlamaSpec());
  ASSERT_TRUE(tok.ok());
  // "hi 😀中" with the emoji as four byte tokens.
  const std::vector<TokenId> ids = {1, 263, 259, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80, 264};
  IncrementalDecoder dec(tok->get());
  std::vector<std::string> deltas;
  for (TokenId id : ids) deltas.push_back(dec.Add(id));
  deltas.push_back(dec.Flush());
  EXPECT_THAT(deltas, ElementsAreArray<std::string>(
                          {"", "hi", " ", "", "", "", "\xF0\x9F\x98\x80", "\xE4\xB8\xAD", ""}));
  std::string joined;
  for (const std::string& d : deltas) joined += d;
  EXPECT_EQ(joined, (*tok)->Decode(ids));
}

TEST(IncrementalDecoderTest, FlushReplacesAnIncompleteTail) {
  auto tok = Tokenizer::FromSpec(LlamaSpec());
  ASSERT_TRUE(tok.ok());
  IncrementalDecoder dec(tok->get());
  EXPECT_EQ(dec.Add(263), "hi");
  EXPECT_EQ(dec.Add(3 + 0xE4), "");
  EXPECT_EQ(dec.Add(3 + 0xB8), "");
  EXPECT_EQ(dec.pending_bytes(), 2u);
  EXPECT_EQ(dec.Flush(), "\xEF\xBF\xBD");
  // A broken sequence followed by text is released at once, as Decode would render it.
  EXPECT_EQ(dec.Add(3 + 0xE4), "");
  EXPECT_EQ(dec.Add(260), "\xEF\xBF\xBDh");
}

}  // namespace
}  // namespace hearth::engine::tokenizer
