// The settings of `hearth serve`: a plain struct, and the layered loader that fills it.
//
//   defaults  <  YAML file (--config FILE)  <  HEARTH_* environment variables  <  flags
//
// Every setting has one key (YAML path, e.g. "metrics.port"), one environment variable
// ("HEARTH_" + the key upper-cased with '.' -> '_', e.g. HEARTH_METRICS_PORT) and one flag
// ("--" + the key, '_' or '-' and '.' or '-' interchangeable, e.g. --metrics-port). An unknown
// YAML key or flag, a value of the wrong type or out of range is InvalidArgument naming the key
// and where the value came from. Unknown HEARTH_* variables are ignored (other tools use that
// prefix); an empty variable counts as unset.
//
// Thread-safety: plain values and free functions; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine_config.h"

namespace hearth::server {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// For the metrics exposer (served by the metrics module; the server only passes it on).
struct MetricsConfig {
  bool enabled = true;
  std::string listen_address = "0.0.0.0";
  int32_t port = 9464;  // [1, 65535]
  std::string path = "/metrics";
};

struct ServerConfig {
  std::string model;              // GGUF path; "" = DefaultModelPath()
  std::string served_model_name;  // the name clients pass; "" = the model file's stem
  std::string listen_address = "0.0.0.0:50051";  // host:port for gRPC
  // Backend compute threads, [0, 1024]; 0: the CPUs this process may use (affinity mask and
  // cgroup CPU quota, common/host_resources.h), resolved by ToEngineConfig.
  int32_t threads = 0;

  int64_t kv_cache_bytes = 0;             // > 0 sizes the KV cache; 0: kv_cache_memory_fraction
  double kv_cache_memory_fraction = 0.2;  // of available memory (cgroup-bounded), (0, 0.95]
  std::string kv_cache_dtype = "auto";    // "auto" (f16 for the server's q8 precision), f16, f32
  int32_t block_size = 16;                // tokens per KV block, a power of two in [1, 1024]
  int64_t swap_space = 256ll << 20;       // host swap bytes (0: recompute only)
  int32_t max_num_seqs = 64;
  int32_t max_num_batched_tokens = 1024;
  int32_t max_waiting_requests = 1024;
  int32_t max_model_len = 0;  // 0: the model's context, capped by the KV cache when sized
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;

  double shutdown_grace_period_seconds = 30;  // in-flight streams may finish for this long
  LogLevel log_level = LogLevel::kInfo;
  MetricsConfig metrics;

  // The engine's share (max_model_len as configured; see serve_command for the auto cap).
  engine::EngineConfig ToEngineConfig() const;
};

// Where the layers come from. `yaml_text` is the file's contents (empty: no file);
// `yaml_name` names it in messages.
struct ConfigSources {
  std::string yaml_name;
  std::string yaml_text;
  std::vector<std::pair<std::string, std::string>> env;    // (name, value), e.g. from environ
  std::vector<std::pair<std::string, std::string>> flags;  // (flag name without "--", value)
};

struct LoadedConfig {
  ServerConfig config;
  // Per setting, in table order: (key, origin), origin one of "default", "file NAME",
  // "env HEARTH_X", "flag --x".
  std::vector<std::pair<std::string, std::string>> origins;
};

absl::StatusOr<LoadedConfig> LoadServerConfig(const ConfigSources& sources);

// "key = value (origin)" per setting, in table order.
std::vector<std::string> DescribeConfig(const LoadedConfig& loaded);

// The config keys, in table order (for --help and docs).
std::vector<std::string> ConfigKeys();
// The environment variable of a key: "metrics.port" -> "HEARTH_METRICS_PORT".
std::string EnvVarName(const std::string& key);

// `hearth serve`'s arguments (after the subcommand), parsed by the one command-line parser of
// every subcommand (server/cli/args.h): "--config FILE" / "--config=FILE", "-h" / "--help", and
// setting flags "--key=value" / "--key value" ("--key" alone for a boolean means true).
// InvalidArgument for a positional argument, an unknown flag or a flag missing its value.
// `flags` keep the spelling given (for the origin in messages).
struct ServeArgs {
  std::string config_file;
  bool help = false;
  std::vector<std::pair<std::string, std::string>> flags;
};
absl::StatusOr<ServeArgs> ParseServeArgs(const std::vector<std::string>& args);

// "512MiB", "1.5GiB", "64MB", "4096" (bytes; KiB/MiB/GiB/TiB = 1024^k, KB/MB/GB/TB = 1000^k,
// K/M/G/T = 1024^k, case-insensitive). InvalidArgument when malformed, negative or > 2^62.
absl::StatusOr<int64_t> ParseByteSize(const std::string& text);
// "30", "30s", "500ms", "2m", "1.5s" -> seconds. InvalidArgument when malformed or negative.
absl::StatusOr<double> ParseDuration(const std::string& text);

}  // namespace hearth::server
