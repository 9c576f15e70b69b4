#include "engine/constraint/tokenizer_vocabulary.h"

#include <string>
#include <vector>

namespace hearth::constraint {

std::shared_ptr<const TokenVocabulary> VocabularyFromTokenizer(
    const engine::tokenizer::Tokenizer& tokenizer) {
  std::vector<std::string> bytes(tokenizer.vocab_size());
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (!tokenizer.IsSpecial(id)) bytes[id] = tokenizer.TokenBytes(id, {.skip_special = true});
  }
  return TokenVocabulary::Create(std::move(bytes));
}

}  // namespace hearth::constraint
