// The mask over the default model's real vocabulary (49,152 BPE tokens): equal to a brute-force
// check of every token along greedy-by-id walks through each constraint kind, and no special
// token ever allowed.
#include <memory>
#include <string>
#include <vector>

#include "engine/constraint/constraint_compiler.h"
#include "engine/constraint/matcher.h"
#include "engine/constraint/tokenizer_vocabulary.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"

namespace hearth::constraint {
namespace {

std::shared_ptr<const engine::tokenizer::Tokenizer> ModelTokenizer() {
  static std::shared_ptr<const engine::tokenizer::Tokenizer> tok = [] {
    auto file = engine::GgufFile::Open(HEARTH_DEFAULT_MODEL);
    if (!file.ok()) return std::shared_ptr<const engine::tokenizer::Tokenizer>();
    auto t = engine::tokenizer::Tokenizer::FromGguf(**file);
    if (!t.ok()) return std::shared_ptr<const engine::tokenizer::Tokenizer>();
    return std::shared_ptr<const engine::tokenizer::Tokenizer>(std::move(*t));
  }();
  return tok;
}

TEST(ModelVocabularyTest, MaskEqualsBruteForce) {
  auto tok = ModelTokenizer();
  ASSERT_NE(tok, nullptr);
  auto vocab = VocabularyFromTokenizer(*tok);
  ConstraintCompiler compiler(vocab);
  const std::vector<ConstraintSpec> specs = {
      {ConstraintSpec::Kind::kJsonObject, "", {}},
      {ConstraintSpec::Kind::kJsonSchema,
       R"({"type":"object","properties":{"side":{"enum":["buy","sell"]},"size":{"type":"number"},
           "reason":{"type":"string"}},"required":["side","size","reason"]})",
       {}},
      {ConstraintSpec::Kind::kRegex, R"(\(\d{3}\) \d{3}-\d{4})", {}},
      {ConstraintSpec::Kind::kChoice, "", {"Paris", "London", "Par"}},
      {ConstraintSpec::Kind::kGrammar, "root ::= [a-z]+ (\" \" [a-z]+)* \".\"", {}},
  };
  for (const ConstraintSpec& spec : specs) {
    auto compiled = compiler.Compile(spec);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    Matcher m(*compiled);
    // Walk: at each step take the allowed token at position (step * 7919) among the allowed.
    for (int step = 0; step < 12 && m.CanContinue(); ++step) {
      const TokenMask& mask = m.Mask();
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < vocab->size(); ++t) {
        if (tok->IsSpecial(t)) {
          ASSERT_FALSE(mask.Allowed(t)) << "special token " << t;
          continue;
        }
        Matcher probe = m;
        const bool ok = probe.Advance(t);
        ASSERT_EQ(mask.Allowed(t), ok)
            << KindName(spec.kind) << " token " << t << " '" << vocab->bytes(t) << "'";
        if (ok) allowed.push_back(t);
      }
      ASSERT_FALSE(allowed.empty()) << KindName(spec.kind) << " step " << step;
      ASSERT_TRUE(m.Advance(allowed[(step * 7919) % allowed.size()]));
    }
  }
}

}  // namespace
}  // namespace hearth::constraint
