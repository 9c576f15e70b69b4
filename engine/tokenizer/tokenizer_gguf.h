// The one adapter from GGUF metadata (`tokenizer.*`) to a TokenizerSpec.
//
// Defaults when a key is absent follow llama.cpp: add_bos_token is true for "llama" and for
// gpt2 with pre "llama-bpe", false otherwise; add_eos_token false; add_space_prefix true for
// "llama", false for "gpt2".
#pragma once

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer_spec.h"

namespace hearth::engine {
class GgufFile;
}  // namespace hearth::engine

namespace hearth::engine::tokenizer {

// InvalidArgument for an unsupported tokenizer.ggml.model (naming the supported ones) or
// missing / mistyped required arrays.
absl::StatusOr<TokenizerSpec> SpecFromGguf(const GgufFile& file);

}  // namespace hearth::engine::tokenizer
