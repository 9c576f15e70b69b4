#include "engine/convert/quantize_plan.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/string_compat.h"
#include "engine/quant/quantize.h"

namespace hearth::engine::convert {
namespace {

using T = GgmlType;
using gguf_internal::ToAbsl;

struct NamedType {
  const char* name;
  T type;
  uint32_t file_type;
};
constexpr NamedType kTargets[] = {
    {"f32", T::kF32, 0},    {"f16", T::kF16, 1},    {"bf16", T::kBF16, 32},
    {"q8_0", T::kQ8_0, 7},  {"q4_0", T::kQ4_0, 2},  {"q4_1", T::kQ4_1, 3},
    {"q4_k", T::kQ4_K, 14}, {"q5_k", T::kQ5_K, 16}, {"q6_k", T::kQ6_K, 18},
};

bool IsFloat(T t) { return t == T::kF32 || t == T::kF16 || t == T::kBF16; }

std::string Name(T t) { return std::string(GetTypeTraits(t).name); }

// The nearest type Hearth runs fast that fits rows of `cols` (see the header).
T Fallback(T type, int64_t cols, std::string* reason) {
  const int64_t block = GetTypeTraits(type).block_size;
  if (cols % block == 0) return type;
  T fallback = T::kF16;
  if (cols % 32 == 0) {
    fallback = type == T::kQ4_K ? T::kQ4_1 : T::kQ8_0;
  }
  *reason = absl::StrCat("fallback: rows of ", cols, " are not a multiple of the ", Name(type),
                         " block size ", block);
  return fallback;
}

}  // namespace

bool TensorPlan::requantized() const {
  return !copy() && !IsFloat(source->type) && type != T::kF32;
}

absl::StatusOr<GgmlType> ParseQuantType(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(std::string(name));
  for (const NamedType& t : kTargets) {
    if (lower == t.name) return t.type;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown quantization type '", std::string(name),
                                                 "' (one of: ", QuantTypeNames(), ")"));
}

std::string QuantTypeNames() {
  std::string out;
  for (const NamedType& t : kTargets) absl::StrAppend(&out, out.empty() ? "" : ", ", t.name);
  return out;
}

uint32_t FileTypeFor(GgmlType target) {
  for (const NamedType& t : kTargets) {
    if (t.type == target) return t.file_type;
  }
  return 0;
}

GgmlType TensorTypeFor(std::string_view name, const std::vector<int64_t>& shape,
                       bool model_has_output, const QuantizeOptions& options, std::string* reason) {
  reason->clear();
  T type = options.type;
  const bool is_output = name == "output.weight";
  const bool is_token_embd = name == "token_embd.weight";
  if (shape.size() < 2) {
    type = T::kF32;
    *reason = "1-D";
  } else if (absl::EndsWith(ToAbsl(name), ".ffn_gate_inp.weight")) {
    type = T::kF32;
    *reason = "MoE router";
  } else if (is_output && options.output_type) {
    type = *options.output_type;
    *reason = "--output-type";
  } else if (is_token_embd && options.token_embedding_type) {
    type = *options.token_embedding_type;
    *reason = "--token-embedding-type";
  } else if (!IsFloat(options.type) && !options.pure &&
             (is_output || (is_token_embd && !model_has_output))) {
    if (shape[0] % 256 != 0) {
      type = T::kQ8_0;
    } else {
      type = options.type == T::kQ8_0 ? T::kQ8_0 : T::kQ6_K;
    }
    *reason = is_output ? "output rule" : "output rule (tied embeddings)";
  }
  if (shape.empty()) return type;
  std::string fallback_reason;
  const T fitted = Fallback(type, shape[0], &fallback_reason);
  if (fitted != type) {
    type = fitted;
    *reason = reason->empty() ? fallback_reason : absl::StrCat(*reason, "; ", fallback_reason);
  }
  if (reason->empty() && type != options.type) *reason = "rule";
  return type;
}

absl::StatusOr<std::vector<TensorPlan>> PlanQuantization(const GgufFile& source,
                                                         const QuantizeOptions& options) {
  if (FindQuantizer(options.type) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Hearth cannot quantize to ", Name(options.type)));
  }
  const bool has_output = source.FindTensor("output.weight") != nullptr;
  std::vector<TensorPlan> plan;
  plan.reserve(source.tensors().size());
  for (const GgufTensor& t : source.tensors()) {
    TensorPlan p{&t, options.type, ""};
    p.type = TensorTypeFor(t.name, t.shape, has_output, options, &p.reason);
    if (!p.copy() && (t.traits == nullptr || !t.traits->supported())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", t.name, "' has type ", t.traits ? std::string(t.traits->name) : "unknown",
          ", which Hearth cannot dequantize (convert it with llama.cpp's llama-quantize)"));
    }
    if (FindQuantizer(p.type) == nullptr && !p.copy()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", t.name, "': Hearth cannot quantize to ", Name(p.type)));
    }
    plan.push_back(std::move(p));
  }
  return plan;
}

}  // namespace hearth::engine::convert
