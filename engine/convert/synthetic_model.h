// Synthetic llama-shaped models with random weights, written straight in a quantized type:
// the shapes, metadata and tensor types of a real model (llama.cpp's names and layout, the
// `hearth quantize` type rules), random blocks with sane scales (random_blocks.h: each matrix
// decodes to zero-centred values of standard deviation 1 / sqrt(columns), so activations stay
// O(1) through the layers), and a minimal byte-level tokenizer (synthetic_tokenizer.h). For
// GPU and MoE benchmarks on machines without Python or real weights: an 8B file is written
// at disk speed.
//
//   llama3-8b      32 layers, dim 4096, ffn 14336, 32 heads / 8 KV heads, vocab 128256,
//                  context 8192, rope base 500000
//   mixtral-8x7b   32 layers, dim 4096, ffn 14336 per expert, 32 / 8 heads, vocab 32000,
//                  context 32768, rope base 1e6, 8 experts (2 used): llama arch with
//                  llama.expert_count / expert_used_count, blk.N.ffn_gate_inp.weight
//                  {dim, experts} and 3-D blk.N.ffn_{gate,up,down}_exps.weight
//                  ({dim, ffn, experts}, {dim, ffn, experts}, {ffn, dim, experts})
//   tiny           2 layers, dim 256, ffn 512, 4 / 2 heads, vocab 512 (tests)
//
// Thread-safety: pure functions; WriteSyntheticModel may run concurrently on different paths.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine::convert {

struct SyntheticModelSpec {
  std::string name = "synthetic";  // general.name
  int32_t layers = 2;
  int32_t dim = 256;
  int32_t ffn = 512;
  int32_t heads = 4;
  int32_t kv_heads = 2;
  int32_t vocab = 512;
  int32_t context = 4096;
  int32_t experts = 0;  // 0: dense FFN; else MoE with `experts_used` routed per token
  int32_t experts_used = 0;
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_embeddings = false;  // no output.weight
  GgmlType type = GgmlType::kQ4_K;
  uint64_t seed = 1;

  // InvalidArgument naming the first bad field (positive sizes, heads divide dim, kv_heads
  // divide heads, even head size, experts_used in [1, experts] for MoE, vocab large enough for
  // the tokenizer, a type with a random generator).
  absl::Status Validate() const;
  int64_t ParameterCount() const;
};

// "llama3-8b", "mixtral-8x7b", "tiny"; InvalidArgument listing them otherwise.
absl::StatusOr<SyntheticModelSpec> SyntheticPreset(std::string_view name);
const char* SyntheticPresetNames();

struct SynthProgress {
  int64_t tensors_done = 0;
  int64_t tensors_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  const std::string* current = nullptr;  // the tensor just written
};

struct SynthStats {
  int64_t tensors = 0;
  uint64_t bytes = 0;  // file size
  double seconds = 0;
};

// Writes the model to `path` (via a temporary renamed when complete). Tensors are generated in
// chunks across `threads` threads; the bytes depend only on the spec (seed included).
absl::StatusOr<SynthStats> WriteSyntheticModel(
    const SyntheticModelSpec& spec, const std::string& path, int threads,
    const std::function<void(const SynthProgress&)>& on_progress = nullptr);

}  // namespace hearth::engine::convert
