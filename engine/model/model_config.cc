#include "engine/model/model_config.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hearth::engine {
namespace {

// Reads `<arch>.<name>`; a missing key becomes NotFound naming the full key.
class ArchKeys {
 public:
  ArchKeys(const GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  std::string Key(std::string_view name) const {
    return absl::StrCat(arch_, ".", std::string(name));
  }

  absl::StatusOr<int32_t> RequiredInt(std::string_view name) const {
    const std::string key = Key(name);
    if (file_.Find(key) == nullptr) return Missing(key);
    ASSIGN_OR_RETURN(int64_t v, file_.GetInt(key));
    return Narrow(key, v);
  }
  absl::StatusOr<int32_t> OptionalInt(std::string_view name, int32_t fallback) const {
    const std::string key = Key(name);
    if (file_.Find(key) == nullptr) return fallback;
    ASSIGN_OR_RETURN(int64_t v, file_.GetInt(key));
    return Narrow(key, v);
  }
  absl::StatusOr<float> RequiredFloat(std::string_view name) const {
    const std::string key = Key(name);
    if (file_.Find(key) == nullptr) return Missing(key);
    ASSIGN_OR_RETURN(double v, file_.GetFloat(key));
    return static_cast<float>(v);
  }
  absl::StatusOr<float> OptionalFloat(std::string_view name, float fallback) const {
    const std::string key = Key(name);
    if (file_.Find(key) == nullptr) return fallback;
    ASSIGN_OR_RETURN(double v, file_.GetFloat(key));
    return static_cast<float>(v);
  }
  bool Has(std::string_view name) const { return file_.Find(Key(name)) != nullptr; }
  absl::StatusOr<std::string> String(std::string_view name) const {
    return file_.GetString(Key(name));
  }

 private:
  static absl::Status Missing(const std::string& key) {
    return absl::NotFoundError(absl::StrCat("model metadata key '", key, "' is missing"));
  }
  static absl::StatusOr<int32_t> Narrow(const std::string& key, int64_t v) {
    if (v < 0 || v > (int64_t{1} << 30)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata '", key, "' = ", v, " is out of range"));
    }
    return static_cast<int32_t>(v);
  }

  const GgufFile& file_;
  std::string arch_;
};

// The mixture-of-experts keys: none (dense) or both counts; qwen2moe requires them.
absl::Status ReadExperts(const ArchKeys& keys, ModelConfig* c) {
  const bool has_count = keys.Has("expert_count"), has_used = keys.Has("expert_used_count");
  if (has_count != has_used) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model metadata has '", keys.Key(has_count ? "expert_count" : "expert_used_count"),
        "' without '", keys.Key(has_count ? "expert_used_count" : "expert_count"),
        "': a mixture of experts needs both"));
  }
  if (!has_count) {
    if (c->arch != ModelArch::kQwen2Moe) return absl::OkStatus();
    return absl::NotFoundError(
        absl::StrCat("model metadata key '", keys.Key("expert_count"), "' is missing"));
  }
  ASSIGN_OR_RETURN(c->expert_count, keys.RequiredInt("expert_count"));
  ASSIGN_OR_RETURN(c->expert_used_count, keys.RequiredInt("expert_used_count"));
  if (c->expert_count == 0 && c->expert_used_count == 0 && c->arch != ModelArch::kQwen2Moe) {
    return absl::OkStatus();  // some dense files write both as 0
  }
  if (c->expert_count <= 0 || c->expert_used_count <= 0 || c->expert_used_count > c->expert_count) {
    return absl::InvalidArgumentError(
        absl::StrCat(keys.Key("expert_used_count"), " = ", c->expert_used_count, " and ",
                     keys.Key("expert_count"), " = ", c->expert_count, ": need 0 < used <= count"));
  }
  if (c->arch == ModelArch::kQwen2Moe) {
    // llama.cpp's defaults for files without the widths.
    ASSIGN_OR_RETURN(c->expert_ffn_dim, keys.OptionalInt("expert_feed_forward_length",
                                                         c->ffn_dim / c->expert_used_count));
    ASSIGN_OR_RETURN(c->shared_expert_ffn_dim,
                     keys.OptionalInt("expert_shared_feed_forward_length", c->ffn_dim));
    c->normalize_expert_weights = false;
  } else {
    ASSIGN_OR_RETURN(c->expert_ffn_dim, keys.OptionalInt("expert_feed_forward_length", c->ffn_dim));
  }
  return absl::OkStatus();
}

}  // namespace

const char* SupportedArchitectures() { return "llama, qwen2, qwen2moe"; }

