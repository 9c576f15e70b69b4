// Table tests of the layered `hearth serve` configuration (defaults < YAML < env < flags).
#include "server/config/server_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/host_resources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hearth::server {
namespace {

using ::testing::HasSubstr;

std::string Origin(const LoadedConfig& c, const std::string& key) {
  for (const auto& [k, origin] : c.origins) {
    if (k == key) return origin;
  }
  return "?";
}

TEST(ServerConfigTest, DefaultsMatchTheEngineDefaults) {
  auto c = LoadServerConfig({});
  ASSERT_TRUE(c.ok()) << c.status();
  const engine::EngineConfig e = c->config.ToEngineConfig();
  const engine::EngineConfig d;
  EXPECT_EQ(e.scheduler.max_num_seqs, d.scheduler.max_num_seqs);
  EXPECT_EQ(e.scheduler.block_size, d.scheduler.block_size);
  EXPECT_EQ(e.scheduler.max_num_batched_tokens, d.scheduler.max_num_batched_tokens);
  EXPECT_EQ(e.scheduler.max_model_len, d.scheduler.max_model_len);
  EXPECT_EQ(e.kv_cache.swap_space_bytes, d.kv_cache.swap_space_bytes);
  EXPECT_EQ(e.kv_cache.memory_fraction, d.kv_cache.memory_fraction);
  EXPECT_EQ(e.kv_cache.dtype, d.kv_cache.dtype);
  EXPECT_EQ(e.device.threads, d.device.threads);
  EXPECT_EQ(e.device.cpu_precision, d.device.cpu_precision);
  EXPECT_EQ(e.device.cuda_gemm, engine::GemmMode::kInvariant);
  EXPECT_EQ(e.device.cuda_gemm, d.device.cuda_gemm);
  EXPECT_FALSE(e.device.device.has_value());  // auto
  EXPECT_TRUE(e.device.devices.empty());
  EXPECT_EQ(e.kv_cache.ResolvedDtype(e.device.cpu_precision), engine::KvDtype::kF16);
  EXPECT_EQ(c->config.listen_address, "0.0.0.0:50051");
  EXPECT_EQ(c->config.shutdown_grace_period_seconds, 30);
  EXPECT_EQ(c->origins.size(), ConfigKeys().size());
  EXPECT_EQ(Origin(*c, "max_num_seqs"), "default");
}

TEST(ServerConfigTest, LayersOverrideInOrder) {
  ConfigSources s;
  s.yaml_name = "a.yaml";
  s.yaml_text =
      "max_num_seqs: 3\nthreads: 3\nblock_size: 32\nkv_cache_bytes: 1GiB\n"
      "metrics:\n  port: 1234\n  enabled: no\n";
  s.env = {{"HEARTH_THREADS", "5"},
           {"HEARTH_BLOCK_SIZE", "64"},
           {"HEARTH_METRICS_PORT", ""},
           {"HEARTH_SOMETHING_ELSE", "x"}};
  s.flags = {{"block-size", "8"}, {"shutdown_grace_period", "1500ms"}, {"kv-cache-dtype", "F32"}};
  auto c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.max_num_seqs, 3);
  EXPECT_EQ(Origin(*c, "max_num_seqs"), "file a.yaml");
  EXPECT_EQ(c->config.threads, 5);
  EXPECT_EQ(Origin(*c, "threads"), "env HEARTH_THREADS");
  EXPECT_EQ(c->config.block_size, 8);
  EXPECT_EQ(Origin(*c, "block_size"), "flag --block-size");
  EXPECT_EQ(c->config.kv_cache_bytes, 1ll << 30);
  EXPECT_EQ(c->config.metrics.port, 1234);  // an empty env var counts as unset
  EXPECT_FALSE(c->config.metrics.enabled);
  EXPECT_DOUBLE_EQ(c->config.shutdown_grace_period_seconds, 1.5);
  EXPECT_EQ(c->config.kv_cache_dtype, engine::KvDtype::kF32);
  const std::vector<std::string> lines = DescribeConfig(*c);
  EXPECT_THAT(lines, ::testing::Contains("block_size = 8 (flag --block-size)"));
  EXPECT_THAT(lines, ::testing::Contains("metrics.port = 1234 (file a.yaml)"));
  EXPECT_THAT(lines, ::testing::Contains("kv_cache_dtype = f32 (flag --kv-cache-dtype)"));
}

