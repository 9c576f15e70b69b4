// The hyper-parameters of a decoder-only transformer, read from GGUF metadata.
//
// Supported architectures (GGUF `general.architecture`):
//   llama  Llama 2/3, Mistral, SmolLM: "normal" RoPE over adjacent pairs (2i, 2i+1), since
//          llama.cpp's converter permutes the Q/K rows for it.
//   qwen2  Qwen 2 / 2.5: biases on Q/K/V, NEOX RoPE over pairs (i, i + rope_dims/2).
//   qwen2moe  Qwen1.5-MoE / Qwen2-MoE: qwen2 attention, a mixture of experts plus a shared expert.
// A llama file with `llama.expert_count` is a mixture of experts (Mixtral).
// Keys are read as `<arch>.<name>`, e.g. `llama.block_count`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"

namespace hearth::engine {

enum class ModelArch { kLlama, kQwen2, kQwen2Moe };

// The largest expert_count accepted (DeepSeek-V3 has 256).
inline constexpr int32_t kMaxExperts = 1024;

enum class RopeStyle {
  kNormal,  // rotate (x[2i], x[2i+1])
  kNeox,    // rotate (x[i], x[i + rope_dims/2])
};

// "llama, qwen2, qwen2moe": for error messages.
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

  // Mixture of experts (`expert_count`, `expert_used_count`; both 0 for a dense model): each
  // layer's FFN is expert_count SwiGLU experts of width expert_ffn_dim, and a router sends each
  // token through expert_used_count of them (the top-k logits, ties to the lowest expert id).
  int32_t expert_count = 0;
  int32_t expert_used_count = 0;
  int32_t expert_ffn_dim = 0;  // `expert_feed_forward_length`; else ffn_dim (Mixtral)
  // How the selected experts' outputs are weighted: true (Mixtral) a softmax over the k selected
  // logits; false (qwen2moe) their probabilities under a softmax over all expert_count logits.
  bool normalize_expert_weights = true;
  // qwen2moe: a shared expert of this width runs for every token, scaled by a sigmoid gate
  // (`expert_shared_feed_forward_length`, else ffn_dim). 0: none.
  int32_t shared_expert_ffn_dim = 0;

  bool is_moe() const { return expert_count > 0; }

  int32_t q_dim() const { return num_heads * head_dim; }
  int32_t kv_dim() const { return num_kv_heads * head_dim; }

  // Reads and validates the config. Errors: InvalidArgument for an unsupported architecture
  // (naming it and SupportedArchitectures()), NotFound naming a missing required key,
  // InvalidArgument for inconsistent values (expert counts: both or neither, 0 < used <= count)
  // or an unsupported RoPE scaling type.
  static absl::StatusOr<ModelConfig> FromGguf(const GgufFile& file);

  // Checks the invariants above; InvalidArgument naming the first one broken.
  absl::Status Validate() const;
};

}  // namespace hearth::engine
