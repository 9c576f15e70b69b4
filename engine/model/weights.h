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
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"

namespace hearth::engine {

// Shapes in GGUF order {cols (inputs), rows (outputs)}.
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
  const GgufTensor* w_gate = nullptr;  // {dim, ffn_dim}
  const GgufTensor* w_up = nullptr;    // {dim, ffn_dim}
  const GgufTensor* w_down = nullptr;  // {ffn_dim, dim}
};

struct ModelWeights {
  const GgufTensor* token_embd = nullptr;  // {dim, vocab}; rows are dequantized on lookup
  std::vector<float> output_norm;          // [dim]
  const GgufTensor* output = nullptr;      // {dim, vocab}; == token_embd when tied
  std::vector<float> rope_freq_factors;    // [rope_dims / 2], empty when absent
  std::vector<LayerWeights> layers;        // [num_layers]

  // Binds every tensor the config calls for. Errors (InvalidArgument / NotFound) name the
  // tensor: missing, unexpected shape (expected vs actual), an element type Hearth cannot
  // compute with, or a row length that is not a multiple of the type's block size.
  static absl::StatusOr<ModelWeights> Bind(const GgufFile& file, const ModelConfig& config);

  // Bytes of matrix weights read by one decode step (every layer's matrices + LM head).
  int64_t MatrixBytesPerToken() const;
};

}  // namespace hearth::engine
