// A minimal working tokenizer for synthetic models, as GGUF metadata: GPT-2 style byte-level
// BPE (tokenizer.ggml.model "gpt2", pre-tokenizer "llama-bpe") whose vocabulary is
//
//   ids 0..255      the 256 bytes (GPT-2's byte-to-unicode spelling), so any text encodes
//   ids 256..       a few merges of common English pairs ("Ġt", "he", "Ġthe", ...), because
//                   Hearth's (and llama.cpp's) BPE needs at least one merge
//   then            Llama 3's special tokens: <|begin_of_text|> (BOS), <|end_of_text|> (EOS),
//                   <|start_header_id|>, <|end_header_id|>, <|eot_id|> (end of turn)
//   up to `vocab`   <|reserved_special_token_N|> control tokens
//
// and Llama 3's chat template (tokenizer.chat_template), so `hearth serve` accepts chat
// requests. Tokens are not meant to be meaningful: the model is random.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "engine/gguf/gguf_writer.h"

namespace hearth::engine::convert {

// The smallest vocabulary the tokenizer fits in.
int32_t MinSyntheticVocab();

// Adds the tokenizer.* keys to `w`. InvalidArgument when vocab < MinSyntheticVocab().
absl::Status AddSyntheticTokenizer(int32_t vocab, GgufWriter& w);

}  // namespace hearth::engine::convert
