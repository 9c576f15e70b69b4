// Tokenizers the fuzz targets run on: the default model's (SmolLM2: gpt2 byte-level BPE with
// the smollm pre-tokenizer, 49152 tokens, ChatML), loaded once from HEARTH_DEFAULT_MODEL (env,
// else the path compiled in), and two small synthetic ones (gpt2 byte-level and llama
// SentencePiece with byte fallback) that need no file.
// Thread-safety: the getters initialize once and are then read-only.
#pragma once

#include "engine/tokenizer/tokenizer.h"

namespace hearth::fuzz {

// Null (with a note on stderr, once) when the default model cannot be loaded.
const engine::tokenizer::Tokenizer* DefaultModelTokenizer();
const engine::tokenizer::Tokenizer& SyntheticGpt2Tokenizer();
const engine::tokenizer::Tokenizer& SyntheticLlamaTokenizer();

}  // namespace hearth::fuzz
