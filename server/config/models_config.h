// The `models:` list of `hearth serve` (several models in one server) and the repeatable
// `--model` flag.
//
//   models:
//     - name: fast                       # the name requests use ("" = Ollama's name / stem)
//       model: /models/smol.Q4_K.gguf    # a GGUF path or an Ollama NAME:TAG ("path" also works)
//       aliases: [telegram]              # more names for the same entry
//       max_num_seqs: 32                 # this model's running batch (default: the server's)
//       kv_cache: 0.5                    # a number <= 1: that share of the server's KV budget;
//                                        # a byte size (512MiB): exactly that; default: an even
//                                        # share among the models that may be loaded at once
//     - name: analyst
//       model: smollm2:135m
//       lazy: true                       # loaded by its first request (default false: at start)
//       keep_alive: 5m                   # lazy only: unload after this long idle (default 5m;
//                                        # -1 / "forever": never; 0: as soon as idle)
//
// Eager models (lazy: false) load at start-up, stay loaded and are never evicted; /ready waits
// for them. Every unknown field, a duplicate name or alias, a bad duration or byte size is an
// InvalidArgument naming the key ("models[1].keep_alive").
//
// Thread-safety: plain values and free functions.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::server {

// Ollama's default keep_alive for lazily loaded models.
inline constexpr double kDefaultKeepAliveSeconds = 300;

struct ModelConfig {
  std::string name;   // "" = the source's default name (Ollama's name or the file stem)
  std::string model;  // GGUF path or Ollama NAME:TAG
  std::vector<std::string> aliases;
  int32_t max_num_seqs = 0;    // 0: the server's max_num_seqs
  int64_t kv_cache_bytes = 0;  // > 0: exactly this many KV bytes
  double kv_cache_share = 0;   // (0, 1]: this share of the server's KV budget; 0: even share
  bool lazy = false;
  // Lazy models only: idle seconds before unloading; < 0 never; unset: the default (5m).
  std::optional<double> keep_alive_seconds;

  double KeepAliveSeconds() const { return keep_alive_seconds.value_or(kDefaultKeepAliveSeconds); }
};

// The `models` YAML list; `origin` ("file serve.yaml") goes into messages.
absl::StatusOr<std::vector<ModelConfig>> ParseModelsYaml(const YAML::Node& list,
                                                         const std::string& origin);

// "-1", "forever", "infinite" -> -1; else a duration (ParseDuration's forms) in seconds.
absl::StatusOr<double> ParseKeepAlive(const std::string& text);

// Checks names and aliases once the default names are known (after the sources are resolved):
// InvalidArgument "models: name 'x' is used twice (models[0] and models[2])" for a clash,
// and for an empty name.
absl::Status CheckModelNames(const std::vector<ModelConfig>& models);

// "name=fast model=/m.gguf lazy=false ..." for the start-up log.
std::string DescribeModelConfig(const ModelConfig& model);

}  // namespace hearth::server
