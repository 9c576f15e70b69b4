#pragma once

namespace hearth::server {
inline constexpr char kVersion[] = "0.1.0";
}  // namespace hearth::server
