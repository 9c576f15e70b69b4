// A model opened from a GGUF file: the mapped file, its config and its bound weights.
//
//   ASSIGN_OR_RETURN(auto model, LoadedModel::Open(path));
//   ASSIGN_OR_RETURN(auto backend, CreateBackend(*model, BackendConfig{}));
//
// (The backend factory lives in engine/runtime/backend_factory.h, so this library
// does not depend on any backend.)
//
// Ownership: LoadedModel owns the GgufFile; the config and weights point into it. Backends
// created from it borrow it: the LoadedModel must outlive them.
// Thread-safety: immutable after Open().
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#include "engine/model/weights.h"

namespace hearth::engine {

class LoadedModel {
 public:
  // Opens, parses and validates the model. Errors name the path and the problem.
  static absl::StatusOr<std::unique_ptr<LoadedModel>> Open(const std::string& path,
                                                           GgufLoad load = GgufLoad::kMmap);
  // Same, over an already opened file.
  static absl::StatusOr<std::unique_ptr<LoadedModel>> FromFile(std::unique_ptr<GgufFile> file);

  const GgufFile& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }

 private:
  LoadedModel() = default;

  std::unique_ptr<GgufFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
};

}  // namespace hearth::engine