absl::StatusOr<ModelConfig> ModelConfig::FromGguf(const GgufFile& file) {
  if (file.Find("general.architecture") == nullptr) {
    return absl::NotFoundError("model metadata key 'general.architecture' is missing");
  }
  ModelConfig c;
  ASSIGN_OR_RETURN(c.arch_name, file.GetString("general.architecture"));
  if (c.arch_name == "llama") {
    c.arch = ModelArch::kLlama;
    c.rope_style = RopeStyle::kNormal;
  } else if (c.arch_name == "qwen2") {
    c.arch = ModelArch::kQwen2;
    c.rope_style = RopeStyle::kNeox;
    c.has_qkv_bias = true;
  } else if (c.arch_name == "qwen2moe") {
    c.arch = ModelArch::kQwen2Moe;
    c.rope_style = RopeStyle::kNeox;
    c.has_qkv_bias = true;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported model architecture '", c.arch_name,
                                                   "' (supported: ", SupportedArchitectures(),
                                                   ")"));
  }

  const ArchKeys keys(file, c.arch_name);
  ASSIGN_OR_RETURN(c.num_layers, keys.RequiredInt("block_count"));
  ASSIGN_OR_RETURN(c.dim, keys.RequiredInt("embedding_length"));
  ASSIGN_OR_RETURN(c.ffn_dim, keys.RequiredInt("feed_forward_length"));
  ASSIGN_OR_RETURN(c.num_heads, keys.RequiredInt("attention.head_count"));
  ASSIGN_OR_RETURN(c.num_kv_heads, keys.OptionalInt("attention.head_count_kv", c.num_heads));
  ASSIGN_OR_RETURN(c.context_length, keys.RequiredInt("context_length"));
  ASSIGN_OR_RETURN(c.rms_eps, keys.RequiredFloat("attention.layer_norm_rms_epsilon"));
  if (c.num_heads <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(keys.Key("attention.head_count"), " must be positive"));
  }
  ASSIGN_OR_RETURN(c.head_dim, keys.OptionalInt("attention.key_length", c.dim / c.num_heads));
  ASSIGN_OR_RETURN(int32_t value_dim, keys.OptionalInt("attention.value_length", c.head_dim));
  if (value_dim != c.head_dim) {
    return absl::InvalidArgumentError(absl::StrCat(keys.Key("attention.value_length"), " = ",
                                                   value_dim, " differs from key_length ",
                                                   c.head_dim, " (unsupported)"));
  }
  ASSIGN_OR_RETURN(c.rope_dims, keys.OptionalInt("rope.dimension_count", c.head_dim));
  ASSIGN_OR_RETURN(c.rope_base, keys.OptionalFloat("rope.freq_base", 10000.0f));

  // RoPE scaling: none or linear. Older files spell linear as `rope.scale_linear`.
  std::string scaling = "none";
  if (keys.Has("rope.scaling.type")) {
    ASSIGN_OR_RETURN(scaling, keys.String("rope.scaling.type"));
  }
  if (scaling == "linear") {
    ASSIGN_OR_RETURN(c.rope_linear_scale, keys.OptionalFloat("rope.scaling.factor", 1.0f));
  } else if (scaling == "none") {
    ASSIGN_OR_RETURN(c.rope_linear_scale, keys.OptionalFloat("rope.scale_linear", 1.0f));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported ", keys.Key("rope.scaling.type"),
                                                   " '", scaling, "' (supported: none, linear)"));
  }
  c.has_rope_freq_factors = file.FindTensor("rope_freqs.weight") != nullptr;
  RETURN_IF_ERROR(ReadExperts(keys, &c));

  // Vocabulary: the metadata key when present, else the embedding's rows.
  const GgufTensor* embd = file.FindTensor("token_embd.weight");
  if (keys.Has("vocab_size")) {
    ASSIGN_OR_RETURN(c.vocab_size, keys.RequiredInt("vocab_size"));
  } else if (embd != nullptr) {
    c.vocab_size = static_cast<int32_t>(embd->rows());
  } else {
    return absl::NotFoundError("neither metadata key '" + keys.Key("vocab_size") +
                               "' nor tensor 'token_embd.weight' is present");
  }
  c.tied_output = file.FindTensor("output.weight") == nullptr;
  RETURN_IF_ERROR(c.Validate());
  return c;
}

absl::Status ModelConfig::Validate() const {
  auto bad = [](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("invalid model config: ", parts...));
  };
  if (num_layers <= 0) return bad("block_count ", num_layers, " must be positive");
  if (dim <= 0) return bad("embedding_length ", dim, " must be positive");
  if (ffn_dim <= 0) return bad("feed_forward_length ", ffn_dim, " must be positive");
  if (num_heads <= 0 || num_kv_heads <= 0) {
    return bad("head counts ", num_heads, "/", num_kv_heads, " must be positive");
  }
  if (num_heads % num_kv_heads != 0) {
    return bad("head_count ", num_heads, " is not a multiple of head_count_kv ", num_kv_heads);
  }
  if (head_dim <= 0 || head_dim % 2 != 0) return bad("head dim ", head_dim, " must be even");
  if (rope_dims <= 0 || rope_dims % 2 != 0 || rope_dims > head_dim) {
    return bad("rope.dimension_count ", rope_dims, " must be even and <= head dim ", head_dim);
  }
  if (!(rope_base > 0.0f)) return bad("rope.freq_base ", rope_base, " must be positive");
  if (!(rope_linear_scale > 0.0f)) return bad("rope scaling factor must be positive");
  if (!(rms_eps > 0.0f)) return bad("rms epsilon ", rms_eps, " must be positive");
  if (vocab_size <= 0) return bad("vocab size ", vocab_size, " must be positive");
  if (context_length <= 0) return bad("context_length ", context_length, " must be positive");
  if (expert_count < 0 || expert_count > kMaxExperts) {
    return bad("expert_count ", expert_count, " must be in [0, ", kMaxExperts, "]");
  }
  if ((expert_count == 0) != (expert_used_count == 0) || expert_used_count < 0 ||
      expert_used_count > expert_count) {
    return bad("expert_used_count ", expert_used_count, " with expert_count ", expert_count,
               ": need 0 < used <= count, or both 0");
  }
  if (expert_count > 0 && expert_ffn_dim <= 0) {
    return bad("expert_feed_forward_length ", expert_ffn_dim, " must be positive");
  }
  if (shared_expert_ffn_dim < 0 || (shared_expert_ffn_dim > 0 && expert_count == 0)) {
    return bad("a shared expert (width ", shared_expert_ffn_dim, ") needs a mixture of experts");
  }
  if (arch == ModelArch::kQwen2Moe && (expert_count == 0 || shared_expert_ffn_dim <= 0)) {
    return bad("qwen2moe needs experts and a shared expert");
  }
  return absl::OkStatus();
}

}  // namespace hearth::engine
