// The model's tokenizer as a constraint vocabulary (a separate library, so the sampler and the
// matcher do not depend on the tokenizer).
#pragma once

#include <memory>

#include "engine/constraint/token_vocabulary.h"
#include "engine/tokenizer/tokenizer.h"

namespace hearth::constraint {

// TokenBytes of every non-special token; special (control / user-defined) tokens get no bytes,
// so no grammar ever allows them.
std::shared_ptr<const TokenVocabulary> VocabularyFromTokenizer(
    const engine::tokenizer::Tokenizer& tokenizer);

}  // namespace hearth::constraint
