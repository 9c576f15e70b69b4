#include "engine/convert/synthetic_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/convert/quantize_plan.h"
#include "engine/convert/random_blocks.h"
#include "engine/convert/synthetic_tokenizer.h"
#include "engine/gguf/gguf_writer.h"

namespace hearth::engine::convert {
namespace {

constexpr uint64_t kChunkBytes = 64ull << 20;  // generated, then written, per step

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> shape;  // innermost first
  GgmlType type;
  float sigma;        // standard deviation of the decoded values (0: ones, for norms)
  uint64_t seed = 0;  // per tensor
};

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

std::vector<PlannedTensor> PlanTensors(const SyntheticModelSpec& s) {
  const int64_t head_dim = s.dim / s.heads;
  const int64_t q = s.heads * head_dim, kv = s.kv_heads * head_dim;
  std::vector<PlannedTensor> out;
  auto matrix = [&](std::string name, std::vector<int64_t> shape) {
    out.push_back({std::move(name), std::move(shape), GgmlType::kF32, 0.0f});
    out.back().sigma = 1.0f / std::sqrt(static_cast<float>(out.back().shape[0]));
  };
  auto norm = [&](std::string name, int64_t n) {
    out.push_back({std::move(name), {n}, GgmlType::kF32, 0.0f});
  };
  matrix("token_embd.weight", {s.dim, s.vocab});
  norm("output_norm.weight", s.dim);
  if (!s.tied_embeddings) matrix("output.weight", {s.dim, s.vocab});
  for (int32_t l = 0; l < s.layers; ++l) {
    const std::string b = absl::StrCat("blk.", l, ".");
    norm(b + "attn_norm.weight", s.dim);
    matrix(b + "attn_q.weight", {s.dim, q});
    matrix(b + "attn_k.weight", {s.dim, kv});
    matrix(b + "attn_v.weight", {s.dim, kv});
    matrix(b + "attn_output.weight", {q, s.dim});
    norm(b + "ffn_norm.weight", s.dim);
    if (s.experts > 0) {
      matrix(b + "ffn_gate_inp.weight", {s.dim, s.experts});
      matrix(b + "ffn_gate_exps.weight", {s.dim, s.ffn, s.experts});
      matrix(b + "ffn_down_exps.weight", {s.ffn, s.dim, s.experts});
      matrix(b + "ffn_up_exps.weight", {s.dim, s.ffn, s.experts});
    } else {
      matrix(b + "ffn_gate.weight", {s.dim, s.ffn});
      matrix(b + "ffn_down.weight", {s.ffn, s.dim});
      matrix(b + "ffn_up.weight", {s.dim, s.ffn});
    }
  }
  QuantizeOptions options;
  options.type = s.type;
  for (PlannedTensor& t : out) {
    std::string reason;
    t.type = TensorTypeFor(t.name, t.shape, !s.tied_embeddings, options, &reason);
    t.seed = s.seed * 0x9E3779B97F4A7C15ull ^ Fnv1a(t.name);
  }
  return out;
}

// Fills blocks [first, first + n_blocks) of tensor `t` into `dst` with `threads` threads.
absl::Status FillChunk(const PlannedTensor& t, int64_t first, int64_t n_blocks, uint8_t* dst,
                       int threads) {
  const int64_t type_size = GetTypeTraits(t.type).type_size;
  if (t.sigma == 0.0f) {  // norm weights: ones
    const float one = 1.0f;
    for (int64_t i = 0; i < n_blocks; ++i) std::memcpy(dst + 4 * i, &one, 4);
    return absl::OkStatus();
  }
  const int64_t n = std::clamp<int64_t>(n_blocks / 4096, 1, threads);
  std::vector<absl::Status> status(n);
  auto work = [&](int64_t i) {
    const int64_t b0 = n_blocks * i / n, b1 = n_blocks * (i + 1) / n;
    status[i] =
        FillRandomBlocks(t.type, t.sigma, t.seed, first + b0, b1 - b0, dst + b0 * type_size);
  };
  std::vector<std::thread> workers;
  for (int64_t i = 1; i < n; ++i) workers.emplace_back(work, i);
  work(0);
  for (std::thread& w : workers) w.join();
  for (const absl::Status& st : status) RETURN_IF_ERROR(st);
  return absl::OkStatus();
}

}  // namespace

absl::Status SyntheticModelSpec::Validate() const {
  auto bad = [](std::string_view what) { return absl::InvalidArgumentError(std::string(what)); };
  if (layers < 1) return bad(absl::StrCat("layers must be >= 1, got ", layers));
  if (dim < 1 || ffn < 1 || heads < 1 || kv_heads < 1 || context < 1) {
    return bad("dim, ffn, heads, kv_heads and context must be >= 1");
  }
  if (dim % heads != 0) return bad(absl::StrCat("heads (", heads, ") must divide dim (", dim, ")"));
  if ((dim / heads) % 2 != 0) return bad(absl::StrCat("dim / heads must be even for RoPE"));
  if (heads % kv_heads != 0) {
    return bad(absl::StrCat("kv_heads (", kv_heads, ") must divide heads (", heads, ")"));
  }
  if (experts < 0 || (experts > 0 && (experts_used < 1 || experts_used > experts)) ||
      (experts == 0 && experts_used != 0)) {
    return bad(absl::StrCat("experts_used (", experts_used, ") must be in [1, experts (", experts,
                            ")] for a MoE model, 0 otherwise"));
  }
  if (vocab < MinSyntheticVocab()) {
    return bad(absl::StrCat("vocab must be >= ", MinSyntheticVocab(), ", got ", vocab));
  }
  const TypeTraits& traits = GetTypeTraits(type);
  if (dim % 32 != 0 || ffn % 32 != 0) {
    return bad(
        absl::StrCat("dim and ffn must be multiples of 32 (block types), got ", dim, ", ", ffn));
  }
  if (FillRandomBlocks(type, 1.0f, 0, 0, 0, nullptr).code() != absl::StatusCode::kOk) {
    return bad(absl::StrCat("no random generator for type ", std::string(traits.name)));
  }
  return absl::OkStatus();
}

