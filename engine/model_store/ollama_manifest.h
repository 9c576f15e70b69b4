// The JSON documents of Ollama's store, parsed (nlohmann-json):
//
//   manifest  Docker image manifest v2: {"schemaVersion": 2, "config": LAYER, "layers": [LAYER]}
//             with LAYER = {"mediaType", "digest": "sha256:<64 hex>", "size"}. The layers that
//             matter: application/vnd.ollama.image.model (the GGUF), .template (a Go template),
//             .system (a default system prompt), .params (default options, JSON), .adapter
//             (LoRA: not supported), .projector (vision: ignored).
//   params    {"stop": [...], "temperature": 0.7, "top_k": 40, ...}: Ollama's option names.
//   config    {"model_family": "llama", "file_type": "Q4_K_M", "model_type": "8.0B", ...}
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::engine::model_store {

inline constexpr char kMediaTypeModel[] = "application/vnd.ollama.image.model";
inline constexpr char kMediaTypeTemplate[] = "application/vnd.ollama.image.template";
inline constexpr char kMediaTypeSystem[] = "application/vnd.ollama.image.system";
inline constexpr char kMediaTypeParams[] = "application/vnd.ollama.image.params";
inline constexpr char kMediaTypeAdapter[] = "application/vnd.ollama.image.adapter";
inline constexpr char kMediaTypeProjector[] = "application/vnd.ollama.image.projector";

struct OllamaLayer {
  std::string media_type;
  std::string sha256;  // 64 lower-case hex digits (the "sha256:" prefix removed)
  uint64_t size = 0;
};

struct OllamaManifest {
  std::optional<OllamaLayer> config;
  std::vector<OllamaLayer> layers;
  // The first layer of that media type, or nullptr.
  const OllamaLayer* Find(std::string_view media_type) const;
  uint64_t TotalSize() const;  // layers + config, what `ollama list` shows
};

// InvalidArgument naming the field for malformed JSON (with the parser's byte position), a
// missing "layers" array, a layer without mediaType / digest / size, or a digest that is not
// "sha256:" and 64 hex digits.
absl::StatusOr<OllamaManifest> ParseOllamaManifest(std::string_view json);

// Ollama's model options (api/types.go) that map onto Hearth's sampling parameters; the rest
// (mirostat, num_gpu, ...) are listed in `ignored`.
struct OllamaParams {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<float> min_p;
  std::optional<float> repeat_penalty;  // Hearth's repetition_penalty
  std::optional<float> presence_penalty;
  std::optional<float> frequency_penalty;
  std::optional<uint64_t> seed;
  std::optional<int32_t> num_predict;  // max_tokens (Ollama's -1 / -2: unset)
  std::optional<int32_t> num_ctx;      // the context Ollama would allocate
  std::vector<std::string> stop;
  std::vector<std::string> ignored;
};

// InvalidArgument naming the key for malformed JSON or a value of the wrong type.
absl::StatusOr<OllamaParams> ParseOllamaParams(std::string_view json);

// Best effort (empty fields when absent or malformed): the config blob's facts.
struct OllamaConfig {
  std::string model_family;  // "llama"
  std::string file_type;     // "Q4_K_M"
  std::string model_type;    // "8.0B"
};
OllamaConfig ParseOllamaConfig(std::string_view json);

}  // namespace hearth::engine::model_store
