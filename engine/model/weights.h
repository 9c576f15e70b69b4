// The model's tensors, bound by name from a GgufFile and checked against its ModelConfig.
//
// Matrices stay where they are in the file (quantized, memory-mapped): a backend reads them
// through the GgufTensor (type, shape {cols, rows}, data). Small vectors (norm weights, biases,
// RoPE frequency factors) are dequantized to float32 here, whatever their stored type.
//
// Ownership: ModelWeights points into the GgufFile; the file must outlive it.
// Thread-safety: immutable after Bind(); safe to share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"

namespace hearth::engine {

// Shapes in GGUF order {cols (inputs), rows (outputs)}.

// One SwiGLU feed-forward network of a mixture of experts. Copies of the file's tensor infos
// (data still points into the mapping): for the 3-D `ffn_*_exps` tensors, the expert's slice,
// named "blk.N.ffn_gate_exps.weight[e]".
struct ExpertWeights {
  GgufTensor gate;  // {dim, expert_ffn_dim}
  GgufTensor up;    // {dim, expert_ffn_dim}
  GgufTensor down;  // {expert_ffn_dim, dim}
};

struct LayerWeights {
  std::vector<float> attn_norm;        // [dim]
  const GgufTensor* wq = nullptr;      // {dim, q_dim}
  const GgufTensor* wk = nullptr;      // {dim, kv_dim}
  const GgufTensor* wv = nullptr;      // {dim, kv_dim}
  std::vector<float> bq;               // [q_dim]  (empty unless config.has_qkv_bias)
  std::vector<float> bk;               // [kv_dim] (idem)
  std::vector<float> bv;               // [kv_dim] (idem)
  const GgufTensor* wo = nullptr;      // {q_dim, dim}
  std::vector<float> ffn_norm;         // [dim]
  const GgufTensor* w_gate = nullptr;  // {dim, ffn_dim} (null in a mixture of experts)
  const GgufTensor* w_up = nullptr;    // {dim, ffn_dim} (idem)
  const GgufTensor* w_down = nullptr;  // {ffn_dim, dim} (idem)

  // Mixtures of experts, bound from either layout: the 3-D `blk.N.ffn_{gate,up,down}_exps`
  // ({dim, f, E}, {dim, f, E}, {f, dim, E}) or older files' `blk.N.ffn_{gate,up,down}.E`.
  const GgufTensor* router = nullptr;  // ffn_gate_inp {dim, expert_count}
  std::vector<ExpertWeights> experts;  // [expert_count]
  // qwen2moe's shared expert, run for every token and scaled by sigmoid(x . shared_gate_inp).
  const GgufTensor* shared_gate_inp = nullptr;  // ffn_gate_inp_shexp {dim} or {dim, 1}
  std::optional<ExpertWeights> shared_expert;   // ffn_{gate,up,down}_shexp
};

// Elements of the bound weights: all of them, and those one token's forward pass reads (all but
// the experts it is not routed to: expert_used_count of expert_count per layer).
struct ParameterCounts {
  int64_t total = 0;
  int64_t active = 0;
};

struct ModelWeights {
  const GgufTensor* token_embd = nullptr;  // {dim, vocab}; rows are dequantized on lookup
  std::vector<float> output_norm;          // [dim]
  const GgufTensor* output = nullptr;      // {dim, vocab}; == token_embd when tied
  std::vector<float> rope_freq_factors;    // [rope_dims / 2], empty when absent
  std::vector<LayerWeights> layers;        // [num_layers]
  int32_t experts_used = 0;                // config.expert_used_count (0: dense)

  // Binds every tensor the config calls for. Errors (InvalidArgument / NotFound) name the
  // tensor: missing, unexpected shape (expected vs actual), an element type Hearth cannot
  // compute with, or a row length that is not a multiple of the type's block size.
  static absl::StatusOr<ModelWeights> Bind(const GgufFile& file, const ModelConfig& config);

  // Bytes of matrix weights one token's decode step reads (every layer's matrices + LM head;
  // of a mixture, the router and experts_used experts of average size).
  int64_t MatrixBytesPerToken() const;
  ParameterCounts CountParameters() const;
};

}  // namespace hearth::engine
