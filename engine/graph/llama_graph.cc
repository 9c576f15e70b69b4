#include "engine/graph/llama_graph.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hearth::engine {
namespace {

// Scratch slots of the step's activations.
enum Slot : int32_t { kX, kXb, kQkv, kQ, kAttn, kOut, kGateUp, kH, kRows, kLogits };

std::vector<float> Concat(const std::vector<float>& a, const std::vector<float>& b,
                          const std::vector<float>& c) {
  std::vector<float> all(a);
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), c.begin(), c.end());
  return all;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelGraph>> CreateModelGraph(const LoadedModel& model,
                                                             LayerRange layers, DeviceOps* ops) {
  switch (model.config().arch) {
    case ModelArch::kLlama:
    case ModelArch::kQwen2:
      return LlamaGraph::Create(model, layers, ops);
  }
  return absl::InvalidArgumentError("no model graph for this architecture");
}

absl::StatusOr<std::unique_ptr<LlamaGraph>> LlamaGraph::Create(const LoadedModel& model,
                                                               LayerRange layers, DeviceOps* ops) {
  const ModelConfig& c = model.config();
  if (layers.begin < 0 || layers.end > c.num_layers || layers.size() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("layer range [", layers.begin, ", ", layers.end,
                                                   ") is not within the model's ", c.num_layers,
                                                   " layers"));
  }
  if (ops->num_layers() != layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat("device ", ops->name(), " stores K/V of ",
                                                   ops->num_layers(), " layers, the stage has ",
                                                   layers.size()));
  }
  auto graph = std::unique_ptr<LlamaGraph>(new LlamaGraph(c, layers, ops));
  RETURN_IF_ERROR(graph->Load(model.weights()));
  return graph;
}

absl::Status LlamaGraph::Load(const ModelWeights& w) {
  DeviceOps& ops = *ops_;
  if (is_first()) {
    ASSIGN_OR_RETURN(token_embd_, ops.AddEmbedding(*w.token_embd));
  }
  for (int32_t l = layers_.begin; l < layers_.end; ++l) {
    const LayerWeights& lw = w.layers[l];
    Layer layer;
    ASSIGN_OR_RETURN(layer.attn_norm, ops.AddVector(lw.attn_norm));
    const GgufTensor* const qkv[] = {lw.wq, lw.wk, lw.wv};
    const GgufTensor* const gate_up[] = {lw.w_gate, lw.w_up};
    ASSIGN_OR_RETURN(layer.qkv, ops.AddMatrix(qkv));
    if (config_.has_qkv_bias) {
      ASSIGN_OR_RETURN(layer.qkv_bias, ops.AddVector(Concat(lw.bq, lw.bk, lw.bv)));
    }
    ASSIGN_OR_RETURN(layer.wo, ops.AddMatrix({&lw.wo, 1}));
    ASSIGN_OR_RETURN(layer.ffn_norm, ops.AddVector(lw.ffn_norm));
    ASSIGN_OR_RETURN(layer.gate_up, ops.AddMatrix(gate_up));
    ASSIGN_OR_RETURN(layer.down, ops.AddMatrix({&lw.w_down, 1}));
    layer_weights_.push_back(layer);
  }
  if (is_last()) {
    ASSIGN_OR_RETURN(output_norm_, ops.AddVector(w.output_norm));
    ASSIGN_OR_RETURN(lm_head_, ops.AddMatrix({&w.output, 1}));
  }
  return ops.FinishLoading();
}

absl::Status LlamaGraph::Forward(const Batch& batch, const StageIo& io) {
  const ModelConfig& c = config_;
  DeviceOps& ops = *ops_;
  const int64_t n = batch.num_tokens();
  const float eps = c.rms_eps;
  RETURN_IF_ERROR(ops.BeginStep(batch));

  Tensor x = ops.Scratch(kX, n, c.dim);  // the residual stream
  if (is_first()) {
    ops.Embed(token_embd_, x);
  } else {
    ops.Upload(io.hidden_in, x);
  }
  Tensor xb = ops.Scratch(kXb, n, c.dim);
  Tensor qkv = ops.Scratch(kQkv, n, c.q_dim() + 2 * c.kv_dim());
  Tensor q = ops.Scratch(kQ, n, c.q_dim());
  Tensor attn = ops.Scratch(kAttn, n, c.q_dim());
  Tensor out = ops.Scratch(kOut, n, c.dim);
  Tensor gate_up = ops.Scratch(kGateUp, n, 2 * int64_t{c.ffn_dim});
  Tensor h = ops.Scratch(kH, n, c.ffn_dim);

  for (size_t i = 0; i < layer_weights_.size(); ++i) {
    const Layer& w = layer_weights_[i];
    const int32_t kv_layer = static_cast<int32_t>(i);
    // Attention block; the previous layer's feed-forward residual joins this norm.
    if (i == 0) {
      ops.RmsNorm(x, w.attn_norm, eps, xb);
    } else {
      ops.AddRmsNorm(x, out, w.attn_norm, eps, xb);
    }
    ops.Linear(w.qkv, xb, qkv);
    ops.RopeStoreKv(kv_layer, qkv, w.qkv_bias, q);
    ops.Attention(kv_layer, q, attn);
    ops.Linear(w.wo, attn, out);
    // Feed-forward block (SwiGLU), its norm in one pass with the attention residual.
    ops.AddRmsNorm(x, out, w.ffn_norm, eps, xb);
    ops.Linear(w.gate_up, xb, gate_up);
    ops.SiluMul(gate_up, h);
    ops.Linear(w.down, h, out);
  }
  ops.Add(x, out);  // the last layer's residual: x is complete

  if (!is_last()) {
    ops.Download(x, io.hidden_out);
    return ops.EndStep();
  }
  // Final norm and LM head for the requested rows only.
  const int64_t rows = static_cast<int64_t>(io.logit_rows.size());
  // resize, not clear + resize: a vector of the same size keeps its memory without being zeroed
  // again (32 x 49152 floats per step at batch 32); the LM head writes every element.
  io.logits->resize(rows * c.vocab_size);
  if (rows > 0) {
    Tensor xr = ops.Scratch(kRows, rows, c.dim);
    ops.GatherRows(x, io.logit_rows, xr);
    ops.RmsNorm(xr, output_norm_, eps, xr);
    Tensor logits = ops.HostOutput(kLogits, io.logits->data(), rows, c.vocab_size);
    ops.Linear(lm_head_, xr, logits);
    ops.Download(logits, io.logits->data());
  }
  return ops.EndStep();
}

}  // namespace hearth::engine
