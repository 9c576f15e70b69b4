// Which API a request came through: the `protocol` label of the serving metrics.
#pragma once

#include <string_view>

namespace hearth::server {

enum class Protocol { kGrpc, kOpenAi, kOllama, kMetrics };
inline constexpr int kNumProtocols = 4;

constexpr std::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kGrpc:
      return "grpc";
    case Protocol::kOpenAi:
      return "openai";
    case Protocol::kOllama:
      return "ollama";
    case Protocol::kMetrics:
      return "metrics";
  }
  return "grpc";
}

}  // namespace hearth::server
