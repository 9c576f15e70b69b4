// The llama-family forward pass (llama, Mistral, SmolLM; qwen2 adds Q/K/V biases and NEOX RoPE,
// which the device's RopeStoreKv applies from the config), over one stage's layers:
//
//   x = embed(tokens)                                   (first stage; else the hidden states in)
//   for each layer:
//     xb  = RmsNorm(x + previous FFN output)            the residual joins the next norm
//     qkv = xb Wqkv^T  ─▶ + bias, RoPE ─▶ Q; K, V into the paged cache
//     out = Attention(Q over the cached K/V) Wo^T
//     xb  = RmsNorm(x += out)
//     out = (silu(xb Wgate^T) * xb Wup^T) Wdown^T
//   x += out                                            (the last layer's residual)
//   logits = RmsNorm(x[rows]) Wlm^T                     (last stage; else x is handed on)
//
// Shapes: x, xb, out [n, dim]; qkv [n, q_dim + 2 kv_dim]; Q, attention [n, q_dim];
// gate|up [n, 2 ffn_dim]; h [n, ffn_dim]; logits [rows, vocab].
#pragma once

#include <memory>
#include <vector>

#include "engine/graph/model_graph.h"

namespace hearth::engine {

class LlamaGraph final : public ModelGraph {
 public:
  // See CreateModelGraph.
  static absl::StatusOr<std::unique_ptr<LlamaGraph>> Create(const LoadedModel& model,
                                                            LayerRange layers, DeviceOps* ops);

  absl::Status Forward(const Batch& batch, const StageIo& io) override;
  LayerRange layers() const override { return layers_; }
  bool is_last() const override { return layers_.end == config_.num_layers; }

 private:
  // The stage's weights on its device.
  struct Layer {
    WeightId attn_norm = kNoWeight;
    WeightId qkv = kNoWeight;       // Wq | Wk | Wv stacked
    WeightId qkv_bias = kNoWeight;  // bq | bk | bv (qwen2), else kNoWeight
    WeightId wo = kNoWeight;
    WeightId ffn_norm = kNoWeight;
    WeightId gate_up = kNoWeight;  // Wgate | Wup stacked
    WeightId down = kNoWeight;
  };

  LlamaGraph(const ModelConfig& config, LayerRange layers, DeviceOps* ops)
      : config_(config), layers_(layers), ops_(ops) {}
  absl::Status Load(const ModelWeights& weights);

  const ModelConfig& config_;
  LayerRange layers_;
  DeviceOps* ops_;
  std::vector<Layer> layer_weights_;  // [layers_.size()]
  WeightId token_embd_ = kNoWeight;   // first stage
  WeightId output_norm_ = kNoWeight;  // last stage
  WeightId lm_head_ = kNoWeight;      // last stage
};

}  // namespace hearth::engine
