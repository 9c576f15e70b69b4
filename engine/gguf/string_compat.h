// Debian 12's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0),
// which does not convert from std::string_view. ToAbsl bridges the two for StrCat / CEscape /
// heterogeneous flat_hash_map lookup. Internal to engine/gguf.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace hearth::engine::gguf_internal {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace hearth::engine::gguf_internal
