#include "server/cli/serve_command.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/host_resources.h"
#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "server/cli/model_path.h"
#include "server/cli/serve_setup.h"
#include "server/config/server_config.h"
#include "server/grpc/grpc_server.h"
#include "server/grpc/hearth_service.h"
#include "server/metrics/metrics_endpoint.h"
#include "server/version.h"

namespace hearth::server {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitStartFailed = 1;
constexpr int kExitBadConfig = 2;

LogLevel g_log_level = LogLevel::kInfo;

void Log(LogLevel level, const std::string& line) {
  if (level < g_log_level) return;
  std::FILE* out = level >= LogLevel::kWarning ? stderr : stdout;
  std::fprintf(out, "hearth serve: %s\n", line.c_str());
  std::fflush(out);
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "hearth serve: %s\n", message.c_str());
  return code;
}

void PrintHelp() {
  std::printf(
      "usage: hearth serve [--config FILE] [--KEY=VALUE ...]\n\n"
      "Serves the hearth.v1.Hearth gRPC API. Settings (defaults < YAML < env < flags); the\n"
      "YAML file is --config FILE, else $HEARTH_CONFIG when set:\n");
  for (const std::string& key : ConfigKeys()) {
    std::string flag = key;
    for (char& ch : flag) {
      if (ch == '_' || ch == '.') ch = '-';
    }
    std::printf("  %-26s --%-26s %s\n", key.c_str(), flag.c_str(), EnvVarName(key).c_str());
  }
}

std::string FileStem(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) {
    name.resize(name.size() - 5);
  }
  return name;
}

// With a sized KV cache and max_model_len 0, serve contexts the cache can hold whole.
void CapMaxModelLen(const engine::ModelConfig& mc, engine::EngineConfig& ec) {
  if (ec.max_model_len != 0 || ec.kv_cache_bytes <= 0) return;
  const int64_t bytes_per_token = 2ll * mc.num_layers * mc.kv_dim() * ec.KvCacheElementBytes();
  const int64_t cache_tokens = ec.kv_cache_bytes / bytes_per_token / ec.block_size * ec.block_size;
  if (mc.context_length > 0 && mc.context_length <= cache_tokens) return;
  ec.max_model_len = static_cast<int32_t>(std::max<int64_t>(ec.block_size, cache_tokens));
  Log(LogLevel::kInfo, absl::StrCat("max_model_len capped to ", ec.max_model_len,
                                    " tokens (what kv_cache_bytes holds)"));
}

}  // namespace

