// The Prometheus text exposition format 0.0.4 is rendered by prometheus-cpp's TextSerializer
// (Registry::Render); this header keeps its Content-Type for the HTTP side.
#pragma once

namespace hearth::metrics {

// The Content-Type of Registry::Render's output.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace hearth::metrics
