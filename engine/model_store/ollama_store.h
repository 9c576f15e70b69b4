// Ollama's local model store, read-only: resolve a model name to its GGUF blob and the extra
// layers Ollama keeps beside it, and list what the store holds.
//
//   <root>/manifests/<host>/<namespace>/<model>/<tag>      manifest JSON (ollama_manifest.h)
//   <root>/blobs/sha256-<hex>                              content-addressed layers
//
// <root> is $OLLAMA_MODELS, else ~/.ollama/models (the Linux service's store is
// /usr/share/ollama/.ollama/models: set OLLAMA_MODELS to it). Resolve() checks the model
// blob's size and, per VerifyMode, its sha256 (blob_verifier.h); the template / system /
// params layers are read when present. Errors name the model and the file:
//   NotFound          no manifest for the name (the message says where it looked), or a
//                     layer's blob is missing
//   InvalidArgument   a malformed name, manifest or params layer; no model layer; a LoRA
//                     adapter layer (not supported)
//   DataLoss          a blob whose size or sha256 differs from the manifest's
//
// Thread-safety: immutable; methods may be called concurrently (they only read files).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_store/blob_verifier.h"
#include "engine/model_store/ollama_manifest.h"
#include "engine/model_store/ollama_name.h"

namespace hearth::engine::model_store {

struct OllamaModel {
  OllamaName name;
  std::string manifest_path;
  std::string gguf_path;  // the model layer's blob
  uint64_t gguf_size = 0;
  uint64_t total_size = 0;                   // every layer, as `ollama list` shows
  std::optional<std::string> template_text;  // a Go template
  std::optional<std::string> system;         // default system prompt
  std::optional<OllamaParams> params;
  OllamaConfig config;
  VerifyResult verify;
  std::vector<std::string> notes;  // ignored layers / options, for the log
};

// llama.cpp's general.file_type names ("Q4_K_M", "Q8_0", "F16", ...); "" for unknown numbers.
std::string FileTypeName(uint32_t file_type);

class OllamaStore {
 public:
  // $OLLAMA_MODELS, else $HOME/.ollama/models.
  static std::string DefaultRoot();

  explicit OllamaStore(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  // Whether `name` parses and has a manifest (cheap: one stat).
  bool Has(std::string_view name) const;

  absl::StatusOr<OllamaModel> Resolve(std::string_view name, VerifyMode verify,
                                      const std::string& verify_cache_path) const;

  struct Entry {
    OllamaName name;
    std::string id;  // first 12 hex digits of the manifest's sha256 (Ollama's ID column)
    uint64_t size = 0;
    std::string family;         // config blob's model_family, else the GGUF's architecture
    std::string quantization;   // config blob's file_type, else the GGUF's general.file_type
    std::string parameters;     // config blob's model_type ("8.0B"), else ""
    int64_t modified_unix = 0;  // manifest mtime
    std::string error;          // non-empty: the entry is broken (missing blob, bad manifest)
  };
  // Every manifest under the store, sorted by display name. Broken entries are listed with
  // `error` set (hashes are not checked: listing stays quick). NotFound when the store has no
  // manifests directory.
  absl::StatusOr<std::vector<Entry>> List() const;

 private:
  std::string BlobPath(std::string_view sha256) const;

  std::string root_;
};

}  // namespace hearth::engine::model_store
