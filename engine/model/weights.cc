#include "engine/model/weights.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace hearth::engine {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("{", absl::StrJoin(shape, ", "), "}");
}

// Finds `name` and checks its shape (GGUF order) and type.
absl::StatusOr<const GgufTensor*> Find(const GgufFile& file, const std::string& name,
                                       const std::vector<int64_t>& shape) {
  const GgufTensor* t = file.FindTensor(name);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat("tensor '", name, "' is missing"));
  if (t->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has shape ",
                                                   ShapeString(t->shape), ", expected ",
                                                   ShapeString(shape)));
  }
  if (t->traits == nullptr || !t->traits->supported()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' has element type ",
                     t->traits ? std::string(t->traits->name) : "unknown",
                     ", which Hearth cannot compute with"));
  }
  if (t->cols() % t->traits->block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' rows of ", t->cols(), " elements are not a multiple of the ",
        std::string(t->traits->name), " block size ", t->traits->block_size));
  }
  return t;
}

// Finds a 1-D tensor of `n` elements and dequantizes it.
absl::StatusOr<std::vector<float>> FindVector(const GgufFile& file, const std::string& name,
                                              int64_t n) {
  ASSIGN_OR_RETURN(const GgufTensor* t, Find(file, name, {n}));
  std::vector<float> v(n);
  t->traits->dequantize(t->data, v.data(), n);
  return v;
}

}  // namespace

absl::StatusOr<ModelWeights> ModelWeights::Bind(const GgufFile& file, const ModelConfig& c) {
  ModelWeights w;
  ASSIGN_OR_RETURN(w.token_embd, Find(file, "token_embd.weight", {c.dim, c.vocab_size}));
  ASSIGN_OR_RETURN(w.output_norm, FindVector(file, "output_norm.weight", c.dim));
  if (c.tied_output) {
    w.output = w.token_embd;
  } else {
    ASSIGN_OR_RETURN(w.output, Find(file, "output.weight", {c.dim, c.vocab_size}));
  }
  if (c.has_rope_freq_factors) {
    ASSIGN_OR_RETURN(w.rope_freq_factors, FindVector(file, "rope_freqs.weight", c.rope_dims / 2));
  }
  w.layers.resize(c.num_layers);
  for (int32_t i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string b = absl::StrCat("blk.", i, ".");
    ASSIGN_OR_RETURN(l.attn_norm, FindVector(file, b + "attn_norm.weight", c.dim));
    ASSIGN_OR_RETURN(l.wq, Find(file, b + "attn_q.weight", {c.dim, c.q_dim()}));
    ASSIGN_OR_RETURN(l.wk, Find(file, b + "attn_k.weight", {c.dim, c.kv_dim()}));
    ASSIGN_OR_RETURN(l.wv, Find(file, b + "attn_v.weight", {c.dim, c.kv_dim()}));
    if (c.has_qkv_bias) {
      ASSIGN_OR_RETURN(l.bq, FindVector(file, b + "attn_q.bias", c.q_dim()));
      ASSIGN_OR_RETURN(l.bk, FindVector(file, b + "attn_k.bias", c.kv_dim()));
      ASSIGN_OR_RETURN(l.bv, FindVector(file, b + "attn_v.bias", c.kv_dim()));
    }
    ASSIGN_OR_RETURN(l.wo, Find(file, b + "attn_output.weight", {c.q_dim(), c.dim}));
    ASSIGN_OR_RETURN(l.ffn_norm, FindVector(file, b + "ffn_norm.weight", c.dim));
    ASSIGN_OR_RETURN(l.w_gate, Find(file, b + "ffn_gate.weight", {c.dim, c.ffn_dim}));
    ASSIGN_OR_RETURN(l.w_up, Find(file, b + "ffn_up.weight", {c.dim, c.ffn_dim}));
    ASSIGN_OR_RETURN(l.w_down, Find(file, b + "ffn_down.weight", {c.ffn_dim, c.dim}));
  }
  return w;
}

int64_t ModelWeights::MatrixBytesPerToken() const {
  int64_t bytes = static_cast<int64_t>(output->num_bytes);
  for (const LayerWeights& l : layers) {
    for (const GgufTensor* t : {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down}) {
      bytes += static_cast<int64_t>(t->num_bytes);
    }
  }
  return bytes;
}

}  // namespace hearth::engine
