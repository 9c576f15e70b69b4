// Where the default model lives, for commands run with no --model.
#pragma once

#include <string>

namespace hearth::server {

inline constexpr char kDefaultModelFile[] = "SmolLM2-135M-Instruct.Q4_1.gguf";

// $HEARTH_MODEL when set, else models/<default file> under $HEARTH_MODEL_DIR or the current
// directory.
std::string DefaultModelPath();

}  // namespace hearth::server
