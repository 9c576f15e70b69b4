// The settings of `hearth serve`: a plain struct, and the layered loader that fills it.
//
//   defaults  <  YAML file (--config FILE)  <  HEARTH_* environment variables  <  flags
//
// Every setting has one key (YAML path, e.g. "metrics.port"), one environment variable
// ("HEARTH_" + the key upper-cased with '.' -> '_', e.g. HEARTH_METRICS_PORT) and one flag
// ("--" + the key, '_' or '-' and '.' or '-' interchangeable, e.g. --metrics-port). An unknown
// YAML key or flag, a key given twice in one YAML mapping, a value of the wrong type or out of
// range is InvalidArgument naming the key and where the value came from. Unknown HEARTH_* variables
// are ignored (other tools use that prefix); an empty variable counts as unset.
//
// Thread-safety: plain values and free functions; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine_config.h"
#include "server/config/models_config.h"

namespace hearth::server {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// The metrics port (/metrics, /health, /ready: server/metrics/metrics_endpoint.h).
struct MetricsConfig {
  bool enabled = true;
  std::string listen_address = "0.0.0.0";
  int32_t port = 9464;  // [1, 65535]
  std::string path = "/metrics";
};

// The OpenAI / Ollama HTTP API listener (server/http/).
struct HttpConfig {
  bool enabled = true;
  std::string listen_address = "0.0.0.0";
  int32_t port = 8000;  // [0, 65535]; 0: any free port
  int32_t max_connections = 1024;
  int64_t max_body_bytes = 8ll << 20;
  int64_t max_header_bytes = 16ll << 10;
  double request_timeout_seconds = 0;  // 0: none; else a generation is aborted after this long
  int32_t threads = 2;                 // event-loop threads
};

// API keys for every listener.
struct AuthConfig {
  std::vector<std::string> api_keys;  // YAML list, or comma-separated in env / flags
  std::string api_keys_file;          // one key per line; reread on SIGHUP
  bool protect_metrics = false;       // /metrics needs a key too
  bool protect_health = false;        // /health, /ready (and the API port's /health) too
};

// TLS for every listener (gRPC, HTTP API, metrics).
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // set: clients must present a certificate it signed (mTLS)
};

struct ServerConfig {
  std::string model;  // GGUF path or Ollama model name ("llama3:8b"); "" = DefaultModelPath()
  std::string served_model_name;  // the name clients pass; "" = Ollama's name or the file stem
  // Several models (models_config.h): the YAML `models:` list, or `--model` given more than
  // once. Empty: the one eager model above. `model` and `models` together are an error.
  std::vector<ModelConfig> models;
  // At most this many models loaded at once (0: no limit); lazy idle ones are evicted least
  // recently used to make room (server/registry/model_registry.h).
  int32_t max_loaded_models = 0;
  // Bytes for the weights + KV caches of the loaded models together; 0: 90% of the memory
  // available at start-up (cgroup-bounded, common/host_resources.h).
  int64_t models_memory_budget = 0;
  // How `model` names from Ollama's store are checked: "once" (sha256 the first time, cached by
  // size + mtime), "always", "never" (size only). See engine/model_store/blob_verifier.h.
  std::string ollama_verify = "once";
  std::string listen_address = "0.0.0.0:50051";  // host:port for gRPC
  // Compute threads per CPU stage, [0, 1024]; 0: the CPUs this process may use (affinity mask
  // and cgroup CPU quota, common/host_resources.h), resolved by ToEngineConfig.
  int32_t threads = 0;

  // Where the model runs (engine/runtime/device_config.h): one device (unset: auto), the layers
  // on the GPU with the rest on the CPU (-1: all), or an explicit split by layer range.
  std::optional<engine::DeviceId> device;
  int32_t gpu_layers = -1;
  std::vector<engine::StageSpec> devices;
  engine::cpu::ActPrecision cpu_precision = engine::cpu::ActPrecision::kQ8;
  engine::GemmMode cuda_gemm = engine::GemmMode::kInvariant;  // CUDA stages' matmuls

  int64_t kv_cache_bytes = 0;             // > 0 sizes the KV cache; 0: kv_cache_memory_fraction
  double kv_cache_memory_fraction = 0.2;  // of available memory (cgroup-bounded), (0, 0.95]
  std::optional<engine::KvDtype> kv_cache_dtype;  // unset ("auto"): f16 (f32 under f32 precision)
  int32_t block_size = 16;           // tokens per KV block, a power of two in [1, 1024]
  int64_t swap_space = 256ll << 20;  // host swap bytes (0: recompute only)
  int32_t max_num_seqs = 64;
  int32_t max_num_batched_tokens = 1024;
  int32_t max_waiting_requests = 1024;
  int32_t max_model_len = 0;  // 0: the model's context, capped by the KV cache when sized
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;

  double shutdown_grace_period_seconds = 30;  // in-flight streams may finish for this long
  LogLevel log_level = LogLevel::kInfo;
  MetricsConfig metrics;
  HttpConfig http;
  AuthConfig auth;
  TlsConfig tls;

  // Hardening (docs/API.md#configuration):
  // "copy" reads the model into memory (the file may then be truncated or replaced while
  // serving); "mmap" maps it (less unevictable memory; the file must not change while served).
  std::string model_load = "copy";
  bool grpc_reflection = true;  // the grpc.reflection service (grpcurl, Postman)
  // The most urgent priority a client may ask for (lower runs first); lower values are clamped
  // to it, so by default no client jumps ahead of default-priority traffic.
  int32_t min_client_priority = 0;
  // Chat message content may contain special-token text ("<|im_start|>") that is parsed as
  // those control tokens. Off: content is always tokenized as text (a user cannot forge turns).
  bool parse_special_in_chat = false;
  // Output a generation stream (any protocol) may have queued for a client that does not read
  // it; beyond it the request is aborted with RESOURCE_EXHAUSTED (its KV cache freed).
  int64_t max_stream_buffer_bytes = 1 << 20;

  // The engine's share (max_model_len 0: the model's, capped by the engine to the KV cache).
  engine::EngineConfig ToEngineConfig() const;
  // The models to serve: `models`, or one eager entry from `model` / `served_model_name`
  // (`model` "" stays "": the caller substitutes the default model path).
  std::vector<ModelConfig> ServedModels() const;
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

// The text of the config file at `path`. InvalidArgument naming the path when it is not a
// regular file (a directory, a FIFO) or cannot be read.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path);

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