int RunServe(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so every thread inherits the mask
  // and only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto setup = LoadServeSetup(std::vector<std::string>(argv + 1, argv + argc));
  if (!setup.ok()) return Fail(kExitBadConfig, std::string(setup.status().message()));
  if (setup->args.help) {
    PrintHelp();
    return kExitOk;
  }
  ServerConfig& config = setup->loaded.config;
  g_log_level = config.log_level;
  if (config.model.empty()) config.model = DefaultModelPath();
  if (config.served_model_name.empty()) config.served_model_name = FileStem(config.model);
  for (const std::string& line : DescribeConfig(setup->loaded))
    Log(LogLevel::kInfo, "config: " + line);
  // What automatic sizing sees (threads 0, kv_cache_bytes 0): container limits applied.
  Log(LogLevel::kInfo, common::DescribeCpus(common::InspectCpus()));
  Log(LogLevel::kInfo, common::DescribeMemory(common::InspectMemory()));

  // Metrics first: /health answers (and /ready says "starting") while the model loads.
  std::unique_ptr<MetricsEndpoint> metrics;
  if (config.metrics.enabled) {
    auto endpoint = MetricsEndpoint::Start(config.metrics, config.served_model_name);
    if (!endpoint.ok()) return Fail(kExitStartFailed, std::string(endpoint.status().message()));
    metrics = *std::move(endpoint);
  }

  auto model = engine::LoadedModel::Open(config.model);
  if (!model.ok()) return Fail(kExitStartFailed, std::string(model.status().message()));
  engine::EngineConfig engine_config = config.ToEngineConfig();
  CapMaxModelLen((*model)->config(), engine_config);
  if (absl::Status st = engine_config.Validate(); !st.ok()) {
    return Fail(kExitBadConfig, std::string(st.message()));
  }
  auto engine = engine::Engine::Create(
      **model, engine_config, metrics ? metrics->serving().Hooks() : engine::EngineHooks{});
  if (!engine.ok()) {
    return Fail(absl::IsInvalidArgument(engine.status()) ? kExitBadConfig : kExitStartFailed,
                std::string(engine.status().message()));
  }
  const engine::tokenizer::Tokenizer& tok = (*engine)->tokenizer();
  ServedModel served;
  served.name = config.served_model_name;
  served.tokenizer = &tok;
  served.max_model_len = (*engine)->max_model_len();
  auto chat = engine::tokenizer::ChatTemplate::Detect(
      tok.chat_template(), tok.bos_id() >= 0 ? tok.IdToPiece(tok.bos_id()) : "",
      tok.eos_id() >= 0 ? tok.IdToPiece(tok.eos_id()) : "");
  if (chat.ok()) {
    served.chat_template = *std::move(chat);
  } else {
    served.chat_template_error = std::string(chat.status().message());
    Log(LogLevel::kWarning, "chat requests disabled: " + served.chat_template_error);
  }
  const ModelFacts facts = DescribeModel(**model);
  if (metrics) {
    const ServingInfo info{kVersion,
                           facts.backend,
                           facts.architecture,
                           facts.quant_type,
                           engine_config.enable_prefix_caching,
                           engine_config.ResolvedKvCacheDtype()};
    if (absl::Status st = metrics->serving().AttachEngine(engine->get(), info); !st.ok()) {
      metrics->Stop();
      return Fail(kExitStartFailed, std::string(st.message()));
    }
  }
  auto service = std::make_unique<HearthService>(**engine, std::move(served), facts);
  if (metrics) {
    service->SetGenerateFailureObserver(
        [serving = &metrics->serving()](grpc::StatusCode code) { serving->CountFailure(code); });
  }
  auto server = GrpcServer::Start(config.listen_address, service.get());
  if (!server.ok()) {
    if (metrics) metrics->Stop();  // its scrape callbacks read the engine
    return Fail(kExitStartFailed, std::string(server.status().message()));
  }
  const engine::EngineStats stats = (*engine)->Stats();
  Log(LogLevel::kInfo,
      absl::StrCat("model ", config.served_model_name, ": context ", (*engine)->max_model_len(),
                   " tokens, KV cache ", stats.num_gpu_blocks, " blocks x ", stats.block_size,
                   " = ", stats.kv_capacity_tokens(), " tokens (",
                   engine_config.ResolvedKvCacheDtype(), ")"));
  const std::string host = config.listen_address.substr(0, config.listen_address.rfind(':'));
  if (metrics) {
    metrics->SetPhase(ServingPhase::kServing);
    Log(LogLevel::kInfo, absl::StrCat("metrics on http://", config.metrics.listen_address, ":",
                                      metrics->port(), config.metrics.path));
  }
  Log(LogLevel::kInfo, absl::StrCat("listening on ", host, ":", (*server)->port()));

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  const absl::Duration grace = absl::Seconds(config.shutdown_grace_period_seconds);
  (*server)->SetServing(false);
  if (metrics) metrics->SetPhase(ServingPhase::kDraining);
  service->StartDraining();
  Log(LogLevel::kInfo, absl::StrCat("received ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
                                    ": draining ", service->active_streams(),
                                    " streams (grace period ", absl::FormatDuration(grace), ")"));
  if (!service->WaitIdle(grace)) {
    Log(LogLevel::kWarning,
        absl::StrCat("grace period over: aborting ", service->active_streams(), " streams"));
    service->AbortAll();
    service->WaitIdle(absl::Seconds(5));
  }
  (*server)->Shutdown(absl::Seconds(1));
  if (metrics) metrics->Stop();  // before the engine its scrape callbacks read
  engine->reset();               // delivers the last final outputs; reactors release themselves
  server->reset();
  service.reset();
  Log(LogLevel::kInfo, "stopped");
  return kExitOk;
}

}  // namespace hearth::server
