#include "engine/tokenizer/tokenizer_gguf.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

namespace hearth::engine::tokenizer {
namespace {

// Value of an optional key: `fallback` when absent, the error when present but mistyped.
template <typename T>
absl::StatusOr<T> Optional(absl::StatusOr<T> value, T fallback) {
  if (absl::IsNotFound(value.status())) return fallback;
  return value;
}

absl::StatusOr<TokenId> OptionalId(const GgufFile& file, std::string_view key) {
  ASSIGN_OR_RETURN(int64_t id, Optional<int64_t>(file.GetInt(key), kNoToken));
  return static_cast<TokenId>(id);
}

}  // namespace

absl::StatusOr<TokenizerSpec> SpecFromGguf(const GgufFile& file) {
  TokenizerSpec spec;
  ASSIGN_OR_RETURN(std::string model, file.GetString("tokenizer.ggml.model"));
  if (model == "gpt2") {
    spec.model = TokenizerModel::kGpt2;
  } else if (model == "llama") {
    spec.model = TokenizerModel::kLlama;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported tokenizer.ggml.model '", model, "'; supported: gpt2, llama"));
  }
  ASSIGN_OR_RETURN(spec.pre, Optional<std::string>(file.GetString("tokenizer.ggml.pre"), ""));
  ASSIGN_OR_RETURN(spec.tokens, file.GetStringArray("tokenizer.ggml.tokens"));
  ASSIGN_OR_RETURN(spec.scores,
                   Optional<std::vector<float>>(file.GetFloatArray("tokenizer.ggml.scores"), {}));
  ASSIGN_OR_RETURN(
      std::vector<int64_t> types,
      Optional<std::vector<int64_t>>(file.GetIntArray("tokenizer.ggml.token_type"), {}));
  spec.types.reserve(types.size());
  for (int64_t t : types) {
    spec.types.push_back(t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::kNormal);
  }
  if (spec.model == TokenizerModel::kGpt2) {
    ASSIGN_OR_RETURN(spec.merges, file.GetStringArray("tokenizer.ggml.merges"));
  }
  ASSIGN_OR_RETURN(spec.bos_id, OptionalId(file, "tokenizer.ggml.bos_token_id"));
  ASSIGN_OR_RETURN(spec.eos_id, OptionalId(file, "tokenizer.ggml.eos_token_id"));
  ASSIGN_OR_RETURN(spec.eot_id, OptionalId(file, "tokenizer.ggml.eot_token_id"));
  ASSIGN_OR_RETURN(spec.unk_id, OptionalId(file, "tokenizer.ggml.unknown_token_id"));
  ASSIGN_OR_RETURN(spec.pad_id, OptionalId(file, "tokenizer.ggml.padding_token_id"));

  const bool is_llama = spec.model == TokenizerModel::kLlama;
  ASSIGN_OR_RETURN(spec.add_bos, Optional<bool>(file.GetBool("tokenizer.ggml.add_bos_token"),
                                                is_llama || spec.pre == "llama-bpe"));
  ASSIGN_OR_RETURN(spec.add_eos,
                   Optional<bool>(file.GetBool("tokenizer.ggml.add_eos_token"), false));
  ASSIGN_OR_RETURN(spec.add_space_prefix,
                   Optional<bool>(file.GetBool("tokenizer.ggml.add_space_prefix"), is_llama));
  ASSIGN_OR_RETURN(spec.chat_template,
                   Optional<std::string>(file.GetString("tokenizer.chat_template"), ""));
  return spec;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  ASSIGN_OR_RETURN(TokenizerSpec spec, SpecFromGguf(file));
  return FromSpec(std::move(spec));
}

}  // namespace hearth::engine::tokenizer
