// Ollama model names, parsed and printed the way Ollama does (its types/model/name.go):
//
//   [host/][namespace/]model[:tag]          defaults: registry.ollama.ai, library, latest
//
//   "llama3"                        -> registry.ollama.ai/library/llama3:latest
//   "llama3:8b"                     -> registry.ollama.ai/library/llama3:8b
//   "jmorgan/mistral:q4_K_M"        -> registry.ollama.ai/jmorgan/mistral:q4_K_M
//   "localhost:5000/team/llm:v2"    -> localhost:5000/team/llm:v2  (':' before a '/' is a port)
//
// The manifest of a name lives at manifests/<host>/<namespace>/<model>/<tag> under the store.
// DisplayName() is the shortest form Ollama prints (`ollama list`): host and namespace left
// out when they are the defaults ("llama3:8b", "jmorgan/mistral:q4_K_M").
//
// Thread-safety: plain values.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hearth::engine::model_store {

inline constexpr char kDefaultHost[] = "registry.ollama.ai";
inline constexpr char kDefaultNamespace[] = "library";
inline constexpr char kDefaultTag[] = "latest";

struct OllamaName {
  std::string host = kDefaultHost;
  std::string name_space = kDefaultNamespace;
  std::string model;
  std::string tag = kDefaultTag;

  // "llama3:8b", "jmorgan/mistral:latest", "localhost:5000/team/llm:v2".
  std::string DisplayName() const;
  // "registry.ollama.ai/library/llama3/8b": the manifest path under <store>/manifests.
  std::string ManifestRelativePath() const;
};

// InvalidArgument naming the problem for an empty part, more than three '/'-separated parts,
// or a part with characters Ollama does not allow (letters, digits, '_', '-', '.'; ':' only in
// a host's port; a part may not start with '.' or '-'), which also keeps a name from walking
// out of the store ("../x").
absl::StatusOr<OllamaName> ParseOllamaName(std::string_view text);

}  // namespace hearth::engine::model_store
