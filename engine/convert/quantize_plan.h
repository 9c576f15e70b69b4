// Which type each tensor of a model gets when the model is quantized to a target type: the
// rules of llama.cpp's `llama-quantize` (llama_tensor_get_type, without its per-layer mixes),
// adapted to the types Hearth computes with.
//
//   tensor                               gets
//   1-D (norms, biases, rope_freqs)      F32, whatever the target (llama.cpp never quantizes
//                                        them; a 1-D F16/BF16 source is widened)
//   *.ffn_gate_inp.weight (MoE router)   F32 (llama.cpp leaves it unquantized: it decides the
//                                        expert choice, and is tiny)
//   output.weight, or token_embd.weight  Q6_K, or Q8_0 when the target is Q8_0 or rows are not
//   when the model has no output.weight  a multiple of 256 (the logits are the most sensitive
//   (tied embeddings)                    matrix; llama.cpp's rule for every quantized target)
//   everything else                      the target
//   F32 / F16 / BF16 targets             every tensor of 2+ dimensions in the target (no output
//                                        rule), 1-D tensors in F32
//
// Fallbacks: a K-quant needs rows of a multiple of 256 elements (SmolLM2's 576-wide matrices
// are not). llama.cpp then falls back to Q5_0 (for Q4_K) / Q5_1 (Q5_K) / Q8_0 (Q6_K); Hearth
// has fast kernels for neither Q5_0 nor Q5_1, so it takes the nearest type it does run that is
// at least as precise: Q4_K -> Q4_1 (7.8% vs 7.2% relative RMS error on Gaussian rows, 5.0 vs
// 4.5 bits per weight), Q5_K -> Q8_0, Q6_K -> Q8_0. A row that is not a multiple of 32 gets F16.
//
// `pure` (llama-quantize --pure): no output rule; `output_type` / `token_embedding_type`
// (llama-quantize --output-tensor-type / --token-embedding-type) override the rule for those
// two tensors. A tensor whose planned type equals its source type is copied byte for byte.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine::convert {

struct QuantizeOptions {
  GgmlType type = GgmlType::kQ4_K;  // the target
  bool pure = false;
  std::optional<GgmlType> output_type;
  std::optional<GgmlType> token_embedding_type;
};

struct TensorPlan {
  const GgufTensor* source = nullptr;
  GgmlType type = GgmlType::kF32;
  // Why it differs from the target ("1-D", "MoE router", "output rule", "fallback: rows of 576
  // are not a multiple of 256", "--output-type"), empty when it is the target.
  std::string reason;
  bool copy() const { return source->type == type; }
  // Re-quantized from a lossy source (adds that source's error); copies and F32 outputs are not.
  bool requantized() const;
};

// The types `hearth quantize --type` accepts, by their lower-case names: f32 f16 bf16 q8_0
// q4_0 q4_1 q4_k q5_k q6_k. InvalidArgument listing them for anything else.
absl::StatusOr<GgmlType> ParseQuantType(std::string_view name);
std::string QuantTypeNames();  // "f32, f16, ..." for messages

// llama.cpp's general.file_type (llama_ftype) for a target: ALL_F32 0, MOSTLY_F16 1, Q4_0 2,
// Q4_1 3, Q8_0 7, Q4_K_S 14, Q5_K_S 16, Q6_K 18, BF16 32.
uint32_t FileTypeFor(GgmlType target);

// The rule for one tensor (what PlanQuantization applies to each): `model_has_output` says
// whether the model has an output.weight (else token_embd is the LM head). `reason` receives
// why the type differs from the target (empty when it does not).
GgmlType TensorTypeFor(std::string_view name, const std::vector<int64_t>& shape,
                       bool model_has_output, const QuantizeOptions& options, std::string* reason);

// One entry per tensor of `source`, in file order. InvalidArgument naming the tensor when a
// tensor that must be converted has a source type Hearth cannot dequantize.
absl::StatusOr<std::vector<TensorPlan>> PlanQuantization(const GgufFile& source,
                                                         const QuantizeOptions& options);

}  // namespace hearth::engine::convert
