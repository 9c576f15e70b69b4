// The element type of cached K/V, for every backend.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth::engine {

// float32, or IEEE binary16 stored as uint16_t bits.
enum class KvDtype { kF32, kF16 };

inline int32_t KvDtypeBytes(KvDtype dtype) { return dtype == KvDtype::kF16 ? 2 : 4; }

// "f32", "f16".
inline const char* KvDtypeName(KvDtype dtype) { return dtype == KvDtype::kF16 ? "f16" : "f32"; }

// The inverse of KvDtypeName; nullopt otherwise.
inline std::optional<KvDtype> ParseKvDtype(std::string_view name) {
  if (name == "f32") return KvDtype::kF32;
  if (name == "f16") return KvDtype::kF16;
  return std::nullopt;
}

}  // namespace hearth::engine