TEST(ServerConfigTest, KvCacheDtypeFromEachLayer) {
  ConfigSources s;
  s.yaml_name = "a.yaml";
  s.yaml_text = "kv_cache_dtype: f32\n";
  auto c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.kv_cache_dtype, engine::KvDtype::kF32);
  s.env = {{"HEARTH_KV_CACHE_DTYPE", "f16"}};
  c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.kv_cache_dtype, engine::KvDtype::kF16);
  EXPECT_EQ(Origin(*c, "kv_cache_dtype"), "env HEARTH_KV_CACHE_DTYPE");
}

TEST(ServerConfigTest, CudaGemmFromEachLayerReachesTheEngine) {
  ConfigSources s;
  s.yaml_name = "a.yaml";
  s.yaml_text = "cuda_gemm: fast\n";
  auto c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.ToEngineConfig().device.cuda_gemm, engine::GemmMode::kFast);
  s.env = {{"HEARTH_CUDA_GEMM", "Exact"}};
  c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.ToEngineConfig().device.cuda_gemm, engine::GemmMode::kExact);
  s.flags = {{"cuda-gemm", "invariant"}};
  c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.cuda_gemm, engine::GemmMode::kInvariant);
  EXPECT_EQ(Origin(*c, "cuda_gemm"), "flag --cuda-gemm");
}

struct BadCase {
  const char* yaml;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::pair<std::string, std::string>> flags;
  const char* must_contain;
};

TEST(ServerConfigTest, ErrorsNameTheKeyAndOrigin) {
  const std::vector<BadCase> cases = {
      {"bogus: 1\n", {}, {}, "'bogus' (from file f.yaml): unknown key"},
      {"metrics:\n  bogus: 1\n", {}, {}, "'metrics.bogus'"},
      {"metrics: 3\n", {}, {}, "'metrics' (from file f.yaml): must be a mapping"},
      {"threads: two\n", {}, {}, "'threads' (from file f.yaml): must be an integer"},
      {"threads: {a: 1}\n", {}, {}, "'threads' (from file f.yaml): must be a single value"},
      {"threads: -1\n", {}, {}, "'threads' (from file f.yaml): must be in [0, 1024], got -1"},
      {"block_size: 12\n", {}, {}, "'block_size' (from file f.yaml): must be a power of two"},
      {"enable_chunked_prefill: 2\n", {}, {}, "'enable_chunked_prefill'"},
      {"log_level: loud\n", {}, {}, "'log_level'"},
      {"kv_cache_dtype: bf16\n",
       {},
       {},
       "'kv_cache_dtype' (from file f.yaml): must be one of auto"},
      {"", {{"HEARTH_KV_CACHE_DTYPE", "fp8"}}, {}, "'kv_cache_dtype' (from env"},
      {"cuda_gemm: turbo\n",
       {},
       {},
       "'cuda_gemm' (from file f.yaml): must be one of invariant, fast, exact, got 'turbo'"},
      {"- a\n- b\n", {}, {}, "top level must be a mapping"},
      {"a: [\n", {}, {}, "config file f.yaml"},
      {"", {{"HEARTH_MAX_MODEL_LEN", "-1"}}, {}, "'max_model_len' (from env HEARTH_MAX_MODEL_LEN)"},
      {"", {{"HEARTH_SWAP_SPACE", "1XB"}}, {}, "'swap_space' (from env HEARTH_SWAP_SPACE)"},
      {"", {}, {{"kv-cache-memory-fraction", "0"}}, "'kv_cache_memory_fraction' (from flag"},
      {"", {}, {{"listen-address", "5000"}}, "'listen_address' (from flag --listen-address)"},
      {"", {}, {{"metrics.path", "metrics"}}, "'metrics.path'"},
      {"", {}, {{"nope", "1"}}, "unknown flag --nope"},
      {"http:\n  port: 70000\n", {}, {}, "'http.port' (from file f.yaml): must be in [0, 65535]"},
      {"http: 1\n", {}, {}, "'http' (from file f.yaml): must be a mapping"},
      {"", {{"HEARTH_HTTP_MAX_BODY_BYTES", "10"}}, {}, "'http.max_body_bytes' (from env"},
      {"", {}, {{"http-request-timeout", "soon"}}, "'http.request_timeout' (from flag"},
      {"api_keys: [a, {b: 1}]\n", {}, {}, "'api_keys' (from file f.yaml): must be a list"},
      {"tls:\n  cert: x\n", {}, {}, "'tls.cert'"},
      {"auth:\n  protect_metrics: maybe\n", {}, {}, "'auth.protect_metrics'"},
      {"http:\n  port: 1\nhttp:\n  port: 2\n", {}, {}, "'http' (from file f.yaml): given twice"},
      {"", {}, {{"http-request-timeout", "2147483648"}}, "got '2147483648'"},
      // Probe findings 8 and 13: duplicate keys, reserved metrics paths, numbers as given.
      {"threads: 1\nthreads: 2\n", {}, {}, "'threads' (from file f.yaml): given twice (line 2)"},
      {"metrics:\n  port: 1\n  port: 2\n",
       {},
       {},
       "'metrics.port' (from file f.yaml): given twice"},
      {"metrics: {}\nmetrics: {}\n", {}, {}, "'metrics' (from file f.yaml): given twice"},
      {"",
       {},
       {{"metrics-path", "/health"}},
       "'metrics.path' (from flag --metrics-path): must not be /health"},
      {"", {}, {{"metrics-path", "/ready"}}, "'metrics.path'"},
      {"", {}, {{"kv-cache-memory-fraction", "2147483648"}}, "got '2147483648'"},
      {"", {}, {{"shutdown-grace-period", "2147483648"}}, "got '2147483648'"},
      {"",
       {},
       {{"model-load", "lazy"}},
       "'model_load' (from flag --model-load): must be copy or mmap"},
      {"", {}, {{"max-stream-buffer-bytes", "1"}}, "'max_stream_buffer_bytes'"},
      {"", {}, {{"min-client-priority", "x"}}, "'min_client_priority'"},
      {"", {{"HEARTH_GRPC_REFLECTION", "maybe"}}, {}, "'grpc_reflection' (from env"},
  };
  for (const BadCase& bc : cases) {
    ConfigSources s;
    s.yaml_name = "f.yaml";
    s.yaml_text = bc.yaml;
    s.env = bc.env;
    s.flags = bc.flags;
    auto c = LoadServerConfig(s);
    ASSERT_FALSE(c.ok()) << bc.must_contain;
    EXPECT_TRUE(absl::IsInvalidArgument(c.status()));
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(bc.must_contain));
  }
}

