#include "server/cli/model_path.h"

#include <cstdlib>

namespace hearth::server {

std::string DefaultModelPath() {
  if (const char* model = std::getenv("HEARTH_MODEL"); model != nullptr && *model != '\0') {
    return model;
  }
  const char* dir = std::getenv("HEARTH_MODEL_DIR");
  std::string base = (dir != nullptr && *dir != '\0') ? dir : "models";
  return base + "/" + kDefaultModelFile;
}

}  // namespace hearth::server