int64_t SyntheticModelSpec::ParameterCount() const {
  int64_t n = 0;
  for (const PlannedTensor& t : PlanTensors(*this)) {
    int64_t e = 1;
    for (int64_t d : t.shape) e *= d;
    n += e;
  }
  return n;
}

const char* SyntheticPresetNames() { return "llama3-8b, mixtral-8x7b, tiny"; }

absl::StatusOr<SyntheticModelSpec> SyntheticPreset(std::string_view name) {
  SyntheticModelSpec s;
  s.name = std::string(name);
  if (name == "tiny") return s;
  if (name == "llama3-8b" || name == "mixtral-8x7b") {
    s.layers = 32;
    s.dim = 4096;
    s.ffn = 14336;
    s.heads = 32;
    s.kv_heads = 8;
    if (name == "llama3-8b") {
      s.vocab = 128256;
      s.context = 8192;
      s.rope_base = 500000.0f;
    } else {
      s.vocab = 32000;
      s.context = 32768;
      s.rope_base = 1000000.0f;
      s.experts = 8;
      s.experts_used = 2;
    }
    return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown preset '", std::string(name),
                                                 "' (one of: ", SyntheticPresetNames(), ")"));
}

absl::StatusOr<SynthStats> WriteSyntheticModel(
    const SyntheticModelSpec& spec, const std::string& path, int threads,
    const std::function<void(const SynthProgress&)>& on_progress) {
  RETURN_IF_ERROR(spec.Validate());
  const auto start = std::chrono::steady_clock::now();
  const std::vector<PlannedTensor> tensors = PlanTensors(spec);
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", spec.name);
  w.SetString("general.description", "hearth synth-model: random weights, not a trained model");
  w.SetUint32("general.file_type", FileTypeFor(spec.type));
  w.SetUint32("general.quantization_version", 2);
  w.SetUint32("llama.block_count", spec.layers);
  w.SetUint32("llama.context_length", spec.context);
  w.SetUint32("llama.embedding_length", spec.dim);
  w.SetUint32("llama.feed_forward_length", spec.ffn);
  w.SetUint32("llama.attention.head_count", spec.heads);
  w.SetUint32("llama.attention.head_count_kv", spec.kv_heads);
  w.SetFloat32("llama.rope.freq_base", spec.rope_base);
  w.SetFloat32("llama.attention.layer_norm_rms_epsilon", spec.rms_eps);
  w.SetUint32("llama.rope.dimension_count", spec.dim / spec.heads);
  w.SetUint32("llama.vocab_size", spec.vocab);
  if (spec.experts > 0) {
    w.SetUint32("llama.expert_count", spec.experts);
    w.SetUint32("llama.expert_used_count", spec.experts_used);
  }
  RETURN_IF_ERROR(AddSyntheticTokenizer(spec.vocab, w));
  for (const PlannedTensor& t : tensors) RETURN_IF_ERROR(w.AddTensor(t.name, t.type, t.shape));

  SynthProgress progress;
  progress.tensors_total = static_cast<int64_t>(tensors.size());
  for (const auto& info : w.tensors()) progress.bytes_total += info.num_bytes;
  RETURN_IF_ERROR(w.Begin(path));
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PlannedTensor& t = tensors[i];
    const int64_t type_size = GetTypeTraits(t.type).type_size;
    const int64_t total_blocks = static_cast<int64_t>(w.tensors()[i].num_bytes) / type_size;
    const int64_t chunk_blocks = std::max<int64_t>(1, kChunkBytes / type_size);
    for (int64_t first = 0; first < total_blocks; first += chunk_blocks) {
      const int64_t n = std::min(chunk_blocks, total_blocks - first);
      buffer.resize(n * type_size);
      RETURN_IF_ERROR(FillChunk(t, first, n, buffer.data(), std::max(1, threads)));
      RETURN_IF_ERROR(w.Write(buffer.data(), buffer.size()));
    }
    ++progress.tensors_done;
    progress.bytes_done += w.tensors()[i].num_bytes;
    progress.current = &t.name;
    if (on_progress) on_progress(progress);
  }
  RETURN_IF_ERROR(w.Finish());
  SynthStats stats;
  stats.tensors = static_cast<int64_t>(tensors.size());
  std::error_code ec;
  stats.bytes = std::filesystem::file_size(path, ec);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace hearth::engine::convert