TEST(ServerConfigTest, HttpAuthAndTlsKeysFromEachLayer) {
  ConfigSources s;
  s.yaml_name = "f.yaml";
  s.yaml_text =
      "http:\n  port: 11434\n  max_body_bytes: 1MiB\napi_keys: [alpha, beta]\n"
      "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n";
  s.env = {{"HEARTH_HTTP_REQUEST_TIMEOUT", "2m"}, {"HEARTH_AUTH_PROTECT_METRICS", "true"}};
  s.flags = {{"http-max-connections", "300"}, {"tls-client-ca-file", "/ca.pem"}};
  auto c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  const ServerConfig& cfg = c->config;
  EXPECT_TRUE(cfg.http.enabled);
  EXPECT_EQ(cfg.http.port, 11434);
  EXPECT_EQ(cfg.http.max_body_bytes, 1 << 20);
  EXPECT_EQ(cfg.http.max_connections, 300);
  EXPECT_DOUBLE_EQ(cfg.http.request_timeout_seconds, 120);
  EXPECT_EQ(cfg.auth.api_keys, (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_TRUE(cfg.auth.protect_metrics);
  EXPECT_FALSE(cfg.auth.protect_health);
  EXPECT_EQ(cfg.tls.cert_file, "/c.pem");
  EXPECT_EQ(cfg.tls.client_ca_file, "/ca.pem");
  EXPECT_EQ(Origin(*c, "http.port"), "file f.yaml");
  EXPECT_EQ(Origin(*c, "http.request_timeout"), "env HEARTH_HTTP_REQUEST_TIMEOUT");
  // The keys themselves are never printed.
  for (const std::string& line : DescribeConfig(*c)) {
    EXPECT_EQ(line.find("alpha"), std::string::npos) << line;
  }
  ConfigSources env;
  env.env = {{"HEARTH_API_KEYS", "k1, k2,"}};
  auto from_env = LoadServerConfig(env);
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->config.auth.api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(LoadServerConfig({}).value().config.http.port, 8000);
}

TEST(ServerConfigTest, HardeningSettings) {
  ConfigSources s;
  s.yaml_name = "f.yaml";
  s.yaml_text = "model_load: mmap\ngrpc_reflection: false\nmin_client_priority: -5\n";
  s.flags = {{"parse-special-in-chat", "true"}, {"max-stream-buffer-bytes", "64KiB"}};
  auto c = LoadServerConfig(s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.model_load, "mmap");
  EXPECT_FALSE(c->config.grpc_reflection);
  EXPECT_EQ(c->config.min_client_priority, -5);
  EXPECT_TRUE(c->config.parse_special_in_chat);
  EXPECT_EQ(c->config.max_stream_buffer_bytes, 64 << 10);
  const ServerConfig defaults;
  EXPECT_EQ(defaults.model_load, "copy");
  EXPECT_TRUE(defaults.grpc_reflection);
  EXPECT_EQ(defaults.min_client_priority, 0);
  EXPECT_FALSE(defaults.parse_special_in_chat);
}

// Probe finding 8: a directory or a FIFO is refused (at once), a file is read.
TEST(ServerConfigTest, ReadConfigFile) {
  const std::string dir = ::testing::TempDir();
  auto d = ReadConfigFile(dir);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("is a directory"));
  const std::string fifo = dir + "/hearth_config_test.fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = ReadConfigFile(fifo);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("not a regular file"));
  ::unlink(fifo.c_str());
  auto missing = ReadConfigFile(dir + "/no_such_hearth.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no_such_hearth.yaml"));
  const std::string file = dir + "/hearth_config_test.yaml";
  {
    std::ofstream out(file);
    out << "threads: 3\n";
  }
  auto text = ReadConfigFile(file);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "threads: 3\n");
  ::unlink(file.c_str());
}

