#include "server/cli/serve_command.h"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/host_resources.h"
#include "engine/constraint/tokenizer_vocabulary.h"
#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "server/cli/model_loader.h"
#include "server/cli/model_path.h"
#include "server/cli/serve_setup.h"
#include "server/cli/shutdown_signals.h"
#include "server/config/server_config.h"
#include "server/grpc/grpc_server.h"
#include "server/grpc/health_service.h"
#include "server/grpc/hearth_service.h"
#include "server/http/api_service.h"
#include "server/http/http_server.h"
#include "server/metrics/metrics_endpoint.h"
#include "server/models/model_source.h"
#include "server/registry/model_registry.h"
#include "server/request/served_model.h"
#include "server/security/api_keys.h"
#include "server/security/tls_files.h"
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

}  // namespace

int RunServe(int argc, char** argv) {
  // Before any thread starts (threads inherit the blocked mask): SIGTERM / SIGINT stop a server
  // that is still starting at once, and drain one that serves; SIGHUP reloads api_keys_file.
  ShutdownSignals signals("hearth serve: stopped while starting");
  // A log written to a closed pipe must not kill the server (write() fails instead).
  ::signal(SIGPIPE, SIG_IGN);

  auto setup = LoadServeSetup(std::vector<std::string>(argv + 1, argv + argc));
  if (!setup.ok()) return Fail(kExitBadConfig, std::string(setup.status().message()));
  if (setup->args.help) {
    PrintHelp();
    return kExitOk;
  }
  ServerConfig& config = setup->loaded.config;
  g_log_level = config.log_level;
  // Every model: a file, or a model of Ollama's store (sha256-checked here, before anything
  // starts).
  std::vector<ServedModelPlan> plans;
  for (ModelConfig& m : config.ServedModels()) {
    if (m.model.empty()) m.model = DefaultModelPath();
    auto source =
        ResolveModelSource(m.model, *engine::model_store::ParseVerifyMode(config.ollama_verify));
    if (!source.ok()) return Fail(kExitStartFailed, std::string(source.status().message()));
    if (m.name.empty()) m.name = source->default_name;
    plans.push_back(ServedModelPlan{std::move(m), *std::move(source), {}, 0});
  }
  std::vector<ModelConfig> model_configs;
  for (const ServedModelPlan& p : plans) model_configs.push_back(p.config);
  if (absl::Status st = CheckModelNames(model_configs); !st.ok()) {
    return Fail(kExitBadConfig, std::string(st.message()));
  }
  PlanEngineConfigs(config, &plans);
  if (absl::Status st = plans.front().engine_config.Validate(); !st.ok()) {
    return Fail(kExitBadConfig, std::string(st.message()));
  }
  std::vector<std::string> model_names;
  for (const ServedModelPlan& p : plans) model_names.push_back(p.config.name);
  for (const std::string& line : DescribeConfig(setup->loaded)) {
    Log(LogLevel::kInfo, "config: " + line);
  }
  for (const ServedModelPlan& p : plans) {
    for (const std::string& line : p.source.log_lines) Log(LogLevel::kInfo, line);
  }
  // What automatic sizing sees (threads 0, kv_cache_bytes 0): container limits applied.
  Log(LogLevel::kInfo, common::DescribeCpus(common::InspectCpus()));
  const common::MemoryReport memory = common::InspectMemory();
  Log(LogLevel::kInfo, common::DescribeMemory(memory));

  auto tls =
      security::LoadTlsFiles(config.tls.cert_file, config.tls.key_file, config.tls.client_ca_file);
  if (!tls.ok()) return Fail(kExitBadConfig, std::string(tls.status().message()));
  auto keys = security::ApiKeys::Create(config.auth.api_keys, config.auth.api_keys_file);
  if (!keys.ok()) return Fail(kExitBadConfig, std::string(keys.status().message()));
  if ((*keys)->required()) {
    Log((*keys)->size() > 0 ? LogLevel::kInfo : LogLevel::kWarning,
        absl::StrCat("API keys required on every listener (", (*keys)->size(), " keys)"));
  }
  const char* const scheme = tls->enabled() ? "https" : "http";

  // Metrics first: /health answers (and /ready says "starting") while the model loads.
  std::unique_ptr<MetricsEndpoint> metrics;
  if (config.metrics.enabled) {
    MetricsAccess access{*tls, keys->get(), config.auth.protect_metrics,
                         config.auth.protect_health};
    auto endpoint = MetricsEndpoint::Start(config.metrics, model_names, access);
    if (!endpoint.ok()) {
      return Fail(absl::IsInvalidArgument(endpoint.status()) ? kExitBadConfig : kExitStartFailed,
                  std::string(endpoint.status().message()));
    }
    metrics = *std::move(endpoint);
  }

  ServingMetrics* serving = metrics ? &metrics->serving() : nullptr;
  // The registry: eager models load now, lazy ones on their first request.
  bool any_lazy = false;
  std::vector<RegistryEntrySpec> entries;
  for (const ServedModelPlan& p : plans) {
    RegistryEntrySpec e;
    e.name = p.config.name;
    e.aliases = p.config.aliases;
    e.lazy = p.config.lazy;
    any_lazy = any_lazy || p.config.lazy;
    const double keep = p.config.KeepAliveSeconds();
    e.keep_alive = keep < 0 ? absl::InfiniteDuration() : absl::Seconds(keep);
    e.estimated_bytes = p.file_bytes + std::max<int64_t>(p.engine_config.kv_cache.bytes, 0) +
                        p.engine_config.kv_cache.swap_space_bytes;
    e.facts.file_bytes = p.file_bytes;
    struct stat st;
    if (::stat(p.source.gguf_path.c_str(), &st) == 0) e.facts.created_unix = st.st_mtime;
    entries.push_back(std::move(e));
  }
  ModelRegistry::Options registry_options;
  registry_options.max_loaded_models = config.max_loaded_models;
  // The byte budget guides evictions, so it only applies when something loads on demand.
  registry_options.budget_bytes =
      config.models_memory_budget > 0 ? config.models_memory_budget
      : any_lazy ? static_cast<int64_t>(0.9 * static_cast<double>(memory.available))
                 : 0;
  // The start-up memory line: the process before any model plus each eager model's bound.
  const int64_t resident_without_models = common::ResidentBytes();
  auto models_resident = std::make_shared<std::atomic<int64_t>>(0);
  registry_options.loader =
      [&plans, &config, serving, models_resident](
          const RegistryEntrySpec& spec) -> absl::StatusOr<std::unique_ptr<LoadedModel>> {
    for (const ServedModelPlan& p : plans) {
      if (p.config.name != spec.name) continue;
      auto loaded =
          LoadServedModel(p, config, serving ? serving->Hooks(spec.name) : engine::EngineHooks{},
                          [](const std::string& line) { Log(LogLevel::kInfo, line); });
      if (loaded.ok()) *models_resident += (*loaded)->resident_bytes();
      return loaded;
    }
    return absl::InternalError("no such model");
  };
  registry_options.observer.on_loaded = [serving](const std::string& name, const LoadedModel&,
                                                  absl::Duration took) {
    Log(LogLevel::kInfo, absl::StrCat("model ", name, " loaded in ", absl::FormatDuration(took)));
    if (serving) serving->ObserveLoad(name, absl::ToDoubleSeconds(took));
  };
  registry_options.observer.on_load_failed = [serving](const std::string& name,
                                                       const absl::Status& error) {
    Log(LogLevel::kWarning, absl::StrCat("model ", name, " failed to load: ", error.message()));
    if (serving) serving->CountLoadFailure(name);
  };
  registry_options.observer.on_unloaded = [serving](const std::string& name, UnloadReason why) {
    Log(LogLevel::kInfo, absl::StrCat("model ", name, " unloaded (", UnloadReasonName(why), ")"));
    if (serving && why != UnloadReason::kShutdown)
      serving->CountUnload(name, UnloadReasonName(why));
  };
  auto registry = std::make_unique<ModelRegistry>(std::move(entries), std::move(registry_options));
  if (metrics) {
    const engine::EngineConfig& ec = plans.front().engine_config;
    ServingInfo info;
    info.version = kVersion;
    info.enable_prefix_caching = ec.scheduler.enable_prefix_caching;
    info.kv_cache_dtype = engine::KvDtypeName(ec.kv_cache.ResolvedDtype(ec.device.cpu_precision));
    const ModelRegistry* r = registry.get();
    serving->SetModelSource(
        [r](const ServingMetrics::ModelVisitor& visit) { r->ForEachModel(visit); }, info);
  }
  if (absl::Status st = registry->LoadEager(); !st.ok()) {
    if (metrics) metrics->Stop();
    registry.reset();
    return Fail(absl::IsInvalidArgument(st) ? kExitBadConfig : kExitStartFailed,
                std::string(st.message()));
  }
  const ModelResolver* resolver = registry.get();
  auto service = std::make_unique<HearthService>(resolver);
  service->SetStreamBufferLimit(config.max_stream_buffer_bytes);
  service->SetApiKeys(keys->get(), [serving] {
    if (serving) serving->CountUnauthenticated(Protocol::kGrpc);
  });
  if (serving) {
    service->SetGenerateFailureObserver([serving](grpc::StatusCode code, const std::string& model) {
      serving->CountFailure(code, Protocol::kGrpc, model);
    });
    service->SetSampleObserver(
        [serving](const engine::RequestOutput& out, const std::string& model) {
          serving->ObserveFinished(out, Protocol::kGrpc, model);
        });
  }
  HealthService health;
  if (config.auth.protect_health) {
    health.RequireKeys(keys->get(), [serving] {
      if (serving) serving->CountUnauthenticated(Protocol::kGrpc);
    });
  }
  auto server = GrpcServer::Start(config.listen_address, service.get(), *tls, &health,
                                  config.grpc_reflection);
  if (!server.ok()) {
    if (metrics) metrics->Stop();  // its scrape callbacks read the engines
    registry.reset();
    return Fail(kExitStartFailed, std::string(server.status().message()));
  }
  // The OpenAI / Ollama HTTP API.
  http::ApiServiceOptions api_options;
  api_options.models = resolver;
  api_options.keys = keys->get();
  api_options.protect_health = config.auth.protect_health;
  api_options.version = kVersion;
  api_options.max_stream_buffer_bytes = config.max_stream_buffer_bytes;
  if (serving) {
    api_options.on_sample_finished = [serving](const engine::RequestOutput& out, Protocol p,
                                               const std::string& model) {
      serving->ObserveFinished(out, p, model);
    };
    api_options.on_failure = [serving](absl::StatusCode code, Protocol p,
                                       const std::string& model) {
      serving->CountFailure(static_cast<grpc::StatusCode>(code), p, model);
    };
    api_options.on_unauthenticated = [serving](Protocol p) { serving->CountUnauthenticated(p); };
  }
  auto api = std::make_unique<http::ApiService>(std::move(api_options));
  std::unique_ptr<http::HttpServer> http_server;
  if (config.http.enabled) {
    http::HttpServerOptions o;
    o.name = "http";
    o.address = config.http.listen_address;
    o.port = config.http.port;
    o.max_connections = config.http.max_connections;
    o.max_body_bytes = static_cast<size_t>(config.http.max_body_bytes);
    o.max_header_bytes = static_cast<size_t>(config.http.max_header_bytes);
    o.request_timeout = absl::Seconds(config.http.request_timeout_seconds);
    o.num_threads = config.http.threads;
    o.tls = *tls;
    o.error_response = [](int status, const std::string& path, const std::string& message) {
      return http::ApiService::ServerError(status, path, message);
    };
    auto started = http::HttpServer::Start(
        std::move(o), [api = api.get()](http::HttpRequest& r) { return api->Handle(r); });
    if (!started.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      if (metrics) metrics->Stop();
      registry.reset();
      return Fail(kExitStartFailed, std::string(started.status().message()));
    }
    http_server = *std::move(started);
  }
  const std::string host = config.listen_address.substr(0, config.listen_address.rfind(':'));
  const char* const security_note = tls->mutual()    ? " (TLS, client certificates required)"
                                    : tls->enabled() ? " (TLS)"
                                                     : "";
  if (metrics) {
    metrics->SetPhase(ServingPhase::kServing);
    Log(LogLevel::kInfo, absl::StrCat("metrics on ", scheme, "://", config.metrics.listen_address,
                                      ":", metrics->port(), config.metrics.path,
                                      " (also /health, "
                                      "/ready)",
                                      security_note));
  }
  if (http_server) {
    Log(LogLevel::kInfo,
        absl::StrCat("http API on ", scheme, "://", config.http.listen_address, ":",
                     http_server->port(), " (OpenAI /v1, Ollama /api)", security_note));
  }
  Log(LogLevel::kInfo,
      absl::StrCat("host memory: up to ",
                   engine::HumanBytes(resident_without_models + models_resident->load()),
                   " resident (", engine::HumanBytes(resident_without_models),
                   " before loading models", any_lazy ? ", more as lazy models load" : "", ")"));
  Log(LogLevel::kInfo,
      absl::StrCat("gRPC listening on ", host, ":", (*server)->port(), security_note));

  signals.MarkServing();

  int signal_number = 0;
  while (true) {
    signal_number = signals.Wait();
    if (signal_number != SIGHUP) break;
    if (absl::Status st = (*keys)->Reload(); !st.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("SIGHUP: keeping the API keys in force: ", st.message()));
    } else {
      Log(LogLevel::kInfo, absl::StrCat("SIGHUP: API keys reloaded (", (*keys)->size(), " keys)"));
    }
  }
  const absl::Duration grace = absl::Seconds(config.shutdown_grace_period_seconds);
  (*server)->SetServing(false);
  if (metrics) metrics->SetPhase(ServingPhase::kDraining);
  service->StartDraining();
  api->StartDraining();
  auto in_flight = [&] { return service->active_streams() + api->active_streams(); };
  Log(LogLevel::kInfo,
      absl::StrCat("received ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT", ": draining ",
                   in_flight(), " streams (grace period ", absl::FormatDuration(grace), ")"));
  const absl::Time deadline = absl::Now() + grace;
  const bool idle = service->WaitIdle(grace) && api->WaitIdle(deadline - absl::Now());
  if (!idle) {
    Log(LogLevel::kWarning, absl::StrCat("grace period over: aborting ", in_flight(), " streams"));
    service->AbortAll();
    api->AbortAll();
    service->WaitIdle(absl::Seconds(5));
    api->WaitIdle(absl::Seconds(5));
  }
  // Requests still waiting for a model load fail now; their threads end before the listeners
  // they answer on go away.
  registry->Stop();
  service->WaitIdle(absl::Seconds(5));
  api->WaitIdle(absl::Seconds(5));
  http_server.reset();  // stops it and drops its connections, before the engine they abort into
  (*server)->Shutdown(absl::Seconds(1));
  if (metrics) metrics->Stop();  // before the engines its scrape callbacks read
  registry.reset();  // unloads every model: the last final outputs; reactors release themselves
  server->reset();
  service.reset();
  api.reset();
  Log(LogLevel::kInfo, "stopped");
  return kExitOk;
}

}  // namespace hearth::server
