// How a GPU stage computes its matmuls (the `cuda_gemm` setting), for every backend's config.
#pragma once

#include <optional>
#include <string_view>

namespace hearth::engine {

// kInvariant: fused dequantize + tensor-core tiles for every batch size, so a request's tokens
// do not depend on the rest of its batch (the CPU's contract; the default). kFast: cuBLAS for
// batches of cublas_min_tokens or more (faster prefill; large-batch results may then differ in
// the last bits with the batch). kExact: fp32 dequantize-and-dot everywhere (matches the CPU's
// f32 path; the slowest).
enum class GemmMode { kInvariant, kFast, kExact };

// "invariant", "fast", "exact".
inline const char* GemmModeName(GemmMode mode) {
  switch (mode) {
    case GemmMode::kInvariant:
      return "invariant";
    case GemmMode::kFast:
      return "fast";
    case GemmMode::kExact:
      return "exact";
  }
  return "?";
}

// The inverse of GemmModeName; nullopt otherwise.
inline std::optional<GemmMode> ParseGemmMode(std::string_view name) {
  if (name == "invariant") return GemmMode::kInvariant;
  if (name == "fast") return GemmMode::kFast;
  if (name == "exact") return GemmMode::kExact;
  return std::nullopt;
}

}  // namespace hearth::engine