TEST(ServerConfigTest, ByteSizes) {
  const std::vector<std::pair<std::string, int64_t>> good = {{"0", 0},
                                                             {"4096", 4096},
                                                             {"512MiB", 512ll << 20},
                                                             {"512mib", 512ll << 20},
                                                             {"2GB", 2000000000},
                                                             {"1.5GiB", 3ll << 29},
                                                             {"64K", 64 << 10},
                                                             {" 8 MiB ", 8 << 20},
                                                             {"100b", 100}};
  for (const auto& [text, want] : good) {
    auto v = ParseByteSize(text);
    ASSERT_TRUE(v.ok()) << text << ": " << v.status();
    EXPECT_EQ(*v, want) << text;
  }
  for (const char* bad : {"", "MiB", "-1", "1XB", "1e3", "5 parsecs", "99999999999TiB"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

TEST(ServerConfigTest, Durations) {
  const std::vector<std::pair<std::string, double>> good = {
      {"30", 30}, {"30s", 30}, {"500ms", 0.5}, {"2m", 120}, {"1.5s", 1.5}};
  for (const auto& [text, want] : good) {
    auto v = ParseDuration(text);
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_DOUBLE_EQ(*v, want) << text;
  }
  for (const char* bad : {"", "soon", "-1s", "5h"}) EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
}

TEST(ServerConfigTest, ServeArgs) {
  auto a = ParseServeArgs({"--config", "x.yaml", "--max-num-seqs=4", "--threads", "2",
                           "--enable-prefix-caching", "--enable-chunked-prefill=false"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->config_file, "x.yaml");
  using Flags = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(a->flags, (Flags{{"max-num-seqs", "4"},
                             {"threads", "2"},
                             {"enable-prefix-caching", "true"},
                             {"enable-chunked-prefill", "false"}}));
  EXPECT_FALSE(ParseServeArgs({"positional"}).ok());
  EXPECT_FALSE(ParseServeArgs({"--threads"}).ok());
  EXPECT_TRUE(ParseServeArgs({"--help"})->help);
  EXPECT_TRUE(ParseServeArgs({"-h"})->help);
  // The spelling rules of every subcommand: '-', '_' and '.' alike; booleans as words.
  auto b = ParseServeArgs({"--metrics.port", "9000", "--metrics_enabled=off", "--max_num_seqs=2"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->flags,
            (Flags{{"metrics.port", "9000"}, {"metrics_enabled", "false"}, {"max_num_seqs", "2"}}));
  auto unknown = ParseServeArgs({"--max-tokens=5"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "unknown flag --max-tokens");
}

TEST(ServerConfigTest, ThreadsDefaultToUsableCpus) {
  auto c = LoadServerConfig({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.threads, 0);
  EXPECT_EQ(c->config.ToEngineConfig().device.threads, common::UsableCpuCount());
  c->config.threads = 3;
  EXPECT_EQ(c->config.ToEngineConfig().device.threads, 3);
}

TEST(ServerConfigTest, EnvVarNames) {
  EXPECT_EQ(EnvVarName("max_num_seqs"), "HEARTH_MAX_NUM_SEQS");
  EXPECT_EQ(EnvVarName("metrics.port"), "HEARTH_METRICS_PORT");
}

TEST(ServerConfigTest, ModelsList) {
  ConfigSources src;
  src.yaml_name = "m.yaml";
  src.yaml_text = R"(
max_loaded_models: 1
models_memory_budget: 2GiB
models:
  - name: fast
    model: /m/q4.gguf
    aliases: [telegram, quick]
    max_num_seqs: 8
    kv_cache: 0.25
  - name: analyst
    path: smollm2:135m
    lazy: true
    keep_alive: 2s
    kv_cache: 128MiB
  - /m/plain.gguf
  - name: pinned
    model: /m/x.gguf
    lazy: true
    keep_alive: forever
)";
  auto c = LoadServerConfig(src);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::vector<ModelConfig> m = c->config.ServedModels();
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(c->config.max_loaded_models, 1);
  EXPECT_EQ(c->config.models_memory_budget, int64_t{2} << 30);
  EXPECT_EQ(m[0].name, "fast");
  EXPECT_EQ(m[0].aliases, (std::vector<std::string>{"telegram", "quick"}));
  EXPECT_EQ(m[0].max_num_seqs, 8);
  EXPECT_EQ(m[0].kv_cache_share, 0.25);
  EXPECT_FALSE(m[0].lazy);
  EXPECT_EQ(m[1].model, "smollm2:135m");
  EXPECT_TRUE(m[1].lazy);
  EXPECT_EQ(m[1].KeepAliveSeconds(), 2);
  EXPECT_EQ(m[1].kv_cache_bytes, 128 << 20);
  EXPECT_EQ(m[2].model, "/m/plain.gguf");
  EXPECT_EQ(m[2].name, "");
  EXPECT_EQ(m[2].KeepAliveSeconds(), kDefaultKeepAliveSeconds);
  EXPECT_LT(m[3].KeepAliveSeconds(), 0);
  auto named = [](std::string name, std::vector<std::string> aliases) {
    ModelConfig model;
    model.name = std::move(name);
    model.aliases = std::move(aliases);
    return model;
  };
  EXPECT_TRUE(CheckModelNames({named("a", {"b"}), named("c", {})}).ok());
  EXPECT_THAT(std::string(CheckModelNames({named("a", {}), named("b", {"a"})}).message()),
              HasSubstr("name 'a' is used twice (models[0] and models[1])"));
}

TEST(ServerConfigTest, ModelsErrorsNameTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"models: []", "'models'"},
      {"models: [{name: a}]", "'models[0]' (from file m.yaml): needs a model"},
      {"models: [{model: x, lazy: maybe}]", "'models[0].lazy'"},
      {"models: [{model: x, kv_cache: -3}]", "'models[0].kv_cache'"},
      {"models: [{model: x, max_num_seqs: 0}]", "'models[0].max_num_seqs'"},
      {"models: [{model: x, lazy: true, keep_alive: 5 minutes}]", "'models[0].keep_alive'"},
      {"models: [{model: x, model: y}]", "given twice"},
      {"model: x\nmodels: [y]", "exclude each other"},
      {"served_model_name: x\nmodels: [y]", "'served_model_name'"},
  };
  for (const auto& [yaml, want] : cases) {
    ConfigSources src;
    src.yaml_name = "m.yaml";
    src.yaml_text = yaml;
    auto c = LoadServerConfig(src);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(want)) << yaml;
  }
}

TEST(ServerConfigTest, RepeatedModelFlagServesEach) {
  ConfigSources src;
  src.yaml_name = "m.yaml";
  src.yaml_text = "models: [/m/a.gguf, /m/b.gguf, /m/c.gguf]";
  src.flags = {{"model", "/m/x.gguf"}, {"model", "llama3:8b"}};
  auto c = LoadServerConfig(src);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::vector<ModelConfig> m = c->config.ServedModels();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].model, "/m/x.gguf");
  EXPECT_EQ(m[1].model, "llama3:8b");
  // One --model replaces the file's list (flags win), as one eager model.
  src.flags = {{"model", "/m/x.gguf"}};
  c = LoadServerConfig(src);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->config.ServedModels().size(), 1u);
  EXPECT_EQ(c->config.ServedModels()[0].model, "/m/x.gguf");
}

}  // namespace
}  // namespace hearth::server
