#include "engine/model/model.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hearth::engine {

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadedModel::Open(const std::string& path,
                                                               GgufLoad load) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path, load);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat("cannot open model ", path, ": ", file.status().message()));
  }
  absl::StatusOr<std::unique_ptr<LoadedModel>> model = FromFile(*std::move(file));
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("model ", path, ": ", model.status().message()));
  }
  return model;
}

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadedModel::FromFile(std::unique_ptr<GgufFile> file) {
  std::unique_ptr<LoadedModel> model(new LoadedModel());
  model->file_ = std::move(file);
  ASSIGN_OR_RETURN(model->config_, ModelConfig::FromGguf(*model->file_));
  ASSIGN_OR_RETURN(model->weights_, ModelWeights::Bind(*model->file_, model->config_));
  return model;
}

}  // namespace hearth::engine
