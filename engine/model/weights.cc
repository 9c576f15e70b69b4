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

// Expert e's slice {cols, rows} of a 3-D tensor {cols, rows, count}.
GgufTensor ExpertSlice(const GgufTensor& t, int32_t e, int32_t count) {
  GgufTensor s = t;
  s.name = absl::StrCat(t.name, "[", e, "]");
  s.shape = {t.shape[0], t.shape[1]};
  s.num_elements = t.shape[0] * t.shape[1];
  s.num_bytes = t.num_bytes / count;  // exact: count slices of rows * row_bytes
  s.offset = t.offset + e * s.num_bytes;
  s.data = t.data + e * s.num_bytes;
  return s;
}

// Binds member `m` (gate, up or down, named `kind`) of every expert of the layer with tensor
// prefix `b`: from the 3-D `ffn_<kind>_exps` tensor, else from the per-expert `ffn_<kind>.E`.
absl::Status BindExperts(const GgufFile& file, const std::string& b, const std::string& kind,
                         int64_t cols, int64_t rows, GgufTensor ExpertWeights::*m,
                         std::vector<ExpertWeights>* experts) {
  const int32_t count = static_cast<int32_t>(experts->size());
  const std::string stacked = absl::StrCat(b, "ffn_", kind, "_exps.weight");
  if (file.FindTensor(stacked) != nullptr) {
    ASSIGN_OR_RETURN(const GgufTensor* t, Find(file, stacked, {cols, rows, count}));
    for (int32_t e = 0; e < count; ++e) (*experts)[e].*m = ExpertSlice(*t, e, count);
    return absl::OkStatus();
  }
  const std::string first = absl::StrCat(b, "ffn_", kind, ".0.weight");
  if (file.FindTensor(first) == nullptr) {
    return absl::NotFoundError(absl::StrCat("tensor '", stacked, "' is missing (and so is '", first,
                                            "' of the per-expert layout)"));
  }
  for (int32_t e = 0; e < count; ++e) {
    ASSIGN_OR_RETURN(const GgufTensor* t,
                     Find(file, absl::StrCat(b, "ffn_", kind, ".", e, ".weight"), {cols, rows}));
    (*experts)[e].*m = *t;
  }
  return absl::OkStatus();
}

// A SwiGLU FFN of width f from three tensors named `b`ffn_{gate,up,down}`suffix`.
absl::StatusOr<ExpertWeights> BindFfn(const GgufFile& file, const std::string& b,
                                      const std::string& suffix, int64_t dim, int64_t f) {
  ExpertWeights w;
  ASSIGN_OR_RETURN(const GgufTensor* gate, Find(file, b + "ffn_gate" + suffix, {dim, f}));
  ASSIGN_OR_RETURN(const GgufTensor* up, Find(file, b + "ffn_up" + suffix, {dim, f}));
  ASSIGN_OR_RETURN(const GgufTensor* down, Find(file, b + "ffn_down" + suffix, {f, dim}));
  w.gate = *gate;
  w.up = *up;
  w.down = *down;
  return w;
}

// The mixture of experts of layer `b` (router, experts, qwen2moe's shared expert).
absl::Status BindMoe(const GgufFile& file, const ModelConfig& c, const std::string& b,
                     LayerWeights* l) {
  ASSIGN_OR_RETURN(l->router, Find(file, b + "ffn_gate_inp.weight", {c.dim, c.expert_count}));
  l->experts.resize(c.expert_count);
  const int64_t f = c.expert_ffn_dim;
  RETURN_IF_ERROR(BindExperts(file, b, "gate", c.dim, f, &ExpertWeights::gate, &l->experts));
  RETURN_IF_ERROR(BindExperts(file, b, "up", c.dim, f, &ExpertWeights::up, &l->experts));
  RETURN_IF_ERROR(BindExperts(file, b, "down", f, c.dim, &ExpertWeights::down, &l->experts));
  if (c.shared_expert_ffn_dim > 0) {
    const std::string gate_inp = b + "ffn_gate_inp_shexp.weight";
    const GgufTensor* t = file.FindTensor(gate_inp);
    // Converters write it as {dim} or {dim, 1}.
    const std::vector<int64_t> shape = t != nullptr && t->shape.size() == 2
                                           ? std::vector<int64_t>{c.dim, 1}
                                           : std::vector<int64_t>{c.dim};
    ASSIGN_OR_RETURN(l->shared_gate_inp, Find(file, gate_inp, shape));
    ASSIGN_OR_RETURN(l->shared_expert,
                     BindFfn(file, b, "_shexp.weight", c.dim, c.shared_expert_ffn_dim));
  }
  return absl::OkStatus();
}

int64_t Bytes(const GgufTensor& t) { return static_cast<int64_t>(t.num_bytes); }
int64_t Bytes(const ExpertWeights& e) { return Bytes(e.gate) + Bytes(e.up) + Bytes(e.down); }
int64_t Elements(const ExpertWeights& e) {
  return e.gate.num_elements + e.up.num_elements + e.down.num_elements;
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
    if (c.is_moe()) {
      RETURN_IF_ERROR(BindMoe(file, c, b, &l));
      continue;
    }
    ASSIGN_OR_RETURN(l.w_gate, Find(file, b + "ffn_gate.weight", {c.dim, c.ffn_dim}));
    ASSIGN_OR_RETURN(l.w_up, Find(file, b + "ffn_up.weight", {c.dim, c.ffn_dim}));
    ASSIGN_OR_RETURN(l.w_down, Find(file, b + "ffn_down.weight", {c.ffn_dim, c.dim}));
  }
  w.experts_used = c.expert_used_count;
  return w;
}

int64_t ModelWeights::MatrixBytesPerToken() const {
  int64_t bytes = Bytes(*output);
  for (const LayerWeights& l : layers) {
    for (const GgufTensor* t :
         {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down, l.router, l.shared_gate_inp}) {
      if (t != nullptr) bytes += Bytes(*t);
    }
    if (l.shared_expert) bytes += Bytes(*l.shared_expert);
    if (l.experts.empty()) continue;
    int64_t experts = 0;
    for (const ExpertWeights& e : l.experts) experts += Bytes(e);
    bytes += experts * experts_used / static_cast<int64_t>(l.experts.size());
  }
  return bytes;
}

ParameterCounts ModelWeights::CountParameters() const {
  ParameterCounts n;
  n.total = token_embd->num_elements + static_cast<int64_t>(output_norm.size()) +
            static_cast<int64_t>(rope_freq_factors.size());
  if (output != token_embd) n.total += output->num_elements;
  int64_t inactive = 0;
  for (const LayerWeights& l : layers) {
    for (const GgufTensor* t :
         {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down, l.router, l.shared_gate_inp}) {
      if (t != nullptr) n.total += t->num_elements;
    }
    for (const std::vector<float>* v : {&l.attn_norm, &l.bq, &l.bk, &l.bv, &l.ffn_norm}) {
      n.total += static_cast<int64_t>(v->size());
    }
    if (l.shared_expert) n.total += Elements(*l.shared_expert);
    if (l.experts.empty()) continue;
    int64_t experts = 0;
    for (const ExpertWeights& e : l.experts) experts += Elements(e);
    n.total += experts;
    const int64_t count = static_cast<int64_t>(l.experts.size());
    inactive += experts * (count - experts_used) / count;
  }
  n.active = n.total - inactive;
  return n;
}

}  // namespace hearth::engine
