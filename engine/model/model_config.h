// The hyper-parameters of a decoder-only transformer, read from GGUF metadata.
//
// Supported architectures (GGUF `general.architecture`):
//   llama  Llama 2/3, Mistral, SmolLM: "normal" RoPE over adjacent pairs (2i, 2i+1), since
//          llama.cpp's converter permutes the Q/K rows for it.
//   qwen2  Qwen 2 / 2.5: biases on Q/K/V, NEOX RoPE over pairs (i, i + rope_dims/2).
// Keys are read as `<arch>.<name>`, e.g. `llama.block_count`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"

namespace hearth::engine {

enum class ModelArch { kLlama, kQwen2 };

enum class RopeStyle {
  kNormal,  // rotate (x[2i], x[2i+1])
  kNeox,    // rotate (x[i], x[i + rope_dims/2])
};

// "llama, qwen2": for error messages.
const char* SupportedArchitectures();

struct ModelConfig {
  ModelArch arch = ModelArch::kLlama;
  std::string arch_name;  // as in the file: "llama"
  int32_t num_layers = 0;
  int32_t dim = 0;           // embedding width
  int32_t num_heads = 0;     // query heads
  int32_t num_kv_heads = 0;  // K/V heads (GQA: num_heads % num_kv_heads == 0)
  int32_t head_dim = 0;      // `attention.key_length`, else dim / num_heads
  int32_t ffn_dim = 0;
  int32_t vocab_size = 0;
  int32_t context_length = 0;  // trained context
  float rms_eps = 1e-5f;

  RopeStyle rope_style = RopeStyle::kNormal;
  int32_t rope_dims = 0;               // leading dims of each head that rotate (even, <= head_dim)
  float rope_base = 10000.0f;          // `rope.freq_base`
  float rope_linear_scale = 1.0f;      // positions are divided by this (`rope.scaling.factor`)
  bool has_rope_freq_factors = false;  // a `rope_freqs.weight` tensor divides the frequencies

  bool has_qkv_bias = false;  // qwen2
  bool tied_output = false;   // no `output.weight`: the LM head is token_embd

  int32_t q_dim() const { return num_heads * head_dim; }
  int32_t kv_dim() const { return num_kv_heads * head_dim; }

  // Reads and validates the config. Errors: InvalidArgument for an unsupported architecture
  // (naming it and SupportedArchitectures()), NotFound naming a missing required key,
  // InvalidArgument for inconsistent values or an unsupported RoPE scaling type.
  static absl::StatusOr<ModelConfig> FromGguf(const GgufFile& file);

  // Checks the invariants above; InvalidArgument naming the first one broken.
  absl::Status Validate() const;
};

}  // namespace hearth::engine
